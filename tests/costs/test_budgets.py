"""Budgets, their status, the provision check and alerts, on a real warehouse file."""

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from shopper_pipelines.costs.alerts import (
    list_alerts,
    post_webhook,
    send_budget_alerts,
    sessions_to_stop,
)
from shopper_pipelines.costs.budgets import (
    BudgetExceededError,
    budget_status,
    check_provision,
    delete_budget,
    list_budgets,
    parse_thresholds,
    set_budget,
)
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.sessions.models import Status
from tests.costs.ledger_support import Billed, insert
from tests.costs.webhook_support import webhook_server

D = Decimal
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def spent_db(db_path):
    """alice: a finished session on Mar 2, 10 h at $0.50 = $5.00, one last month (Feb 27,
    2 h at $1.00 = $2.00, not this month), and one running since 10:00 at $1.00/h
    ($2.00 by NOW, reservation 4 h: $2.00 more to come). bob: 1 h at $3.00 on Mar 3.
    alice this month: 5.00 + 2.00 = $7.00; projected 9.00. Everyone: $10.00."""
    t = datetime(2026, 3, 2, 8, tzinfo=UTC)
    feb = datetime(2026, 2, 27, 8, tzinfo=UTC)
    run = datetime(2026, 3, 15, 10, tzinfo=UTC)
    bob = datetime(2026, 3, 3, 8, tzinfo=UTC)
    insert(db_path, [
        Billed("a1", "alice", t, [(t, D("0.50"), "on_demand")], end=t + timedelta(hours=10)),
        Billed("a0", "alice", feb, [(feb, D("1.00"), "on_demand")], end=feb + timedelta(hours=2)),
        Billed("a2", "alice", run, [(run, D("1.00"), "on_demand")], status=Status.RUNNING,
               hours=4),
        Billed("b1", "bob", bob, [(bob, D("3.00"), "on_demand")], end=bob + timedelta(hours=1)),
    ])  # fmt: skip
    return db_path


def test_set_list_delete_and_the_global_budget(db_path):
    set_budget(db_path, "alice", "20", action="refuse", now=NOW)
    updated = set_budget(db_path, "alice", "25.50", thresholds=(80, 100), action="stop")
    set_budget(db_path, "*", 100)
    assert [
        (b.consumer_id, b.monthly_usd, b.thresholds, b.action) for b in list_budgets(db_path)
    ] == [("*", D("100.00"), (50, 80, 100), "warn"), ("alice", D("25.50"), (80, 100), "stop")]
    assert updated.created_at == NOW  # replaced, not re-created
    delete_budget(db_path, "alice")
    assert [b.consumer_id for b in list_budgets(db_path)] == ["*"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda db: set_budget(db, "alice", "ten"),
            "--monthly must be an amount in USD, got 'ten'",
        ),
        (lambda db: set_budget(db, "alice", "0"), "--monthly must be more than 0"),
        (lambda db: set_budget(db, "alice", "1.234"), "at most 2 decimal places"),
        (lambda db: set_budget(db, "alice", "5", action="kill"), "--action must be warn, refuse"),
        (lambda db: set_budget(db, "al ice", "5"), "CONSUMER takes up to 64"),
        (lambda db: delete_budget(db, "nobody"), "CONSUMER 'nobody' has no budget"),
        (lambda db: parse_thresholds("80,50"), "ascending without repeats, got '80,50'"),
        (lambda db: parse_thresholds("50,x"), "whole percentages separated by commas"),
        (lambda db: parse_thresholds("0,100"), "must each be 1-1000"),
    ],
)
def test_bad_budget_input_names_the_field_and_value(db_path, call, message):
    with pytest.raises(InvalidInputError, match=message.replace(".", r"\.").replace("(", r"\(")):
        call(db_path)


def test_status_spend_projection_and_thresholds(spent_db):
    """alice $7.00 of $10.00 = 70 %: 50 crossed, 80 not; projected $9.00.
    Global $10.00 of $20 = 50 %."""
    set_budget(spent_db, "alice", "10", action="refuse")
    set_budget(spent_db, "*", "20")
    statuses = {s["consumer"]: s for s in budget_status(spent_db, NOW)}
    alice = statuses["alice"]
    assert (alice["spend_usd"], alice["projected_usd"]) == (D("7.000000"), D("9.000000"))
    assert (alice["percent"], alice["crossed"], alice["state"]) == (70.0, [50], "warning")
    assert statuses["*"]["spend_usd"] == D("10.000000") and statuses["*"]["crossed"] == [50]


