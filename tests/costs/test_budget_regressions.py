"""Regressions from testing budgets: overruns through overlapping sessions and extend,
the projected state, webhook re-sends, `set` keeping values, small-spend messages."""

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest
from pydantic import SecretStr

from shopper_pipelines.costs.alerts import list_alerts, send_budget_alerts
from shopper_pipelines.costs.billing import usd_text
from shopper_pipelines.costs.budgets import (
    budget_status,
    check_provision,
    get_budget,
    set_budget,
)
from shopper_pipelines.errors import BudgetExceededError, InvalidInputError
from shopper_pipelines.sessions import lifecycle, store
from shopper_pipelines.sessions.models import Status
from tests.costs.ledger_support import Billed, insert
from tests.costs.webhook_support import webhook_server

D = Decimal
NOW = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def demo_db(db_path):
    """demo: d1 running since 11:00 at $0.30/h, reserved 4 h (to 15:00): $0.30 spent by
    NOW, $0.90 committed. bob: a finished 1 h at $0.50 on Mar 3. Everyone: $0.80 spent."""
    run = NOW - timedelta(hours=1)
    bob = datetime(2026, 3, 3, 8, tzinfo=UTC)
    insert(db_path, [
        Billed("d1", "demo", run, [(run, D("0.30"), "on_demand")], status=Status.RUNNING,
               hours=4),
        Billed("b1", "bob", bob, [(bob, D("0.50"), "on_demand")], end=bob + timedelta(hours=1)),
    ])  # fmt: skip
    return db_path


def test_overlapping_sessions_cannot_overrun_a_refuse_budget(demo_db):
    """Bug: the provision check counted spend so far + the new session only, so a second
    session overlapping a running one slipped under the budget.
    $0.30 spent + $0.90 committed by d1 + 1 h at $0.29 = $1.49 > $1.00: refused (the old
    check saw $0.30 + $0.29 = $0.59 and allowed it). Each part is named."""
    set_budget(demo_db, "demo", "1", action="refuse")
    with pytest.raises(BudgetExceededError) as refused:
        check_provision(demo_db, "demo", D("0.29"), 1, NOW)
    text = str(refused.value)
    assert "spent $0.30 so far" in text
    assert "+ $0.90 committed by 1 live session until their reservations end" in text
    assert "this session's projected cost $0.29 ($0.290/h x 1 h) = $1.49" in text
    assert "over the monthly budget $1.00 (action refuse); nothing was rented" in text


def test_a_requested_but_not_rented_session_counts_too(db_path):
    """Bug (same family): two requests back to back; the first has no instance yet.
    p1 pending, 3 h at $0.30 from NOW: $0.90 committed; + 1 h at $0.29 = $1.19 > $1.00."""
    pending = Billed("p1", "demo", NOW, [(NOW, D("0.30"), "on_demand")], hours=3,
                     status=Status.PENDING, instance_id=None, record_start=False)  # fmt: skip
    insert(db_path, [pending])
    set_budget(db_path, "demo", "1", action="refuse")
    with pytest.raises(BudgetExceededError, match=r"\+ \$0\.90 committed by 1 live session"):
        check_provision(db_path, "demo", D("0.29"), 1, NOW)
    check_provision(db_path, "demo", D("0.10"), 1, NOW)  # $1.00: not over


def test_global_budget_counts_everyones_committed_hours(demo_db):
    """Bug: the global check ignored running sessions too. Everyone $0.80 spent + d1's
    $0.90 committed + carol's 1 h at $0.40 = $2.10 > $2.00 (old check: $1.20, allowed)."""
    set_budget(demo_db, "*", "2", action="refuse")
    with pytest.raises(BudgetExceededError) as refused:
        check_provision(demo_db, "carol", D("0.40"), 1, NOW)
    assert str(refused.value).startswith("the global budget for 2026-03 would be exceeded:")
    assert "spent $0.80 so far + $0.90 committed" in str(refused.value)
    check_provision(demo_db, "carol", D("0.30"), 1, NOW)  # $2.00 exactly: allowed


def test_budgets_list_state_says_over_when_the_projection_is(demo_db):
    """Bug: STATE said `ok` with PROJECTED $1.13 over a $1.00 budget.
    demo: $0.30 spent (30 %, no threshold crossed), projected $1.20 > $1.00."""
    set_budget(demo_db, "demo", "1", action="refuse")
    [demo] = budget_status(demo_db, NOW)
    assert (demo["spend_usd"], demo["projected_usd"]) == (D("0.300000"), D("1.200000"))
    assert demo["crossed"] == [] and demo["state"] == "over (projected)"
    set_budget(demo_db, "demo", "1.20")
    assert budget_status(demo_db, NOW)[0]["state"] == "ok"


def test_extend_is_checked_against_a_refusing_budget(settings, db_path):
    """Bug: `sessions extend ID -t 9` was accepted with no budget check.
    r1 runs since 1 h ago at $0.30/h, reserved 4 h: about $1.20 in all. Budget $2.00:
    +2 h = $0.60 -> $1.80, allowed; then +1 h = $0.30 -> $2.10, refused, nothing changed."""
    start = datetime.now(UTC) - timedelta(hours=1)
    insert(db_path, [Billed("r1", "demo", start, [(start, D("0.30"), "on_demand")],
                            status=Status.RUNNING, hours=4)])  # fmt: skip
    set_budget(db_path, "demo", "2", action="refuse")
    extended = lifecycle.extend(settings, "r1", 2)
    assert extended.expires_at == start + timedelta(hours=6)
    with pytest.raises(BudgetExceededError) as refused:
        lifecycle.extend(settings, "r1", 1)
    text = str(refused.value)
    assert "extending r1 by 1 h $0.30 ($0.300/h x 1 h)" in text
    assert "monthly budget $2.00 (action refuse); r1 was not extended" in text
    after = store.require_session(db_path, "r1")
    assert after.expires_at == start + timedelta(hours=6)
    assert not any("extended by 1h" in e["reason"] for e in store.events(db_path, "r1"))


