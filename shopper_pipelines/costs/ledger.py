"""The cost ledger: what sessions cost per session, consumer, provider, GPU, day and month.

Everything is computed in DuckDB SQL from the sessions capability's billing views
(`session_billing`, `session_price_segments`, see `warehouse/migrations_costs.py`): each
price segment is cut at UTC midnights (integer microseconds since the epoch, divided into
day numbers and unnested in SQL, no Python loop), each piece priced in integer
micro-dollars with the same half-up rule as `costs/billing.py`, and every
aggregate is a sum of pieces, so a year of 100,000 sessions summarises in well under a
second and the SQL agrees with the pure math to the micro-dollar. Sessions still
accruing (no confirmed destroy) are billed up to `now`.

Money comes back as `Decimal` with 6 decimal places; round to cents only to show it.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl

from shopper_pipelines.costs.billing import Segment, piece_cost, pieces
from shopper_pipelines.costs.pieces import (
    FAR_FUTURE,
    FAR_PAST,
    PERIODS,
    bounds,
    check_range,
    hours,
    money,
    query,
    utc_now,
)
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.warehouse import connect

__all__ = ["PERIODS", "check_range", "cost_summary", "daily_costs", "running_costs",
           "session_cost", "session_costs", "spend_by_consumer"]  # fmt: skip


def cost_summary(
    db: Path,
    consumer: str | None = None,
    session: str | None = None,
    start: date | None = None,
    end: date | None = None,
    period: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Totals (cost, sessions, hours), by provider, GPU model, consumer and period.

    Days are UTC dates, `end` inclusive; sessions count when they billed inside the
    range; running sessions count up to `now`.
    """
    if period is not None and period not in PERIODS:
        raise InvalidInputError(f"--period must be daily or monthly, got {period!r}")
    now = utc_now(now)
    params = bounds(start, end, now)
    bucket = {"monthly": "date_trunc('month', day)::DATE", "daily": "day"}.get(period or "")
    # Per session (and period) first, so the group counts need no COUNT(DISTINCT).
    by_period = (
        ""
        if bucket is None
        else " UNION ALL SELECT 8, NULL, NULL, NULL, bucket, sum(micro), sum(us), count(*), 0"
        " FROM per GROUP BY bucket"
    )
    sql = f"""
        WITH per AS (
            SELECT session_id, bucket, any_value(provider) AS provider,
                   any_value(gpu_model) AS gpu_model, any_value(consumer_id) AS consumer_id,
                   bool_or(accruing) AS accruing, sum(micro) AS micro, sum(us) AS us
            FROM (SELECT *, {bucket or "NULL"} AS bucket FROM pieces)
            GROUP BY session_id, bucket
        ), by_session AS (
            SELECT session_id, any_value(provider) AS provider, any_value(gpu_model) AS gpu_model,
                   any_value(consumer_id) AS consumer_id, bool_or(accruing) AS accruing,
                   sum(micro) AS micro, sum(us) AS us
            FROM per GROUP BY session_id
        )
        SELECT GROUPING(provider, gpu_model, consumer_id) AS g, provider, gpu_model,
               consumer_id, NULL AS bucket, sum(micro), sum(us), count(*),
               count(*) FILTER (WHERE accruing)
        FROM by_session GROUP BY GROUPING SETS ((), (provider), (gpu_model), (consumer_id))
        {by_period}
    """
    _, rows = query(db, sql, params, consumer=consumer, session=session)
    groups: dict[str, list[dict[str, Any]]] = {"provider": [], "gpu_model": [], "consumer": []}
    periods: list[dict[str, Any]] = []
    total: dict[str, Any] = {"cost": Decimal(0), "sessions": 0, "hours": 0.0, "running": 0}
    for g, provider, gpu, who, bucket_value, micro, us, count, running in rows:
        entry = {"cost": money(micro), "hours": hours(us), "sessions": int(count)}
        if g == 0b111:
            total.update(entry, running=int(running))
        elif g == 0b011:
            groups["provider"].append({"provider": provider, **entry})
        elif g == 0b101:
            groups["gpu_model"].append({"gpu_model": gpu, **entry})
        elif g == 0b110:
            groups["consumer"].append({"consumer": who, **entry})
        else:
            periods.append({"period": bucket_value, **entry})
    return {
        "as_of": now,
        "consumer": consumer,
        "session": session,
        "start": start,
        "end": end,
        "period": period,
        "total": total,
        "by_provider": sorted(groups["provider"], key=lambda r: (-r["cost"], r["provider"])),
        "by_gpu": sorted(groups["gpu_model"], key=lambda r: (-r["cost"], r["gpu_model"])),
        "by_consumer": sorted(groups["consumer"], key=lambda r: (-r["cost"], r["consumer"])),
        "by_period": sorted(periods, key=lambda r: r["period"]) if period else [],
    }