def test_provision_check_refuses_with_spend_projection_and_budget(spent_db):
    """alice has spent $7.00 and her running a2 is committed to $2.00 more; 4 h at $0.80
    = $3.20 -> $12.20 > $10.00: refused. 1 h at $0.80 -> $9.80: allowed."""
    set_budget(spent_db, "alice", "10", action="refuse")
    with pytest.raises(BudgetExceededError) as refused:
        check_provision(spent_db, "alice", 0.80, 4, NOW)
    text = str(refused.value)
    assert "spent $7.00 so far" in text and "+ $2.00 committed by 1 live session" in text
    assert "projected cost $3.20" in text and "= $12.20" in text
    assert "monthly budget $10.00" in text and "nothing was rented" in text
    check_provision(spent_db, "alice", 0.80, 1, NOW)
    check_provision(spent_db, "bob", 100, 12, NOW)  # bob has no budget


def test_warn_budget_only_logs(spent_db, caplog):
    set_budget(spent_db, "alice", "10", action="warn")
    with caplog.at_level(logging.WARNING):
        check_provision(spent_db, "alice", 0.80, 4, NOW)
    assert "going ahead anyway (action warn)" in caplog.text


def test_global_budget_refuses_anyone(spent_db):
    """Everyone $10.00 + a2's $2.00 committed + carol's 1 h at $1.00 = $13.00 > $10.50."""
    set_budget(spent_db, "*", "10.50", action="refuse")
    with pytest.raises(BudgetExceededError, match="the global budget"):
        check_provision(spent_db, "carol", 1.0, 1, NOW)


def test_each_threshold_alerts_once_per_month(spent_db, settings):
    """alice at 70 % of $10: the 50 % alert goes once; a later pass sends nothing new.
    Spend rising past 80 % (by NOW + 1 h: $8.00) sends the 80 % alert only."""
    set_budget(spent_db, "alice", "10")
    first = send_budget_alerts(settings, NOW)
    assert [(a["consumer"], a["threshold"], a["spend_usd"]) for a in first] == [
        ("alice", 50, "7.00")]  # fmt: skip
    assert send_budget_alerts(settings, NOW) == []
    later = send_budget_alerts(settings, NOW + timedelta(hours=1))
    assert [a["threshold"] for a in later] == [80]
    recorded = list_alerts(spent_db)
    assert sorted(r["threshold"] for r in recorded) == [50, 80]
    assert all('"webhook": "off"'.replace(" ", "") in r["channels"].replace(" ", "")
               for r in recorded)  # fmt: skip


def test_webhook_retried_after_a_5xx_and_secret_url_never_leaks(spent_db, settings, caplog):
    """The local server answers 503 once, then 200: two POSTs, channel result ok. The
    URL's token appears in no log line and no warehouse row."""
    set_budget(spent_db, "alice", "10")
    with webhook_server([503]) as hook, caplog.at_level(logging.DEBUG):
        hooked = settings.model_copy(update={"alert_webhook_url": _secret(hook.url),
                                             "alert_webhook_backoff_s": 0.01})  # fmt: skip
        [sent] = send_budget_alerts(hooked, NOW)
    assert len(hook.received) == 2 and hook.received[0] == hook.received[1]
    body = hook.received[1]
    assert body["consumer"] == "alice" and body["month"] == "2026-03"
    assert (body["threshold"], body["spend_usd"], body["budget_usd"]) == (50, "7.00", "10.00")
    assert body["action"] == "warn"
    assert sent["channels"]["webhook"] == "ok"
    assert "secret-token-123" not in caplog.text
    assert all("secret-token" not in str(row) for row in list_alerts(spent_db))


def test_webhook_gives_up_after_its_attempts(settings):
    with webhook_server([500, 500, 500]) as hook:
        result = post_webhook(hook.url, {"x": 1}, attempts=3, backoff_s=0.0, timeout_s=2)
    assert result == "failed: HTTP 500 after 3 attempt(s)"
    assert "secret" not in result and len(hook.received) == 3


def test_webhook_4xx_is_not_retried():
    with webhook_server([404]) as hook:
        result = post_webhook(hook.url, {"x": 1}, attempts=3, backoff_s=0.0, timeout_s=2)
    assert result == "failed: HTTP 404 (not retried)" and len(hook.received) == 1


def test_stop_budget_used_up_lists_running_sessions(spent_db):
    """alice $7.00 of a $5.00 stop budget (140 %): her running a2 must stop; bob's
    finished session is not running."""
    set_budget(spent_db, "alice", "5", action="stop")
    assert [(d["session_id"], d["budget"]) for d in sessions_to_stop(spent_db, NOW)] == [
        ("a2", "alice")]  # fmt: skip
    set_budget(spent_db, "alice", "5", action="refuse")
    assert sessions_to_stop(spent_db, NOW) == []


def _secret(url):
    from pydantic import SecretStr

    return SecretStr(url)