def _hooked(settings, url):
    return settings.model_copy(update={"alert_webhook_url": SecretStr(url),
                                       "alert_webhook_backoff_s": 0.0})  # fmt: skip


def _delivery(db):
    return [(a["threshold"], a["delivery"], orjson.loads(a["channels"])["webhook_tries"])
            for a in list_alerts(db)]  # fmt: skip


def test_failed_webhook_is_resent_on_a_later_check_until_delivered(demo_db, settings, caplog):
    """Bug: a webhook that answered 500 was recorded as alerted and never sent again.
    demo $0.30 of $0.50 = 60 %: the 50 % alert. Check 1: 500 x3 -> delivery retrying.
    Check 30 s later: its next try (1 min) is not due, nothing posted. Check 2 min later:
    200 -> delivered on try 2. A fourth check sends nothing."""
    set_budget(demo_db, "demo", "0.50")
    with webhook_server([500, 500, 500]) as hook, caplog.at_level(logging.INFO):
        hooked = _hooked(settings, hook.url)
        [first] = send_budget_alerts(hooked, NOW)
        assert first["channels"]["webhook"] == "failed: HTTP 500 after 3 attempt(s)"
        assert _delivery(demo_db) == [(50, "retrying", 1)]
        assert send_budget_alerts(hooked, NOW + timedelta(seconds=30)) == []
        assert len(hook.received) == 3
        [again] = send_budget_alerts(hooked, NOW + timedelta(minutes=2))
        assert again["resent"] is True and again["channels"]["webhook"] == "ok"
        assert len(hook.received) == 4 and hook.received[3] == hook.received[0]
        assert send_budget_alerts(hooked, NOW + timedelta(minutes=3)) == []
    assert _delivery(demo_db) == [(50, "delivered", 2)]
    assert caplog.text.count("BUDGET ALERT") == 1  # the log line is not repeated
    assert "secret-token" not in caplog.text


def test_failed_webhook_gives_up_after_24_hours_with_one_error(db_path, settings, caplog):
    """Bug (bound of the fix): re-sending stops 24 h after the alert; one error, once.
    f1 finished: 1 h at $0.30 = 60 % of $0.50, so no new threshold comes meanwhile."""
    t = NOW - timedelta(hours=3)
    insert(db_path, [Billed("f1", "demo", t, [(t, D("0.30"), "on_demand")],
                            end=t + timedelta(hours=1))])  # fmt: skip
    demo_db = db_path
    set_budget(demo_db, "demo", "0.50")
    with webhook_server([500] * 3) as hook:
        hooked = _hooked(settings, hook.url)
        send_budget_alerts(hooked, NOW)
        with caplog.at_level(logging.ERROR):
            [gave_up] = send_budget_alerts(hooked, NOW + timedelta(hours=24))
            assert send_budget_alerts(hooked, NOW + timedelta(hours=25)) == []
    assert gave_up["resent"] is False and gave_up["channels"]["delivery"] == "gave_up"
    assert len(hook.received) == 3  # nothing posted after giving up
    assert caplog.text.count("gave up after 1 tries") == 1
    assert _delivery(demo_db) == [(50, "gave_up", 1)]


def test_set_keeps_the_values_not_given(db_path):
    """Bug: `budgets set demo --monthly 1 --thresholds 150` reset action refuse to warn."""
    set_budget(db_path, "demo", "1", thresholds=(50, 100), action="refuse", now=NOW)
    changed = set_budget(db_path, "demo", "1", thresholds=(150,))
    assert (changed.monthly_usd, changed.thresholds, changed.action) == (D("1.00"), (150,),
                                                                          "refuse")  # fmt: skip
    changed = set_budget(db_path, "demo", action="stop")
    assert (changed.monthly_usd, changed.thresholds, changed.action) == (D("1.00"), (150,),
                                                                          "stop")  # fmt: skip
    fresh = set_budget(db_path, "new", "5")
    assert (fresh.thresholds, fresh.action) == ((50, 80, 100), "warn")
    with pytest.raises(InvalidInputError, match="--monthly is required for a new budget"):
        set_budget(db_path, "other", action="refuse")
    assert get_budget(db_path, "other") is None


def test_small_spend_shows_four_decimals(db_path):
    """Bug: messages said "spent $0.00 so far" for $0.0031. 60 s at $0.186/h =
    0.186 / 60 = $0.0031; + 1 h at $0.01 = $0.0131 > $0.01: refused."""
    t = NOW - timedelta(hours=2)
    insert(db_path, [Billed("s1", "tiny", t, [(t, D("0.186"), "on_demand")],
                            end=t + timedelta(seconds=60))])  # fmt: skip
    set_budget(db_path, "tiny", "0.01", action="refuse")
    with pytest.raises(BudgetExceededError) as refused:
        check_provision(db_path, "tiny", D("0.01"), 1, NOW)
    assert "spent $0.0031 so far" in str(refused.value) and "= $0.0131" in str(refused.value)
    assert "monthly budget $0.01" in str(refused.value)


@pytest.mark.parametrize(
    ("amount", "text"),
    [("0.0031", "$0.0031"), ("0.00305", "$0.0031"), ("0.30", "$0.30"), ("0", "$0.00"),
     ("12.345", "$12.35"), ("1.0031", "$1.00")],
)  # fmt: skip
def test_usd_text_four_decimals_only_below_a_dollar(amount, text):
    """Bug: small spend was rounded to $0.00; cents stay for $1 and more (half-up)."""
    assert usd_text(D(amount)) == text
