"""Session benchmarks: print figures, assert only that the work was done.

References in the same run: the limits sensor's interval (the floor of expiry-to-destroy
latency) and the sandbox's configured boot time (excluded from our overhead).
"""

import statistics
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from dagster import DagsterInstance, build_sensor_context

from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.resources import ShopperSettings
from shopper_pipelines.sandbox.server import running_sandbox
from shopper_pipelines.sessions import lifecycle, store
from shopper_pipelines.sessions.defs import LIMITS_SENSOR_INTERVAL_S, destroy_session_job
from shopper_pipelines.sessions.models import SessionRequest, Status
from shopper_pipelines.sessions.provision import pick_offer, provision_session, request_session
from shopper_pipelines.settings import load_settings

pytestmark = pytest.mark.perf
LIVE_SESSIONS = 5_000
RUNS = 5
BOOT_S = 1.0


def _report(capsys, title, rows):
    with capsys.disabled():
        print(f"\n== {title}")
        for name, value in rows:
            print(f"   {name:<52} {value}")


def _median_ms(samples):
    return f"{statistics.median(samples) * 1000:8.1f} ms"


def test_bench_lifecycle_pass_over_5000_live_sessions(tmp_path, capsys, monkeypatch):
    db = tmp_path / "w.duckdb"
    monkeypatch.setenv("DATABASE_PATH", str(db))
    monkeypatch.setenv("DEPLOYMENT_ID", "bench")
    settings = load_settings()
    offer = {
        "id": "vastai:1", "provider": "vastai", "provider_offer_id": "1", "cuda": 12.4,
        "gpu_model": "RTX 4090", "gpu_count": 1, "vram_gb": 24.0, "price_per_hour": 0.3,
    }  # fmt: skip
    template = request_session(settings, SessionRequest("bench", hours=4), offer).session
    now = datetime.now(UTC)
    sessions = [
        replace(
            template,
            session_id=f"sess-b{n:05d}",
            status=Status.RUNNING,
            instance_id=str(n),
            last_active_at=now,
            idle_timeout_min=30,
            expires_at=now + timedelta(minutes=(n % 240) - 10),
        )
        for n in range(LIVE_SESSIONS)
    ]
    store.insert_sessions(db, sessions, "benchmark")
    expired_now = sum(1 for s in sessions if s.expires_at <= now)

    passes, sensor_ticks = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        due = lifecycle.due_for_stop(settings, now)
        passes.append(time.perf_counter() - started)
    assert len(due) >= expired_now > 0

    from shopper_pipelines.sessions.defs import session_limits_sensor

    with DagsterInstance.ephemeral() as instance:
        for _ in range(RUNS):
            context = build_sensor_context(instance=instance)
            started = time.perf_counter()
            requests = list(session_limits_sensor(context) or [])
            sensor_ticks.append(time.perf_counter() - started)
    assert len(requests) >= expired_now

    _report(capsys, f"lifecycle pass over {LIVE_SESSIONS:,} live sessions, median of {RUNS}", [
        ("due_for_stop (read + decide)", _median_ms(passes)),
        (f"limits sensor tick ({len(requests)} run requests)", _median_ms(sensor_ticks)),
    ])  # fmt: skip


def test_bench_expiry_to_destroy_call_and_provisioning_overhead(tmp_path, capsys, monkeypatch):
    with running_sandbox(seed=31, boot_seconds=BOOT_S, workdir=tmp_path / "inst") as url:
        monkeypatch.setenv("DATABASE_PATH", str(tmp_path / "w.duckdb"))
        monkeypatch.setenv("SANDBOX_URL", url)
        monkeypatch.setenv("DEPLOYMENT_ID", "bench")
        settings = load_settings(ssh_poll_interval_s=0.25)
        ingest(settings, ("vastai",))

        provision_times = []
        session_ids = []
        for _ in range(3):
            offer = pick_offer(settings, offer_id=None, gpu="RTX 4090")
            requested = request_session(settings, SessionRequest("bench", hours=1), offer)
            started = time.perf_counter()
            session = provision_session(settings, requested.session.session_id)
            provision_times.append(time.perf_counter() - started)
            assert session.status is Status.RUNNING, session.status_reason
            session_ids.append(session.session_id)

        # Expire them, then time the sensor tick and the destroy run up to confirmation.
        past = datetime.now(UTC) - timedelta(seconds=1)
        for session_id in session_ids:
            store.record(settings.database_path, session_id, "benchmark: expire", expires_at=past)
        from shopper_pipelines.sessions.defs import session_limits_sensor

        with DagsterInstance.ephemeral() as instance:
            started = time.perf_counter()
            requests = list(session_limits_sensor(build_sensor_context(instance=instance)) or [])
            tick = time.perf_counter() - started
            runs = []
            for request in requests:
                started = time.perf_counter()
                result = destroy_session_job.execute_in_process(
                    run_config=request.run_config,
                    instance=instance,
                    resources={"shopper": ShopperSettings()},
                )
                runs.append(time.perf_counter() - started)
                assert result.success
        assert {r.tags["reason"] for r in requests} == {"expired"}
        ended = [store.require_session(settings.database_path, s).status for s in session_ids]
        assert set(ended) == {Status.TERMINATED}

    worst = LIMITS_SENSOR_INTERVAL_S + tick + max(runs)
    _report(capsys, "sessions on the sandbox (boot 1.0 s, SSH poll 0.25 s)", [
        ("provision: request to running, median of 3", _median_ms(provision_times)),
        ("  of which ours (minus the sandbox's 1.0 s boot)",
         _median_ms([t - BOOT_S for t in provision_times])),
        ("limits sensor tick that found the expiries", f"{tick * 1000:8.1f} ms"),
        ("destroy run: start to confirmed absence (max)", f"{max(runs) * 1000:8.1f} ms"),
        (f"worst case expiry -> destroyed ({LIMITS_SENSOR_INTERVAL_S} s sensor interval)",
         f"{worst:8.1f} s"),
    ])  # fmt: skip
