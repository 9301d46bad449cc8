"""Benchmarks: print figures, assert only that the work was done (never a timing).

Run alone with `uv run pytest tests/perf -s`; the figures are recorded in the README.
References measured in the same run: parsing the 10,000-offer Vast response for ingest,
the in-process search for the CLI.
"""

import json
import os
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from shopper_pipelines.inventory import service
from shopper_pipelines.inventory.history_import import import_history
from shopper_pipelines.inventory.normalize import normalise
from shopper_pipelines.inventory.search import OfferFilters, price_history, search_offers
from shopper_pipelines.sandbox.market import Market
from shopper_pipelines.settings import load_settings
from shopper_pipelines.warehouse import connect

pytestmark = pytest.mark.perf
REPO = Path(__file__).resolve().parents[2]
RUNS = 5
OFFERS = 10_000


def _median_s(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:8.1f} ms"


def _report(capsys, title: str, rows: list[tuple[str, str]]) -> None:
    with capsys.disabled():
        print(f"\n== {title}")
        for name, value in rows:
            print(f"   {name:<48} {value}")


def _ingest(db_path: Path, body: bytes, at: datetime) -> None:
    """What one scheduled ingest does after the HTTP round trips, through the real code."""
    settings = load_settings(database_path=db_path)
    with service._gc_paused():  # as the client's fetch runs under it
        records = orjson.loads(body)["offers"]
    service.stage_records(settings, "vastai", records, source="sandbox", started_at=at)
    service.merge_provider(settings, "vastai")


def test_bench_ingest_10k_vast_offers_against_parse(tmp_path, capsys):
    market = Market(seed=3, vast_offer_count=OFFERS)
    bodies = [orjson.dumps({"offers": market.vast_offers(tick)}) for tick in (0, 1)]
    count = len(orjson.loads(bodies[0])["offers"])
    assert count >= OFFERS * 0.95

    parse_orjson, parse_json, first, steady = [], [], [], []
    for run in range(RUNS):
        started = time.perf_counter()
        orjson.loads(bodies[0])
        parse_orjson.append(time.perf_counter() - started)
        started = time.perf_counter()
        json.loads(bodies[0])
        parse_json.append(time.perf_counter() - started)

        db_path = tmp_path / f"run{run}.duckdb"
        with connect(db_path):  # migrations are not part of an ingest
            pass
        at = datetime(2026, 12, 4, tzinfo=UTC)
        started = time.perf_counter()
        _ingest(db_path, bodies[0], at)
        first.append(time.perf_counter() - started)
        started = time.perf_counter()
        _ingest(db_path, bodies[1], at + timedelta(minutes=5))
        steady.append(time.perf_counter() - started)

    with connect(db_path, read_only=True) as con:
        stored = con.execute("SELECT count(*) FROM offers_current").fetchone()
    assert stored is not None and stored[0] > OFFERS * 0.9

    tracemalloc.start()
    batch = normalise("vastai", orjson.loads(bodies[0])["offers"], disk_gb=100)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(batch.offers) == stored[0]

    parse = statistics.median(parse_orjson)
    _report(
        capsys,
        f"ingest of a {count:,}-offer Vast snapshot ({len(bodies[0]) / 1e6:.1f} MB JSON), "
        f"median of {RUNS}, {os.cpu_count()} cores",
        [
            ("parse only (orjson, what the client uses)", _median_s(parse_orjson)),
            ("parse only (stdlib json, for reference)", _median_s(parse_json)),
            ("first ingest: parse+normalise+stage+merge", _median_s(first)),
            ("steady ingest one tick later", _median_s(steady)),
            ("first ingest / orjson parse", f"{statistics.median(first) / parse:8.1f} x"),
            ("first ingest / stdlib json parse",
             f"{statistics.median(first) / statistics.median(parse_json):8.1f} x"),
            ("python peak while parsing + normalising", f"{peak / 1e6:8.1f} MB"),
        ],
    )  # fmt: skip


def test_bench_inventory_end_to_end(tmp_path, sandbox_url, capsys):
    from shopper_pipelines.inventory.service import ingest
    from shopper_pipelines.settings import load_settings

    db_path = tmp_path / "w.duckdb"
    ingest(load_settings(database_path=db_path, sandbox_url=sandbox_url))
    filters = OfferFilters(gpu="RTX 4090", max_price=0.5)

    in_process = []
    for _ in range(RUNS):
        started = time.perf_counter()
        result = search_offers(db_path, filters)
        in_process.append(time.perf_counter() - started)
    assert result.total > 0

    env = {**os.environ, "DATABASE_PATH": str(db_path), "SANDBOX_URL": sandbox_url}
    argv = [sys.executable, "-m", "shopper_pipelines.cli.main", "inventory", "-g", "RTX 4090",
            "--max-price", "0.5", "-o", "json"]  # fmt: skip
    cli = []
    for _ in range(RUNS):
        started = time.perf_counter()
        out = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, check=True)
        cli.append(time.perf_counter() - started)
    assert orjson.loads(out.stdout)["total"] == result.total

    _report(
        capsys,
        f"inventory -g 'RTX 4090' --max-price 0.5 ({result.total} matches), median of {RUNS}",
        [
            ("search_offers in process (warm)", _median_s(in_process)),
            ("gpu-shopper inventory as a new process", _median_s(cli)),
        ],
    )


def test_bench_hourly_minimum_over_90_days(tmp_path, capsys):
    db_path = tmp_path / "w.duckdb"
    result = import_history(db_path, REPO / "data" / "market" / "neocloud_gpu_price_history.csv")
    assert result.last is not None

    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        points = price_history(
            db_path, "H100 SXM", since=timedelta(days=90), bucket="hour", now=result.last
        )
        timings.append(time.perf_counter() - started)
    assert len(points) > 500  # 957 half-hourly snapshots over 27 days, with gaps

    _report(
        capsys,
        f"hourly minimum of H100 SXM over 90 days ({result.points_loaded:,} imported points)",
        [("price_history(bucket='hour', since=90d)", _median_s(timings)),
         ("hourly buckets returned", f"{len(points):8d}")],
    )  # fmt: skip
