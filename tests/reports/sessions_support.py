"""Sessions with a known bill, written through the sessions store as provisioning does.

A session is inserted `running` with its instance id, its billing start recorded as a
price point (what provisioning records when the provider's create returns), and, when it
has ended, moved through `stopping` to `terminated` with its confirmed destroy time.
Reports, the Costs page and the notebooks are tested against these rows.
"""

from datetime import datetime, timedelta
from pathlib import Path

from shopper_pipelines.sessions import store
from shopper_pipelines.sessions.models import Session, Status, StoragePolicy, Workload, label_for
from shopper_pipelines.sessions.store import PricePoint

DEPLOYMENT = "reports"


def add_session(
    db_path: Path,
    session_id: str,
    *,
    consumer: str,
    start: datetime,
    end: datetime | None,
    price: float,
    gpu_model: str = "RTX 4090",
    gpu_count: int = 1,
    provider: str = "vastai",
    hours: int = 12,
) -> None:
    """One session billed at `price` $/h for the whole instance from `start` to `end`
    (None: still running, accruing up to now)."""
    session = Session(
        session_id=session_id,
        deployment_id=DEPLOYMENT,
        consumer_id=consumer,
        provider=provider,
        offer_key=f"{provider}:{session_id}",
        provider_offer_id=session_id,
        gpu_model=gpu_model,
        gpu_count=gpu_count,
        vram_gb=24.0,
        cuda_version=12.4,
        price_per_hour=price,
        workload=Workload.INTERACTIVE,
        reservation_hours=hours,
        idle_timeout_min=None,
        storage=StoragePolicy.DESTROY,
        status=Status.RUNNING,
        label=label_for(DEPLOYMENT, session_id),
        created_at=start,
        expires_at=start + timedelta(hours=hours),
        hard_max_at=start + timedelta(hours=max(hours, 12)),
        instance_id=f"i-{session_id}",
        ready_at=start,
    )
    store.insert_session(db_path, session, "test: rented")
    store.record(db_path, session_id, "test: instance created", price=PricePoint(start, price))
    if end is not None:
        store.transition(db_path, session_id, Status.STOPPING, "test: done")
        store.transition(db_path, session_id, Status.TERMINATED, "test: destroy confirmed",
                         terminated_at=end)  # fmt: skip


def worked_example_sessions(db_path: Path, today: datetime) -> None:
    """The sessions behind the reports' worked example; `today` is a UTC midnight and
    the reported day D is two days before it.

    - alice: RTX 4090 x1 at $0.50/h, D 10:00-12:00: 2 h x $0.50 = $1.00 on D.
    - bob: H100 SXM x4 at $2.40/h for the whole instance, D 22:00 to D+1 02:00: it spans
      midnight, so D gets 2 h x $2.40 = $4.80 and D+1 the other $4.80.
    - carol: RTX 3090 x1 at $1.00/h, running since D+1 21:00 (3 h before `today`): $3.00
      at `today`, nothing on D.
    - dave: A100 SXM4 x1 at $0.30/h, D-5 09:00-12:00: 3 h x $0.30 = $0.90 on D-5.
    So D: $5.80 over 2 sessions and 4.0 instance-hours; bob first ($4.80), then alice.
    """
    day = today - timedelta(days=2)
    add_session(
        db_path,
        "sess-alice",
        consumer="alice",
        price=0.5,
        start=day + timedelta(hours=10),
        end=day + timedelta(hours=12),
    )
    add_session(
        db_path,
        "sess-bob",
        consumer="bob",
        price=2.4,
        gpu_model="H100 SXM",
        gpu_count=4,
        start=day + timedelta(hours=22),
        end=day + timedelta(hours=26),
    )
    add_session(
        db_path,
        "sess-carol",
        consumer="carol",
        price=1.0,
        gpu_model="RTX 3090",
        provider="tensordock",
        start=today - timedelta(hours=3),
        end=None,
    )
    add_session(
        db_path,
        "sess-dave",
        consumer="dave",
        price=0.3,
        gpu_model="A100 SXM4",
        start=day - timedelta(days=5) + timedelta(hours=9),
        end=day - timedelta(days=5) + timedelta(hours=12),
    )
