"""Dagster resources shared by every capability's `defs.py`."""

from pathlib import Path

from dagster import ConfigurableResource

from shopper_pipelines.settings import Settings, load_settings


class ShopperSettings(ConfigurableResource):
    """The workspace settings, read from the environment and `.env` inside the run.

    Provider keys are optional (a provider without one is skipped), so they are read
    from the environment by `Settings` rather than wired as `EnvVar`s, which Dagster
    requires to be set; either way they never enter run config. Only non-secret
    overrides are configurable here.
    """

    database_path: str | None = None

    def load(self) -> Settings:
        overrides = {"database_path": Path(self.database_path)} if self.database_path else {}
        return load_settings(**overrides)


# One instance shared by every capability's Definitions, so they merge.
RESOURCES = {"shopper": ShopperSettings()}
