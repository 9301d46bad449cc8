"""DuckDB access: short-lived connections with lock retry, and numbered migrations."""

from shopper_pipelines.warehouse.connection import connect, ensure_schema

__all__ = ["connect", "ensure_schema"]
