"""Sessions' warehouse queries: rows, append-only events and guarded transitions."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from shopper_pipelines.errors import InvalidInputError, ShopperError
from shopper_pipelines.sessions.models import (
    ALLOWED,
    LIVE,
    Session,
    Status,
    StoragePolicy,
    Workload,
)
from shopper_pipelines.warehouse import connect

logger = logging.getLogger(__name__)

_COLUMNS = (
    "session_id", "deployment_id", "consumer_id", "provider", "offer_key",
    "provider_offer_id", "gpu_model", "gpu_count", "vram_gb", "cuda_version",
    "price_per_hour", "workload", "reservation_hours", "idle_timeout_min", "storage",
    "status", "status_reason", "label", "public_key", "instance_id", "ssh_host", "ssh_port",
    "ssh_user", "host_key", "created_at", "expires_at", "hard_max_at", "ready_at",
    "last_active_at", "stopped_at", "terminated_at", "offers_tried",
)  # fmt: skip
_UPDATABLE = frozenset(_COLUMNS) - {"session_id", "deployment_id", "status", "created_at"}


@dataclass(frozen=True)
class PricePoint:
    """A price that bills the session's instance from `effective_at` on (session_prices).

    The first one is the billing start: when the provider's create call returned an
    instance id. `kind`: on_demand, interruptible_bid or storage_only; `source`: offer,
    provider, bid or storage.
    """

    effective_at: datetime
    price_per_hour: float | Decimal
    kind: str = "on_demand"
    source: str = "offer"
    note: str | None = None


class TransitionError(ShopperError):
    """A status change that the state machine does not allow."""


class ClaimLostError(TransitionError):
    """Another process moved the session first."""


def _row_values(session: Session) -> list[Any]:
    values = []
    for name in _COLUMNS:
        value = getattr(session, name)
        values.append(orjson.dumps(value).decode() if name == "offers_tried" else value)
    return values


def _session(row: tuple[Any, ...]) -> Session:
    data = dict(zip(_COLUMNS, row, strict=True))
    data["price_per_hour"] = float(data["price_per_hour"])
    data["workload"] = Workload(data["workload"])
    data["storage"] = StoragePolicy(data["storage"])
    data["status"] = Status(data["status"])
    data["offers_tried"] = orjson.loads(data["offers_tried"] or "[]")
    return Session(**data)


def _event(con: Any, session_id: str, kind: str, reason: str, **extra: Any) -> None:
    detail = extra.pop("detail", None)
    con.execute(
        "INSERT INTO session_events (session_id, occurred_at, kind, from_status, to_status, reason,"
        " detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            session_id,
            datetime.now(UTC),
            kind,
            extra.get("from_status"),
            extra.get("to_status"),
            reason,
            orjson.dumps(detail).decode() if detail is not None else None,
        ],
    )


def insert_session(db_path: Path, session: Session, reason: str) -> None:
    """Phase one of provisioning: the row and its first event, before any provider call."""
    placeholders = ", ".join("?" for _ in _COLUMNS)
    with connect(db_path) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute(
            f"INSERT INTO sessions ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
            _row_values(session),
        )
        _event(con, session.session_id, "transition", reason, to_status=session.status.value)
        con.execute("COMMIT")


def insert_sessions(db_path: Path, sessions: list[Session], reason: str) -> None:
    """Many sessions at once (imports, benchmarks), each with its first event."""
    if not sessions:
        return
    rows = pl.DataFrame(
        [dict(zip(_COLUMNS, _row_values(s), strict=True)) for s in sessions],
        infer_schema_length=None,
    )
    now = datetime.now(UTC)
    first_events = pl.DataFrame(
        {
            "session_id": [s.session_id for s in sessions],
            "occurred_at": [now] * len(sessions),
            "to_status": [s.status.value for s in sessions],
        }
    )
    columns = ", ".join(_COLUMNS)
    with connect(db_path) as con:
        con.execute("BEGIN TRANSACTION")
        con.register("new_sessions", rows)
        con.register("new_events", first_events)
        con.execute(f"INSERT INTO sessions ({columns}) SELECT {columns} FROM new_sessions")
        con.execute(
            "INSERT INTO session_events (session_id, occurred_at, kind, to_status, reason)"
            " SELECT session_id, occurred_at, 'transition', to_status, ? FROM new_events",
            [reason],
        )
        con.execute("COMMIT")


def get_session(db_path: Path, session_id: str) -> Session | None:
    with connect(db_path, read_only=True) as con:
        row = con.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM sessions WHERE session_id = ?", [session_id]
        ).fetchone()
    return _session(row) if row else None


def require_session(db_path: Path, session_id: str) -> Session:
    session = get_session(db_path, session_id)
    if session is None:
        raise InvalidInputError(f"no session with id {session_id!r}")
    return session


def list_sessions(
    db_path: Path,
    *,
    consumer_id: str | None = None,
    statuses: frozenset[Status] | None = None,
    deployment_id: str | None = None,
) -> list[Session]:
    clauses, params = ["true"], []
    if consumer_id:
        clauses.append("consumer_id = ?")
        params.append(consumer_id)
    if statuses:
        clauses.append("list_contains(?, status)")
        params.append([status.value for status in statuses])
    if deployment_id:
        clauses.append("deployment_id = ?")
        params.append(deployment_id)
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM sessions WHERE {' AND '.join(clauses)}"
            " ORDER BY created_at DESC",
            params,
        ).fetchall()
    return [_session(row) for row in rows]


def live_sessions(db_path: Path, deployment_id: str) -> list[Session]:
    return list_sessions(db_path, statuses=LIVE, deployment_id=deployment_id)


def _check_updates(updates: dict[str, Any]) -> None:
    unknown = set(updates) - _UPDATABLE
    if unknown:
        raise ValueError(f"cannot update session columns {sorted(unknown)}")


def _apply(con: Any, session_id: str, updates: dict[str, Any]) -> None:
    if not updates:
        return
    values = [
        orjson.dumps(v).decode()
        if k == "offers_tried"
        else (Decimal(str(v)) if k == "price_per_hour" else v)
        for k, v in updates.items()
    ]
    assignments = ", ".join(f"{name} = ?" for name in updates)
    con.execute(f"UPDATE sessions SET {assignments} WHERE session_id = ?", [*values, session_id])


def transition(
    db_path: Path,
    session_id: str,
    to: Status,
    reason: str,
    *,
    detail: dict[str, Any] | None = None,
    expect: Status | None = None,
    **updates: Any,
) -> Session:
    """Move a session to `to` with a reason, atomically with its event and any updates.

    A transition to the status it already has is a no-op that returns the session, so a
    retried step is safe; one the state machine forbids raises TransitionError. With
    `expect`, the move happens only from that status (compare-and-set): two processes
    racing to claim a pending session cannot both win.
    """
    _check_updates(updates)
    with connect(db_path) as con:
        con.execute("BEGIN TRANSACTION")
        row = con.execute(
            "SELECT status FROM sessions WHERE session_id = ?", [session_id]
        ).fetchone()
        if row is None:
            con.execute("ROLLBACK")
            raise InvalidInputError(f"no session with id {session_id!r}")
        current = Status(row[0])
        if expect is not None and current != expect:
            con.execute("ROLLBACK")
            raise ClaimLostError(
                f"session {session_id} is {current.value}, not {expect.value} ({reason})"
            )
        if current != to:
            if to not in ALLOWED[current]:
                con.execute("ROLLBACK")
                raise TransitionError(
                    f"session {session_id} cannot go from {current.value} to {to.value} ({reason})"
                )
            con.execute(
                "UPDATE sessions SET status = ?, status_reason = ? WHERE session_id = ?",
                [to.value, reason, session_id],
            )
            _event(
                con,
                session_id,
                "transition",
                reason,
                from_status=current.value,
                to_status=to.value,
                detail=detail,
            )
        _apply(con, session_id, updates)
        con.execute("COMMIT")
    logger.info("session %s: %s -> %s (%s)", session_id, current.value, to.value, reason)
    return require_session(db_path, session_id)


def _upsert_price(con: Any, session_id: str, point: PricePoint) -> None:
    con.execute(
        "INSERT OR REPLACE INTO session_prices (session_id, effective_at, price_per_hour, kind,"
        " source, note) VALUES (?, ?, ?, ?, ?, ?)",
        [session_id, point.effective_at, Decimal(str(point.price_per_hour)), point.kind,
         point.source, point.note],
    )  # fmt: skip
    # Each price runs until the next one: keep next_at so the ledger needs no window.
    con.execute(
        "UPDATE session_prices AS p SET next_at = n.next_at FROM (SELECT effective_at,"
        " lead(effective_at) OVER (ORDER BY effective_at) AS next_at FROM session_prices"
        " WHERE session_id = ?) AS n WHERE p.session_id = ? AND p.effective_at = n.effective_at",
        [session_id, session_id],
    )


def record(
    db_path: Path,
    session_id: str,
    reason: str,
    *,
    kind: str = "note",
    detail: dict[str, Any] | None = None,
    price: PricePoint | None = None,
    **updates: Any,
) -> None:
    """Update fields without a status change, with a note (or alert) event saying why.

    `price` records a billing price in the same transaction (the billing start when it
    is the session's first): a price at the same instant as an existing one replaces it.
    """
    _check_updates(updates)
    with connect(db_path) as con:
        con.execute("BEGIN TRANSACTION")
        _apply(con, session_id, updates)
        if price is not None:
            _upsert_price(con, session_id, price)
        _event(con, session_id, kind, reason, detail=detail)
        con.execute("COMMIT")
    if kind == "alert":
        logger.error("session %s: ALERT %s", session_id, reason)


def events(db_path: Path, session_id: str) -> list[dict[str, Any]]:
    with connect(db_path, read_only=True) as con:
        cursor = con.execute(
            "SELECT event_id, occurred_at, kind, from_status, to_status, reason, detail"
            " FROM session_events WHERE session_id = ? ORDER BY event_id",
            [session_id],
        )
        names = [column[0] for column in cursor.description]
        rows = cursor.fetchall()
    return [dict(zip(names, row, strict=True)) for row in rows]


def prices(db_path: Path, session_id: str) -> list[PricePoint]:
    """The session's billing prices, oldest first (empty: billing never started)."""
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            "SELECT effective_at, price_per_hour, kind, source, note FROM session_prices"
            " WHERE session_id = ? ORDER BY effective_at",
            [session_id],
        ).fetchall()
    return [PricePoint(*row) for row in rows]


def alerts_between(db_path: Path, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Alert events of any session in [start, end), oldest first."""
    with connect(db_path, read_only=True) as con:
        cursor = con.execute(
            "SELECT e.occurred_at, e.session_id, s.consumer_id, e.reason"
            " FROM session_events e LEFT JOIN sessions s USING (session_id)"
            " WHERE e.kind = 'alert' AND e.occurred_at >= ? AND e.occurred_at < ?"
            " ORDER BY e.occurred_at, e.event_id",
            [start, end],
        )
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
