"""The only place that opens DuckDB.

DuckDB lets one process hold a file read-write, and a writer locks out readers too, so
every unit of work opens a short-lived connection, runs its statements and closes.
Opening retries lock conflicts with jittered backoff up to a bound, then raises
WarehouseBusyError naming the bound. Migrations run on the first write open per file.
"""

import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from shopper_pipelines.errors import WarehouseBusyError, WarehouseError, WarehouseMissingError
from shopper_pipelines.warehouse.migrations import apply_migrations

logger = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT_S = 15.0
_FIRST_BACKOFF_S = 0.02
_MAX_BACKOFF_S = 0.5
# Another process holds the file; or, inside this process, another thread holds it open
# with the other read-only/read-write configuration, which DuckDB refuses the same way.
_LOCK_MARKERS = (
    "could not set lock",
    "conflicting lock",
    "database is locked",
    "different configuration",
)

# Files migrated by this process, by identity: a warehouse deleted and created anew at the
# same path (new inode) is migrated again rather than trusted to have tables.
_migrated: set[tuple[Path, int, int]] = set()
_migrate_lock = threading.Lock()


def _identity(path: Path) -> tuple[Path, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (path, stat.st_dev, stat.st_ino)


def _is_lock_error(error: Exception) -> bool:
    text = str(error).lower()
    return any(marker in text for marker in _LOCK_MARKERS)


def _open(path: Path, read_only: bool, timeout_s: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout_s
    backoff = _FIRST_BACKOFF_S
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException) as error:
            if not _is_lock_error(error):
                raise WarehouseError(
                    f"DATABASE_PATH={path}: cannot open the warehouse: {error}"
                ) from None
            if time.monotonic() >= deadline:
                raise WarehouseBusyError(
                    f"warehouse {path} stayed locked by another process for "
                    f"{timeout_s:.0f}s (WAREHOUSE_LOCK_TIMEOUT_S); try again shortly"
                ) from None
            time.sleep(backoff * (0.5 + random.random()))
            backoff = min(backoff * 2, _MAX_BACKOFF_S)


def ensure_schema(path: Path, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
    """Create the file and apply pending migrations, once per process and file."""
    resolved = path.resolve()
    if _identity(resolved) in _migrated:
        return
    with _migrate_lock:
        if _identity(resolved) in _migrated:
            return
        try:
            resolved.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WarehouseError(
                f"DATABASE_PATH={path}: cannot create its folder: {error.strerror}"
            ) from None
        con = _open(resolved, read_only=False, timeout_s=timeout_s)
        try:
            applied = apply_migrations(con)
        finally:
            con.close()
        if applied:
            logger.info("warehouse %s: applied migrations %s", resolved, applied)
        identity = _identity(resolved)
        if identity is not None:
            _migrated.add(identity)


@contextmanager
def connect(
    path: Path, *, read_only: bool = False, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S
) -> Iterator[duckdb.DuckDBPyConnection]:
    """One unit of work on the warehouse: open, yield, close (commit is the caller's).

    A read never creates the file: reading a warehouse that does not exist yet raises
    WarehouseMissingError with what to run first.
    """
    if read_only and not path.is_file():
        raise WarehouseMissingError(
            f"no warehouse at {path} yet; run `gpu-shopper ingest` (or `gpu-shopper up`) first"
        )
    ensure_schema(path, timeout_s)
    con = _open(path.resolve(), read_only=read_only, timeout_s=timeout_s)
    try:
        yield con
    finally:
        con.close()
