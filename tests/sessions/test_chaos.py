"""Chaos: many seeded schedules of provider faults and process crashes against the sandbox.

Each seed provisions and ends sessions while the sandbox injects faults and our process
"dies" (an exception nobody catches) at a chosen step. Then recovery runs as the
workspace's sensors and schedules would: the lifecycle pass and the reconciler, with the
clock moved past every limit. Afterwards: no instance of ours without a live session, no
session lost, and every terminated session's instance confirmed absent by the provider.
"""

import contextlib
import random
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shopper_pipelines.errors import ProviderError
from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.sandbox.server import running_sandbox
from shopper_pipelines.sessions import lifecycle, store
from shopper_pipelines.sessions.deployment import instance_provider
from shopper_pipelines.sessions.models import LIVE, SessionRequest, Status
from shopper_pipelines.sessions.provision import pick_offer, provision_session, request_session
from shopper_pipelines.sessions.reconcile import reconcile_provider
from shopper_pipelines.settings import load_settings
from tests.sandbox_support import queue_faults

SEEDS = range(16)
FAULTS = [
    ("vastai.create", {"behaviour": "gone"}),
    ("vastai.create", {"behaviour": "create-leaks"}),
    ("vastai.create", {"behaviour": "stuck-loading"}),
    ("vastai.create", {"behaviour": "ssh-never-ready"}),
    ("vastai.create", {"status": 429}),
    ("vastai.create", {"status": 503}),
    ("vastai.destroy", {"behaviour": "destroy-lies"}),
    ("vastai.destroy", {"status": 500}),
    ("vastai.get", {"status": 503}),
    ("vastai.list", {"status": 500}),
]
CRASH_POINTS = [None, "create_instance", "get_instance", "destroy_instance"]


class Crash(BaseException):
    """The process dies here: nothing after this point runs, nothing catches it."""


class CrashingClient:
    """A real client that 'kills the process' right after the Nth call of one method."""

    def __init__(self, inner, method: str | None, after_calls: int) -> None:
        self.inner, self.method, self.after_calls = inner, method, after_calls
        self.name = inner.name

    def __getattr__(self, name):
        real = getattr(self.inner, name)
        if name != self.method:
            return real

        def call(*args, **kwargs):
            result = real(*args, **kwargs)  # the provider did it; we die before recording it
            self.after_calls -= 1
            if self.after_calls <= 0:
                raise Crash(name)
            return result

        return call


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    folder = tmp_path_factory.mktemp("chaos")
    with running_sandbox(seed=23, boot_seconds=0.2, workdir=folder / "instances") as url:
        settings = load_settings(
            database_path=folder / "w.duckdb", sandbox_url=url, deployment_id="chaos",
            readiness_timeout="2s", ssh_poll_interval_s=0.2, destroy_backoff_s=0.01,
            destroy_attempts=3, orphan_grace="1s", http_max_attempts=2,
        )  # fmt: skip
        ingest(settings, ("vastai",))
        yield settings, url


def _ours(url):
    instances = httpx.get(f"{url}/_sandbox/instances").json()["instances"]
    return [i for i in instances if (i.get("label") or "").startswith("gpu-shopper:chaos:")]


def _recover(settings, now):
    """What the sensors and schedules do, repeated until the world is settled."""
    for _ in range(4):
        for due in lifecycle.due_for_stop(settings, now):
            with contextlib.suppress(ProviderError):
                lifecycle.stop_for(settings, due)
        reconcile_provider(settings, "vastai", now=now)


def _one_schedule(settings, url, seed):
    rng = random.Random(seed)
    httpx.delete(f"{url}/_sandbox/faults").raise_for_status()
    for route, fault in rng.sample(FAULTS, k=rng.randint(0, 3)):
        queue_faults(url, route, fault)
    crash = rng.choice(CRASH_POINTS)
    factory = lambda s, p: CrashingClient(instance_provider(s, p), crash, rng.randint(1, 2))  # noqa: E731

    offer = pick_offer(settings, offer_id=None, gpu=rng.choice(["RTX 4090", "RTX 3090", "A100"]))
    requested = request_session(settings, SessionRequest("chaos", hours=1), offer)
    try:
        session = provision_session(settings, requested.session.session_id, client_factory=factory)
        if session.status is Status.RUNNING and rng.random() < 0.7:
            (lifecycle.done if rng.random() < 0.5 else lifecycle.delete)(
                settings, session.session_id
            )
    except (Crash, ProviderError):
        pass
    return requested.session.session_id


def test_chaos_zero_orphans_zero_lost_sessions(world, capsys):
    settings, url = world
    created = [_one_schedule(settings, url, seed) for seed in SEEDS]

    httpx.delete(f"{url}/_sandbox/faults").raise_for_status()
    later = datetime.now(UTC) + timedelta(days=1)  # past every reservation and hard maximum
    _recover(settings, later)

    sessions = {s.session_id: s for s in store.list_sessions(settings.database_path)}
    lost = [session_id for session_id in created if session_id not in sessions]
    still_live = [s.session_id for s in sessions.values() if s.status in LIVE]
    instances = _ours(url)
    orphans = [i for i in instances if not i["destroyed"]]
    unconfirmed = [
        s.session_id
        for s in sessions.values()
        if s.status is Status.TERMINATED and s.instance_id
        and any(i["id"] == s.instance_id and not i["destroyed"] for i in instances)
    ]  # fmt: skip
    with capsys.disabled():
        statuses = sorted(s.status.value for s in sessions.values())
        print(f"\n== chaos over {len(created)} seeded schedules: {len(instances)} instances made,"
              f" orphans={len(orphans)}, lost sessions={len(lost)},"
              f" live={len(still_live)}, unconfirmed terminations={len(unconfirmed)};"
              f" final statuses: { {k: statuses.count(k) for k in set(statuses)} }")  # fmt: skip
    assert instances, "the chaos run made no instance at all"
    assert orphans == []
    assert lost == []
    assert still_live == []
    assert unconfirmed == []
    assert all(s.status in (Status.TERMINATED, Status.FAILED) for s in sessions.values())
    # A session may end `failed` only when nothing of it exists at the provider.
    for session in sessions.values():
        if session.status is Status.FAILED and session.instance_id:
            assert all(i["destroyed"] for i in instances if i["id"] == session.instance_id)
