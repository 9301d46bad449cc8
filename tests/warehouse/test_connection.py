import subprocess
import sys
import time

import pytest

from shopper_pipelines.errors import WarehouseBusyError
from shopper_pipelines.warehouse import connect

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
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (2,)
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
