"""`gpu-shopper costs` and `budgets` as a user runs them: a real process, a real warehouse."""

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from shopper_pipelines.sessions.models import Status
from tests.costs.ledger_support import Billed, insert

REPO = Path(__file__).resolve().parents[2]
D = Decimal


def _at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 1, day, hour, minute, tzinfo=UTC)


def run_cli(env, *args):
    return subprocess.run([sys.executable, "-m", "shopper_pipelines.cli.main", *args], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """January 2026, by hand:
    a  alice vastai RTX 4090 x4, Jan 10 09:00-09:45 at $2.40/h          = $1.80
    b  alice vastai RTX 4090, Jan 12 10:00-11:00, $1.00 then $1.50 at :20 = $1.333333
    c  bob tensordock A100, Jan 31 22:30 - Feb 1 01:15 at $1.20/h        = $3.30
       (Jan 31 1.5 h = $1.80, Feb 1 1.25 h = $1.50)
    Total $6.433333 -> $6.43; vastai $3.13, tensordock $3.30; 0.75 + 1 + 2.75 = 4.5 hours.
    Plus r, carol, running since 2 h ago at $0.50/h (about $1.00 so far, this month)."""
    db = tmp_path_factory.mktemp("costs-cli") / "w.duckdb"
    now = datetime.now(UTC)
    insert(db, [
        Billed("a", "alice", _at(10, 9), [(_at(10, 9), D("2.40"), "on_demand")],
               end=_at(10, 9, 45), gpu_count=4),
        Billed("b", "alice", _at(12, 10), [(_at(12, 10), D("1.00"), "on_demand"),
                                           (_at(12, 10, 20), D("1.50"), "on_demand")],
               end=_at(12, 11)),
        Billed("c", "bob", _at(31, 22, 30), [(_at(31, 22, 30), D("1.20"), "on_demand")],
               end=datetime(2026, 2, 1, 1, 15, tzinfo=UTC), provider="tensordock",
               gpu_model="A100 SXM4 80GB"),
        Billed("r", "carol", now - timedelta(hours=2),
               [(now - timedelta(hours=2), D("0.50"), "on_demand")], status=Status.RUNNING),
    ])  # fmt: skip
    environment = {k: v for k, v in os.environ.items() if not k.endswith(("_KEY", "_TOKEN"))}
    environment["DATABASE_PATH"] = str(db)
    return environment


def test_costs_table_like_the_original_readme(env):
    result = run_cli(env, "costs", "--start", "2026-01-01", "--end", "2026-02-28")
    assert result.returncode == 0, result.stderr
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert "Total Cost:    $6.43" in lines and "Sessions:      3" in lines
    assert "Hours Used:    4.5" in lines
    provider = lines.index("By Provider:")
    assert lines[provider + 1].split() == ["tensordock", "$3.30"]
    assert lines[provider + 2].split() == ["vastai", "$3.13"]
    gpus = lines.index("By GPU Type:")
    assert lines[gpus + 1].split() == ["A100", "SXM4", "80GB", "$3.30"]


def test_costs_json_money_is_a_6dp_number_and_a_cents_string(env):
    result = run_cli(env, "costs", "-c", "alice", "-p", "daily", "-o", "json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["total"]["cost"] == 3.133333 and summary["total"]["cost_cents"] == "3.13"
    assert [(p["period"], p["cost_cents"]) for p in summary["by_period"]] == [
        ("2026-01-10", "1.80"), ("2026-01-12", "1.33")]  # fmt: skip


def test_costs_monthly_splits_at_the_month_end_in_utc(env):
    result = run_cli(env, "costs", "-c", "bob", "-p", "monthly", "-o", "json")
    periods = json.loads(result.stdout)["by_period"]
    assert [(p["period"], p["cost"]) for p in periods] == [("2026-01-01", 1.8),
                                                           ("2026-02-01", 1.5)]  # fmt: skip
    table = run_cli(env, "costs", "-c", "bob", "-p", "monthly").stdout
    assert "2026-01" in table and "$1.80" in table and "$1.50" in table


def test_costs_session_breakdown_shows_segments(env):
    result = run_cli(env, "costs", "-s", "b", "-o", "json")
    bill = json.loads(result.stdout)
    assert bill["cost_cents"] == "1.33"
    assert [(s["price_per_hour"], s["cost_cents"]) for s in bill["segments"]] == [
        (1.0, "0.33"), (1.5, "1.00")]  # fmt: skip
    table = run_cli(env, "costs", "-s", "b").stdout
    assert "Segments (UTC)" in table and "$1.33" in table


def test_running_sessions_are_included_so_far(env):
    summary = json.loads(run_cli(env, "costs", "-c", "carol", "-o", "json").stdout)
    assert summary["total"]["running"] == 1
    assert 0.99 < summary["total"]["cost"] < 1.05  # 2 h at $0.50, plus the test's own time


def test_costs_summary_this_and_last_month_per_consumer_with_budgets(env):
    assert run_cli(env, "budgets", "set", "carol", "--monthly", "50").returncode == 0
    result = run_cli(env, "costs", "summary", "-c", "carol", "-o", "json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    [carol] = payload["consumers"]
    assert carol["budget_usd_cents"] == "50.00" and carol["action"] == "warn"
    assert 0.99 < carol["this_month"] + carol["last_month"] < 1.05
    assert "carol" in run_cli(env, "costs", "summary").stdout


def test_budgets_set_list_delete(env):
    assert run_cli(env, "budgets", "set", "alice", "--monthly", "10", "--thresholds", "80,100",
                   "--action", "refuse").returncode == 0  # fmt: skip
    assert run_cli(env, "budgets", "set", "--global", "--monthly", "1000").returncode == 0
    listed = json.loads(run_cli(env, "budgets", "list", "-o", "json").stdout)["budgets"]
    by_name = {b["consumer"]: b for b in listed}
    assert by_name["alice"]["thresholds"] == [80, 100] and by_name["alice"]["action"] == "refuse"
    assert by_name["*"]["global"] and by_name["*"]["monthly_usd_cents"] == "1000.00"
    assert "(global)" in run_cli(env, "budgets", "list").stdout
    assert run_cli(env, "budgets", "delete", "alice").returncode == 0
    assert run_cli(env, "budgets", "delete", "--global").returncode == 0
    names = {b["consumer"] for b in json.loads(run_cli(env, "budgets", "list", "-o", "json")
                                               .stdout)["budgets"]}  # fmt: skip
    assert "alice" not in names and "*" not in names


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("costs", "--start", "2026-02-30"), "--start must be a date YYYY-MM-DD, got '2026-02-30'"),
        (("costs", "--end", "31/01/2026"), "--end must be a date YYYY-MM-DD, got '31/01/2026'"),
        (
            ("costs", "--start", "2026-02-02", "--end", "2026-02-01"),
            "--start 2026-02-02 is after --end 2026-02-01",
        ),
        (("costs", "-p", "weekly"), "--period must be daily or monthly, got 'weekly'"),
        (("costs", "-s", "nope"), "no session with id 'nope'"),
        (("budgets", "set", "x", "--monthly", "abc"), "--monthly must be an amount in USD"),
        (("budgets", "set", "x", "--monthly", "5", "--thresholds", "80,50"), "ascending"),
        (("budgets", "set", "x", "--monthly", "5", "--action", "nuke"), "got 'nuke'"),
        (("budgets", "set", "--monthly", "5"), "give exactly one of CONSUMER or --global"),
        (("budgets", "delete", "nobody"), "CONSUMER 'nobody' has no budget"),
    ],
)
def test_bad_input_exits_2_naming_the_flag_and_value(env, args, message):
    result = run_cli(env, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_costs_before_any_warehouse_says_what_to_run(tmp_path, env):
    result = run_cli({**env, "DATABASE_PATH": str(tmp_path / "none.duckdb")}, "costs")
    assert result.returncode == 1 and "gpu-shopper ingest" in result.stderr


def test_budgets_set_keeps_options_not_given(env):
    """Bug: `budgets set demo --monthly 1 --thresholds 150` reset action refuse to warn."""
    assert run_cli(env, "budgets", "set", "demo", "--monthly", "1", "--action",
                   "refuse").returncode == 0  # fmt: skip
    changed = run_cli(env, "budgets", "set", "demo", "--monthly", "1", "--thresholds", "150")
    assert changed.returncode == 0, changed.stderr
    assert "alerts at 150%, action refuse" in changed.stdout
    listed = json.loads(run_cli(env, "budgets", "list", "-o", "json").stdout)["budgets"]
    [demo] = [b for b in listed if b["consumer"] == "demo"]
    assert (demo["thresholds"], demo["action"], demo["monthly_usd_cents"]) == ([150], "refuse",
                                                                             "1.00")  # fmt: skip
    assert "keep the existing" in " ".join(run_cli(env, "budgets", "set", "--help").stdout.split())
    new = run_cli(env, "budgets", "set", "nobody-yet", "--action", "stop")
    assert new.returncode == 2 and "--monthly is required for a new budget" in new.stderr
    assert run_cli(env, "budgets", "delete", "demo").returncode == 0


def test_session_bill_refuses_filters_it_would_ignore(env):
    """Bug: `costs -s ID -c nobody --end 2026-12-03` silently ignored -c and --end."""
    result = run_cli(env, "costs", "-s", "b", "-c", "nobody", "--end", "2026-12-03")
    assert result.returncode == 2, result.stdout
    message = " ".join(result.stderr.split())
    assert "-s/--session 'b' cannot be combined with -c/--consumer, --end" in message
    assert "Traceback" not in result.stderr


def test_projected_overrun_state_and_extend_refused_by_budget(env):
    """Bugs: `budgets list` said STATE ok with PROJECTED over the budget, and `sessions
    extend` took no budget check. carol's r: about 2 h at $0.50 = $1.00 spent, 12 h
    reserved = about $6.00 projected, over a $5.00 budget; extending by 1 h ($0.50) is
    refused with exit 1 and the expiry is unchanged."""
    assert run_cli(env, "budgets", "set", "carol", "--monthly", "5", "--action",
                   "refuse").returncode == 0  # fmt: skip
    try:
        listed = json.loads(run_cli(env, "budgets", "list", "-o", "json").stdout)["budgets"]
        [carol] = [b for b in listed if b["consumer"] == "carol"]
        assert carol["percent"] < 100 and carol["state"] == "over (projected)"
        wide = run_cli({**env, "COLUMNS": "200"}, "budgets", "list").stdout
        assert "over (projected)" in wide
        before = json.loads(run_cli(env, "sessions", "get", "r", "-o", "json").stdout)
        result = run_cli(env, "sessions", "extend", "r", "-t", "1", "--override-hard-max")
        assert result.returncode == 1, result.stdout + result.stderr
        message = " ".join(result.stderr.split())
        assert "carol's budget for" in message and "extending r by 1 h $0.50" in message
        assert "r was not extended" in message
        after = json.loads(run_cli(env, "sessions", "get", "r", "-o", "json").stdout)
        assert after["expires_at"] == before["expires_at"] and after["expires_at"]
    finally:
        run_cli(env, "budgets", "delete", "carol")
