import subprocess
import sys
import time

import pytest

from shopper_pipelines.errors import WarehouseBusyError
from shopper_pipelines.warehouse import connect
from shopper_pipelines.warehouse.migrations import MIGRATIONS

HOLD = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


def _hold_lock(path, seconds):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_connect_waits_out_another_process_lock(db_path):
    with connect(db_path) as con:  # create and migrate first
        con.execute("SELECT 1")
    holder = _hold_lock(db_path, 1.0)
    started = time.monotonic()
    with connect(db_path, read_only=True, timeout_s=20) as con:
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (
            len(MIGRATIONS),
        )
    holder.wait()
    assert time.monotonic() - started >= 0.5


def test_connect_gives_up_with_warehouse_busy_naming_the_bound(db_path):
    with connect(db_path) as con:
        con.execute("SELECT 1")
    holder = _hold_lock(db_path, 5.0)
    try:
        with (
            pytest.raises(WarehouseBusyError, match=r"locked by another process for 1s"),
            connect(db_path, timeout_s=1.0),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()


def test_a_warehouse_recreated_at_the_same_path_is_migrated_again(db_path):
    """Bug: the once-per-process migration cache was keyed by path only, so a warehouse
    deleted and created anew under a running process (the app, Dagster) had no tables."""
    with connect(db_path) as con:
        con.execute("SELECT 1")
    db_path.unlink()
    with connect(db_path) as con:
        tables = {
            row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
    assert {"sessions", "offer_history", "schema_migrations"} <= tables
