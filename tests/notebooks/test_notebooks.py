"""The analysis notebooks, executed top to bottom with nbclient on a real warehouse."""

import re
from pathlib import Path

import nbformat
import pytest

from shopper_pipelines.costs.budgets import set_budget
from shopper_pipelines.inventory.history_import import import_history
from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.reports.periods import midnight, today_utc
from shopper_pipelines.settings import load_settings
from shopper_pipelines.warehouse import connect
from tests.notebooks.notebook_support import (
    NOTEBOOKS,
    execute_notebook,
    mimetypes,
    output_text,
    tagged,
)
from tests.reports.conftest import MARKET_HISTORY
from tests.reports.sessions_support import worked_example_sessions


@pytest.fixture(scope="module")
def warehouse(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sandbox ingest, the real neocloud history, the worked-example sessions and a
    $10 budget for carol (who still runs)."""
    db_path = tmp_path_factory.mktemp("notebooks") / "warehouse.duckdb"
    settings = load_settings(database_path=db_path, sandbox_url=sandbox_url, _env_file=None)
    assert {o.snapshot.status for o in ingest(settings)} == {"ok"}
    import_history(db_path, MARKET_HISTORY)
    worked_example_sessions(db_path, midnight(today_utc()))
    set_budget(db_path, "carol", "10", thresholds=(50, 80, 100), action="warn")
    return db_path


@pytest.mark.parametrize("name", ["price_history.ipynb", "costs.ipynb"])
def test_committed_notebooks_have_no_outputs(name: str):
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_price_history_notebook(warehouse: Path, tmp_path: Path):
    notebook = execute_notebook("price_history.ipynb", warehouse, tmp_path / "run")

    assert str(warehouse) in output_text(tagged(notebook, "setup"))
    with connect(warehouse, read_only=True) as con:
        models = {
            row[0]
            for row in con.execute("SELECT DISTINCT gpu_model FROM gpu_price_points").fetchall()
        }
        two_providers = {
            row[0]
            for row in con.execute(
                "SELECT gpu_model FROM gpu_price_points WHERE source = 'snapshot'"
                " GROUP BY gpu_model HAVING count(DISTINCT provider) > 1"
            ).fetchall()
        }
    coverage = output_text(tagged(notebook, "coverage"))
    assert f"{len(models)} GPU models priced" in coverage
    assert "import:neocloud, snapshot" in coverage  # H100 SXM: imported and ingested
    history = output_text(tagged(notebook, "history"))
    assert "H100 SXM:" in history and "neocloud" in history and "vastai" in history
    assert "image/png" in mimetypes(tagged(notebook, "chart"))
    spread = output_text(tagged(notebook, "spread"))
    listed = set(re.findall(r"^(\S.*?)\s+\d{4}-\d\d-\d\d  ", spread, re.M))
    assert listed == two_providers and "RTX 4090" in listed


def test_costs_notebook(warehouse: Path, tmp_path: Path):
    """Worked example (tests/reports/sessions_support.py), inside the last 30 days:
    alice $1.00, bob $4.80 + $4.80 = $9.60 over midnight, dave $0.90; carol still runs at
    $1.00/h since 21:00 yesterday, so her figure depends on the clock."""
    notebook = execute_notebook("costs.ipynb", warehouse, tmp_path / "run")

    summary = output_text(tagged(notebook, "summary"))
    assert re.search(r"^  bob +\$ +9\.60 +4\.0 h  1 sessions$", summary, re.M), summary
    assert re.search(r"^  alice +\$ +1\.00 +2\.0 h  1 sessions$", summary, re.M)
    assert re.search(r"^  dave +\$ +0\.90 +3\.0 h  1 sessions$", summary, re.M)
    assert re.search(r"^  H100 SXM +\$ +9\.60 ", summary, re.M)
    assert "1 billing now" in summary
    assert "carol" in output_text(tagged(notebook, "per_day"))
    assert "image/png" in mimetypes(tagged(notebook, "chart"))
    assert re.search(r"^│ H100 SXM +┆ 9\.6 ", output_text(tagged(notebook, "by_gpu")), re.M)
    running = output_text(tagged(notebook, "running"))
    assert running.startswith("billing now: 1 sessions, $1.00/h together")
    assert "sess-carol" in running
    budgets = output_text(tagged(notebook, "budgets"))
    assert re.search(r"carol +\$[\d.]+ of \$10\.00 \([\d.]+%\)", budgets), budgets
    assert "vastai" in output_text(tagged(notebook, "sql"))
