"""The ledger's SQL core: every billed price segment cut into UTC-day pieces, in DuckDB.

`query(db, sql, params, ...)` runs a statement whose `FROM pieces` reads those pieces
(one row per segment and UTC day: session_id, consumer_id, provider, gpu_model, kind,
accruing, day, us, micro), so each public ledger function is one grouped query over it.
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from shopper_pipelines.costs.billing import MICRO
from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.warehouse import connect

PERIODS = ("daily", "monthly")

# Pieces of every billed segment, one row per (segment, UTC day), in integer
# microseconds since the epoch (so UTC by construction, and fast). {where} filters the
# segments; $now caps sessions that still accrue; $lo/$hi bound the days (inclusive).
# micro = round_half_up(us x price_micro / 3.6e9), split into whole hours and the rest so
# BIGINT suffices (HUGEINT is several times slower) for any price up to $2,560/h; DuckDB
# raises on overflow rather than wrap.
_PIECES = """
SELECT *, (us // 3600000000) * price_micro
          + ((us % 3600000000) * price_micro + 1800000000) // 3600000000 AS micro
FROM (
    SELECT *, DATE '1970-01-01' + CAST(dn AS INTEGER) AS day,
           least(e_us, (dn + 1) * 86400000000) - greatest(s_us, dn * 86400000000) AS us
    FROM (
        SELECT *, unnest(range(s_us // 86400000000, (e_us - 1) // 86400000000 + 1)) AS dn
        FROM (
            SELECT session_id, consumer_id, provider, gpu_model, kind,
                   billing_end IS NULL AS accruing, epoch_us(effective_at) AS s_us,
                   epoch_us(least(coalesce(next_at, $now), coalesce(billing_end, $now), $now))
                       AS e_us,
                   CAST(round(price_per_hour * 1000000) AS BIGINT) AS price_micro
            FROM session_price_segments g
            WHERE {where}
        )
        WHERE e_us > s_us
          AND e_us > (CAST($lo AS DATE) - DATE '1970-01-01') * 86400000000
          AND s_us < (CAST($hi AS DATE) - DATE '1970-01-01' + 1) * 86400000000
    )
    WHERE dn BETWEEN CAST($lo AS DATE) - DATE '1970-01-01'
                 AND CAST($hi AS DATE) - DATE '1970-01-01'
)
"""
FAR_PAST = date(1970, 1, 1)
FAR_FUTURE = date(9999, 12, 30)


def money(micro: int | None) -> Decimal:
    return Decimal(int(micro or 0)) * MICRO


def hours(us: int | None) -> float:
    return round(int(us or 0) / 3_600_000_000, 6)


def query(
    db: Path, sql: str, params: dict[str, Any], *, consumer: str | None = None,
    session: str | None = None, accruing_only: bool = False, frame: bool = False,
) -> Any:  # fmt: skip
    """Run `sql`, whose `FROM pieces` reads the day pieces of the filtered segments.

    Returns (column names, rows), or a Polars frame with `frame=True`.
    """
    where, extra = ["g.billing_end IS NULL" if accruing_only else "true"], {}
    if consumer:
        where.append("g.consumer_id = $consumer")
        extra["consumer"] = consumer
    if session:
        where.append("g.session_id = $session")
        extra["session"] = session
    # Inlined as a subquery: a CTE would be materialised, which costs more than it saves.
    pieces = _PIECES.format(where=" AND ".join(where))
    full = sql.replace("FROM pieces", f"FROM ({pieces}) pieces")
    with connect(db, read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        if frame:
            return con.sql(full, params={**params, **extra}).pl()
        cursor = con.execute(full, {**params, **extra})
        names = [column[0] for column in cursor.description]
        return names, cursor.fetchall()


def check_range(start: date | None, end: date | None) -> None:
    if start and end and start > end:
        raise InvalidInputError(f"--start {start} is after --end {end}")


def bounds(start: date | None, end: date | None, now: datetime) -> dict[str, Any]:
    check_range(start, end)
    return {"lo": start or FAR_PAST, "hi": end or FAR_FUTURE, "now": now}


def utc_now(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)
