"""A warehouse for the reports: a real sandbox ingest, real imported market history and
the worked-example sessions (tests/reports/sessions_support.py)."""

import shutil
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from shopper_pipelines.inventory.history_import import import_history
from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.reports.periods import midnight, today_utc
from shopper_pipelines.settings import PROJECT_ROOT, Settings, load_settings
from tests.reports.sessions_support import worked_example_sessions

MARKET_HISTORY = PROJECT_ROOT / "data" / "market" / "neocloud_gpu_price_history.csv"
HISTORY_WEEK_ENDING = date(2025, 11, 16)  # the last whole ISO week of that file


@dataclass(frozen=True)
class Filled:
    """A filled warehouse file, the UTC midnight its sessions were laid out from, and the
    worked example's day D (two days before)."""

    db_path: Path
    today: datetime

    @property
    def day(self) -> date:
        return (self.today - timedelta(days=2)).date()


@pytest.fixture(scope="session")
def filled_warehouse(sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Filled:
    db_path = tmp_path_factory.mktemp("reports") / "warehouse.duckdb"
    settings = load_settings(database_path=db_path, sandbox_url=sandbox_url, _env_file=None)
    outcomes = ingest(settings)
    assert {outcome.snapshot.status for outcome in outcomes} == {"ok"}
    import_history(db_path, MARKET_HISTORY)
    today = midnight(today_utc())
    worked_example_sessions(db_path, today)
    return Filled(db_path, today)


@pytest.fixture
def report_settings(filled_warehouse: Filled, tmp_path: Path) -> Settings:
    """Settings on a copy of the filled warehouse, with reports written under tmp_path."""
    db_path = tmp_path / "warehouse.duckdb"
    shutil.copy(filled_warehouse.db_path, db_path)
    wal = filled_warehouse.db_path.with_name(filled_warehouse.db_path.name + ".wal")
    if wal.exists():
        shutil.copy(wal, db_path.with_name(db_path.name + ".wal"))
    return load_settings(database_path=db_path, reports_dir=tmp_path / "reports", _env_file=None)
