"""Build billed sessions in a real warehouse file for ledger, budget and perf tests."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.models import Session, Status, StoragePolicy, Workload
from shopper_pipelines.warehouse import connect


@dataclass
class Billed:
    """A session as billing sees it: its prices and when (if ever) its destroy was confirmed."""

    session_id: str
    consumer: str
    start: datetime
    prices: list[tuple[datetime, Decimal, str]]  # (effective_at, price, kind)
    end: datetime | None = None  # confirmed destroy; None: still accruing
    provider: str = "vastai"
    gpu_model: str = "RTX 4090"
    gpu_count: int = 1
    status: Status = Status.TERMINATED
    instance_id: str | None = "inst-1"
    record_start: bool = True  # False: adopted by label, no billing start recorded
    hours: int = 12
    extra: dict = field(default_factory=dict)

    def session(self) -> Session:
        return Session(
            session_id=self.session_id, deployment_id="test", consumer_id=self.consumer,
            provider=self.provider, offer_key=f"{self.provider}:1", provider_offer_id="1",
            gpu_model=self.gpu_model, gpu_count=self.gpu_count, vram_gb=24.0,
            cuda_version=12.4, price_per_hour=float(self.prices[0][1]),
            workload=Workload.INTERACTIVE, reservation_hours=self.hours, idle_timeout_min=None,
            storage=StoragePolicy.DESTROY, status=self.status, label=f"l:{self.session_id}",
            created_at=self.start, expires_at=self.start + timedelta(hours=self.hours),
            hard_max_at=self.start + timedelta(hours=12), instance_id=self.instance_id,
            terminated_at=self.end,
        )  # fmt: skip


def insert(db: Path, billed: list[Billed]) -> None:
    """The sessions through the sessions store; their prices in one bulk insert (with
    `next_at` set as `store.record(price=...)` keeps it), which the store has no call for."""
    store.insert_sessions(db, [b.session() for b in billed], "test fixture")
    rows = [
        {"session_id": b.session_id, "effective_at": at, "price_per_hour": float(price),
         "kind": kind, "source": "offer",
         "next_at": b.prices[i + 1][0] if i + 1 < len(b.prices) else None}
        for b in billed if b.record_start for i, (at, price, kind) in enumerate(b.prices)
    ]  # fmt: skip
    if not rows:
        return
    frame = pl.DataFrame(rows, schema_overrides={"next_at": pl.Datetime("us", "UTC")})
    with connect(db) as con:
        con.register("new_prices", frame)
        con.execute(
            "INSERT INTO session_prices (session_id, effective_at, price_per_hour, kind, source,"
            " next_at) SELECT session_id, effective_at, CAST(price_per_hour AS DECIMAL(12, 6)),"
            " kind, source, next_at FROM new_prices"
        )
