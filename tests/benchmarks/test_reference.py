"""The published results as reference data: loaded once, reloaded only on change, and
always labelled `published`."""

import csv
import shutil
from decimal import Decimal

from shopper_pipelines.benchmarks import reference
from shopper_pipelines.benchmarks.analytics import list_results
from shopper_pipelines.benchmarks.reference import PUBLISHED_CSV, ensure_published
from shopper_pipelines.warehouse import connect


def _published(db_path):
    with connect(db_path, read_only=True) as con:
        return con.sql(
            "SELECT * FROM benchmark_results WHERE source = 'published' ORDER BY result_id"
        ).pl()


def _csv_rows():
    with PUBLISHED_CSV.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_ensure_published_loads_every_row_once(db_path):
    rows = _csv_rows()
    assert ensure_published(db_path) == len(rows)
    assert ensure_published(db_path) == 0
    reference._current.clear()  # a new process: the stored hash says it is current
    assert ensure_published(db_path) == 0
    frame = _published(db_path)
    assert frame.height == len(rows)
    assert set(frame["source"]) == {"published"}
    assert frame["result_id"].n_unique() == len(rows)
    assert frame["measured_at"].null_count() == len(rows)


def test_published_rows_take_the_mean_of_low_and_high(db_path):
    """RTX 4090 on Vast for deepseek-r1:14b: $0.08-0.32/h and 94-97 tok/s in the CSV,
    so (0.08 + 0.32) / 2 = $0.20/h and (94 + 97) / 2 = 95.5 tok/s, range kept."""
    ensure_published(db_path)
    frame = _published(db_path)
    row = frame.filter(
        (frame["gpu_model"] == "RTX 4090")
        & (frame["provider"] == "vastai")
        & (frame["model"] == "deepseek-r1:14b")
    ).to_dicts()
    assert len(row) == 1
    assert row[0]["price_per_hour"] == Decimal("0.200000")
    assert (row[0]["tokens_per_second"], row[0]["tps_min"], row[0]["tps_max"]) == (95.5, 94, 97)
    assert row[0]["note"] == "benchmark matrix"


def test_published_gpu_names_are_canonical(db_path):
    ensure_published(db_path)
    frame = _published(db_path)
    a100 = frame.filter(frame["gpu_name_raw"] == "A100 80GB").to_dicts()
    assert {row["gpu_model"] for row in a100} == {"A100"}
    assert {row["vram_gb"] for row in a100} == {80.0}


def test_changed_reference_file_replaces_the_published_rows(db_path, tmp_path):
    copy = tmp_path / "published_benchmarks.csv"
    shutil.copy(PUBLISHED_CSV, copy)
    assert ensure_published(db_path, copy) == len(_csv_rows())
    lines = copy.read_text().splitlines()
    copy.write_text("\n".join(lines[:3]) + "\n")  # header + 2 rows
    assert ensure_published(db_path, copy) == 2
    assert _published(db_path).height == 2
    assert ensure_published(db_path, copy) == 0


def test_the_two_dollars_78_row_is_published_and_labelled(db_path):
    """The single-node stress test row: RTX 4090, 44 tok/s at $0.44/h.
    44 × 3600 = 158,400 tokens/h; $0.44 ÷ 158,400 × 1,000,000 = $2.78 per M tokens."""
    frame = list_results(db_path, model="deepseek-r1:32b", gpu="RTX 4090", source="published")
    row = frame.filter(frame["tokens_per_second"] == 44.0).to_dicts()
    assert len(row) == 1
    assert row[0]["source"] == "published"
    assert round(row[0]["dollars_per_m_tokens"], 2) == 2.78