def daily_costs(
    db: Path, start: date | None, end: date | None, now: datetime | None = None
) -> pl.DataFrame:
    """One row per UTC day x consumer x provider x GPU model that billed anything.

    Columns: day (Date), consumer, provider, gpu_model, cost (Float64, dollars to 6 dp:
    for charts and tables; `cost_summary` gives exact Decimals), hours (Float64).
    """
    params = bounds(start, end, utc_now(now))
    result: pl.DataFrame = query(
        db,
        "SELECT day, consumer_id AS consumer, provider, gpu_model,"
        " CAST(sum(micro) AS DOUBLE) / 1000000 AS cost,"
        " round(CAST(sum(us) AS DOUBLE) / 3600000000, 6) AS hours"
        " FROM pieces GROUP BY ALL ORDER BY day, consumer, provider, gpu_model",
        params,
        frame=True,
    )
    return result


def session_costs(
    db: Path,
    start: date | None,
    end: date | None,
    now: datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """What each session cost inside [start, end] (UTC days), most expensive first.

    Each: session_id, consumer, provider, gpu_model, cost (Decimal), hours, accruing.
    One grouped query, however many sessions.
    """
    if limit is not None and limit < 1:
        raise InvalidInputError(f"limit must be at least 1, got {limit}")
    params = bounds(start, end, utc_now(now))
    _, rows = query(
        db,
        "SELECT session_id, any_value(consumer_id), any_value(provider), any_value(gpu_model),"
        " sum(micro) AS micro, sum(us), bool_or(accruing) FROM pieces GROUP BY session_id"
        f" ORDER BY micro DESC, session_id {'' if limit is None else f'LIMIT {int(limit)}'}",
        params,
    )
    names = ("session_id", "consumer", "provider", "gpu_model")
    return [
        {**dict(zip(names, row[:4], strict=True)), "cost": money(row[4]),
         "hours": hours(row[5]), "accruing": bool(row[6])}
        for row in rows
    ]  # fmt: skip


def spend_by_consumer(db: Path, month: date, now: datetime) -> dict[str, Decimal]:
    """What each consumer has spent in the UTC month starting `month`, up to `now`."""
    last = (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    _, rows = query(
        db,
        "SELECT consumer_id, sum(micro) FROM pieces GROUP BY consumer_id",
        {"lo": month, "hi": last, "now": now},
    )
    return {consumer: money(micro) for consumer, micro in rows}


def running_costs(db: Path, now: datetime | None = None) -> list[dict[str, Any]]:
    """Sessions still accruing (no confirmed destroy), most expensive so far first.

    Each: session_id, consumer, provider, gpu_model, status, billing_start, hours,
    cost (so far), price_per_hour (current), expires_at, projected_cost (to the end of
    its reservation at the current price).
    """
    now = utc_now(now)
    sql = "SELECT session_id, sum(micro) AS micro, sum(us) AS us FROM pieces GROUP BY session_id"
    params = {"lo": FAR_PAST, "hi": FAR_FUTURE, "now": now}
    _, cost_rows = query(db, sql, params, accruing_only=True)
    spent = {sid: (micro, us) for sid, micro, us in cost_rows}
    with connect(db, read_only=True) as con:
        rows = con.execute(
            """
            SELECT b.session_id, b.consumer_id, b.provider, b.gpu_model, b.status,
                   b.billing_start, b.expires_at, b.billing_start_source, cur.price
            FROM session_billing b LEFT JOIN (
                SELECT session_id, arg_max(price_per_hour, effective_at) AS price
                FROM session_price_segments WHERE billing_end IS NULL AND effective_at <= ?
                GROUP BY session_id
            ) cur USING (session_id)
            WHERE b.billing_end IS NULL AND b.billing_start <= ?
            """,
            [now, now],
        ).fetchall()
    out = []
    for sid, consumer, provider, gpu, status, started, expires, source, price in rows:
        micro, us = spent.get(sid, (0, 0))
        cost = money(micro)
        price = Decimal(price or 0)
        remaining = max(expires - now, timedelta(0))
        projected = cost + piece_cost(now, now + remaining, price)
        out.append({
            "session_id": sid, "consumer": consumer, "provider": provider, "gpu_model": gpu,
            "status": status, "billing_start": started, "billing_start_source": source,
            "hours": hours(us), "cost": cost, "price_per_hour": price, "expires_at": expires,
            "projected_cost": projected,
        })  # fmt: skip
    return sorted(out, key=lambda r: (-r["cost"], r["session_id"]))


def session_cost(db: Path, session_id: str, now: datetime | None = None) -> dict[str, Any]:
    """One session's bill: its segments (with the cost of each), days, total, hours.

    Computed with the pure math of `costs/billing.py` (a session has few segments);
    raises InvalidInputError for an unknown session. A session that never had an
    instance costs 0 and has no segments.
    """
    now = utc_now(now)
    with connect(db, read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        head = con.execute(
            "SELECT session_id, consumer_id, provider, gpu_model, gpu_count, status,"
            " price_per_hour, created_at, terminated_at FROM sessions WHERE session_id = ?",
            [session_id],
        ).fetchone()
        if head is None:
            raise InvalidInputError(f"--session: no session with id {session_id!r}")
        billing = con.execute(
            "SELECT billing_start, billing_start_source, billing_end FROM session_billing"
            " WHERE session_id = ?",
            [session_id],
        ).fetchone()
        rows = con.execute(
            "SELECT effective_at, next_at, price_per_hour, kind, source, note"
            " FROM session_price_segments WHERE session_id = ? ORDER BY effective_at",
            [session_id],
        ).fetchall()
    end = min(billing[2] or now, now) if billing else now
    segments, shown = [], []
    for effective, next_at, price, kind, source, note in rows:
        stop = min(next_at or end, end)
        if stop <= effective:
            continue
        segment = Segment(effective, stop, Decimal(price), kind)
        segments.append(segment)
        cost = sum((p.cost for p in pieces([segment])), Decimal(0))
        shown.append({"start": effective, "end": stop, "price_per_hour": Decimal(price),
                      "kind": kind, "source": source, "note": note, "cost": cost,
                      "hours": round((stop - effective) / timedelta(hours=1), 6)})  # fmt: skip
    cut = pieces(segments)
    days: dict[date, Decimal] = {}
    for piece in cut:
        days[piece.day] = days.get(piece.day, Decimal(0)) + piece.cost
    names = ("session_id", "consumer", "provider", "gpu_model", "gpu_count", "status",
             "shown_price_per_hour", "created_at", "terminated_at")  # fmt: skip
    return {
        **dict(zip(names, head, strict=True)),
        "as_of": now,
        "billing_start": billing[0] if billing else None,
        "billing_start_source": billing[1] if billing else "never billed (no instance)",
        "billing_end": billing[2] if billing else None,
        "accruing": bool(billing) and billing[2] is None,
        "cost": sum((p.cost for p in cut), Decimal(0)),
        "hours": round(sum(p.hours for p in cut), 6),
        "segments": shown,
        "by_day": [{"day": day, "cost": cost} for day, cost in sorted(days.items())],
    }
