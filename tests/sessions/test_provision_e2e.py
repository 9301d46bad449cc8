"""Sessions end to end: the real clients, the real sandbox over HTTP and real SSH logins."""

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import paramiko
import pytest

from shopper_pipelines.inventory.search import OfferFilters, search_offers
from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.sandbox.server import running_sandbox
from shopper_pipelines.sessions import lifecycle, store
from shopper_pipelines.sessions.models import SessionRequest, Status, label_for
from shopper_pipelines.sessions.provision import pick_offer, provision_session, request_session
from shopper_pipelines.sessions.reconcile import reconcile_provider
from shopper_pipelines.settings import load_settings
from tests.sandbox_support import queue_faults

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def sandbox(tmp_path):
    with running_sandbox(seed=5, boot_seconds=0.3, workdir=tmp_path / "instances") as url:
        yield url


@pytest.fixture
def settings(db_path, sandbox):
    settings = load_settings(
        database_path=db_path,
        sandbox_url=sandbox,
        deployment_id="e2e",
        readiness_timeout="20s",
        ssh_poll_interval_s=0.2,
        destroy_backoff_s=0.05,
        destroy_attempts=4,
        orphan_grace="1s",
    )
    ingest(settings)
    return settings


def _instances(sandbox_url):
    return httpx.get(f"{sandbox_url}/_sandbox/instances").json()["instances"]


def _live_instances(sandbox_url):
    return [i for i in _instances(sandbox_url) if not i["destroyed"]]


def _provision(settings, gpu="RTX 4090", **request):
    offer = pick_offer(settings, offer_id=None, gpu=gpu)
    requested = request_session(settings, SessionRequest("demo", **request), offer)
    return provision_session(settings, requested.session.session_id), requested.private_key


def _ssh(session, private_key, command):
    """Log in as the renter would, trusting only the host key pinned for the instance."""
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    host_type, host_b64 = session.host_key.split()
    pinned = paramiko.PKey.from_type_string(host_type, base64.b64decode(host_b64))
    client.get_host_keys().add(f"[{session.ssh_host}]:{session.ssh_port}", host_type, pinned)
    pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(private_key))
    client.connect(session.ssh_host, session.ssh_port, session.ssh_user, pkey=pkey,
                   look_for_keys=False, allow_agent=False, timeout=10)  # fmt: skip
    try:
        _, stdout, _ = client.exec_command(command, timeout=10)
        return stdout.read().decode()
    finally:
        client.close()


def test_provision_hands_off_ssh_and_done_confirms_destruction(settings, sandbox):
    session, private_key = _provision(settings)
    assert session.status is Status.RUNNING, session.status_reason
    assert session.host_key and session.ssh_port and session.ssh_user == "root"
    # The renter's own key works against the pinned host key, and the GPU is the offer's.
    output = _ssh(session, private_key, "nvidia-smi --query-gpu=name --format=csv,noheader")
    assert "4090" in output
    [live] = _live_instances(sandbox)
    assert live["label"] == label_for("e2e", session.session_id)

    ended = lifecycle.done(settings, session.session_id)

    assert ended.status is Status.TERMINATED
    assert _live_instances(sandbox) == []
    reasons = [e["reason"] for e in store.events(settings.database_path, session.session_id)]
    assert any("confirmed gone" in reason for reason in reasons)


def test_offer_gone_at_rent_falls_over_to_the_next_offer(settings, sandbox):
    queue_faults(sandbox, "vastai.create", {"behaviour": "gone"})
    session, _ = _provision(settings)
    assert session.status is Status.RUNNING, session.status_reason
    outcomes = [entry["outcome"] for entry in session.offers_tried]
    assert outcomes[0].startswith("gone") and outcomes[-1] == "created"
    lifecycle.done(settings, session.session_id)


def test_destroy_that_lies_is_retried_until_confirmed(settings, sandbox):
    session, _ = _provision(settings)
    queue_faults(sandbox, "vastai.destroy", {"behaviour": "destroy-lies"})
    ended = lifecycle.delete(settings, session.session_id)
    assert ended.status is Status.TERMINATED
    assert _live_instances(sandbox) == []


def test_instance_stuck_loading_times_out_and_is_destroyed(settings, sandbox):
    queue_faults(sandbox, "vastai.create", {"behaviour": "stuck-loading"})
    session, _ = _provision(settings.model_copy(update={"readiness_timeout": "3s"}))
    assert session.status is Status.TERMINATED
    assert "not ready within 3s" in (session.status_reason or "")
    assert _live_instances(sandbox) == []


def test_ssh_never_ready_times_out_and_is_destroyed(settings, sandbox):
    queue_faults(sandbox, "vastai.create", {"behaviour": "ssh-never-ready"})
    session, _ = _provision(settings.model_copy(update={"readiness_timeout": "3s"}))
    assert session.status is Status.TERMINATED
    assert "SSH not ready" in (session.status_reason or "")
    assert _live_instances(sandbox) == []


def test_create_that_fails_but_leaves_an_instance_is_destroyed(settings, sandbox):
    queue_faults(sandbox, "vastai.create", {"behaviour": "create-leaks"})
    session, _ = _provision(settings)
    assert session.status is Status.TERMINATED
    assert session.instance_id is not None
    assert _live_instances(sandbox) == []


def _rent_behind_our_back(sandbox_url, offer_id, label):
    answer = httpx.put(
        f"{sandbox_url}/api/v0/asks/{offer_id}/", json={"label": label, "disk": 20, "image": "x"}
    )
    assert answer.json()["success"], answer.text


def _vast_offer_ids(settings, count):
    found = search_offers(settings.database_path, OfferFilters(provider="vastai", limit=count))
    return [offer["provider_offer_id"] for offer in found.offers]


def test_reconciler_destroys_our_orphan_and_leaves_another_deployment_alone(settings, sandbox):
    ours, theirs = _vast_offer_ids(settings, 2)
    _rent_behind_our_back(sandbox, ours, label_for("e2e", "sess-behind-our-back"))
    _rent_behind_our_back(sandbox, theirs, label_for("other", "sess-theirs"))

    first = reconcile_provider(settings, "vastai")
    assert first.orphans_waiting and not first.orphans_destroyed  # inside ORPHAN_GRACE
    time.sleep(1.2)  # past ORPHAN_GRACE=1s
    report = reconcile_provider(settings, "vastai")

    assert report.error is None
    assert len(report.orphans_destroyed) == 1
    assert [i["label"] for i in _live_instances(sandbox)] == [label_for("other", "sess-theirs")]


def test_reconciler_listing_failure_destroys_nothing(settings, sandbox):
    [offer_id] = _vast_offer_ids(settings, 1)
    _rent_behind_our_back(sandbox, offer_id, label_for("e2e", "sess-x"))
    queue_faults(sandbox, "vastai.list", *[{"status": 500}] * 4)
    report = reconcile_provider(settings, "vastai")
    assert report.error is not None and "pass aborted" in report.error
    assert len(_live_instances(sandbox)) == 1


def test_tensordock_session_end_to_end(settings, sandbox):
    offer = next(
        o
        for o in pick_offer_list(settings)
        if o["provider"] == "tensordock" and o["gpu_count"] == 1
    )
    requested = request_session(settings, SessionRequest("demo"), offer)
    session = provision_session(settings, requested.session.session_id)
    assert session.status is Status.RUNNING, session.status_reason
    assert session.ssh_user == "user"
    assert _ssh(session, requested.private_key, "echo ok").strip() == "ok"
    assert lifecycle.done(settings, session.session_id).status is Status.TERMINATED
    assert _live_instances(sandbox) == []


def pick_offer_list(settings):
    from shopper_pipelines.inventory.search import OfferFilters, search_offers

    return search_offers(
        settings.database_path, OfferFilters(provider="tensordock", limit=50)
    ).offers


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs the OpenSSH client")
def test_cli_provision_then_openssh_then_done(settings, sandbox, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env.update(DATABASE_PATH=str(settings.database_path), SANDBOX_URL=sandbox,
               DEPLOYMENT_ID="e2e", READINESS_TIMEOUT="20s", SSH_POLL_INTERVAL_S="0.2")  # fmt: skip
    key = tmp_path / "k"
    cli = [sys.executable, "-m", "shopper_pipelines.cli.main"]
    argv = [*cli, "provision", "-c", "demo", "-g", "RTX 4090", "-t", "1",
            "--save-key", str(key), "-o", "json"]  # fmt: skip
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    session = json.loads(result.stdout)["session"]
    assert session["status"] == "running"
    assert "private_key" not in json.loads(result.stdout)
    assert key.stat().st_mode & 0o777 == 0o600
    ssh = subprocess.run(
        ["ssh", "-i", str(key), "-p", str(session["ssh_port"]), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         f"{session['ssh_user']}@{session['ssh_host']}", "nvidia-smi"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ssh.returncode == 0, ssh.stderr
    assert "RTX 4090" in ssh.stdout
    # SFTP both ways with the saved key, through the CLI.
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(50_000))
    for args in (
        ["transfer", "upload", str(source), f"{session['id']}:weights.bin", "-k", str(key)],
        ["transfer", "download", f"{session['id']}:weights.bin", str(tmp_path / "back.bin"),
         "-k", str(key)],
    ):  # fmt: skip
        moved = subprocess.run([*cli, *args], cwd=REPO, env=env, capture_output=True, text=True)
        assert moved.returncode == 0, moved.stdout + moved.stderr
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    done = subprocess.run([*cli, "sessions", "done", session["id"]], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert _live_instances(sandbox) == []


@pytest.mark.parametrize("provider", ["vastai", "tensordock"])
def test_rekey_installs_a_working_new_key(settings, sandbox, provider):
    offer = next(o for o in _offers(settings, provider) if o["gpu_count"] == 1)
    requested = request_session(settings, SessionRequest("demo"), offer)
    session = provision_session(settings, requested.session.session_id)
    assert session.status is Status.RUNNING, session.status_reason

    rekeyed, new_private = lifecycle.rekey(settings, session.session_id)

    assert new_private != requested.private_key
    assert _ssh(rekeyed, new_private, "echo rekeyed").strip() == "rekeyed"
    assert new_private.splitlines()[1].encode() not in settings.database_path.read_bytes()
    lifecycle.done(settings, session.session_id)


def test_idle_sampling_moves_activity_and_idle_sessions_become_due(settings, sandbox):
    session, _ = _provision(settings, idle_timeout_min=5)
    [instance] = _live_instances(sandbox)
    before = session.last_active_at
    httpx.post(f"{sandbox}/_sandbox/instances/vastai/{instance['id']}/gpu",
               json={"utilization": 85}).raise_for_status()  # fmt: skip
    assert lifecycle.sample_activity(settings, session.session_id) == 85
    busy = store.require_session(settings.database_path, session.session_id)
    assert busy.last_active_at is not None and before is not None
    assert busy.last_active_at > before

    httpx.post(f"{sandbox}/_sandbox/instances/vastai/{instance['id']}/gpu",
               json={"utilization": 0}).raise_for_status()  # fmt: skip
    assert lifecycle.sample_activity(settings, session.session_id) == 0
    idle_since = store.require_session(settings.database_path, session.session_id).last_active_at
    assert idle_since == busy.last_active_at  # an idle sample does not count as activity
    due = lifecycle.due_for_stop(settings, busy.last_active_at + timedelta(minutes=6))
    assert [(d.session_id, d.reason) for d in due] == [(session.session_id, "idle")]
    lifecycle.done(settings, session.session_id)


def _offers(settings, provider):
    return search_offers(settings.database_path, OfferFilters(provider=provider, limit=50)).offers


def _cli_env(settings, sandbox):
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env.update(DATABASE_PATH=str(settings.database_path), SANDBOX_URL=sandbox,
               DEPLOYMENT_ID="e2e", READINESS_TIMEOUT="60s", SSH_POLL_INTERVAL_S="0.2",
               DESTROY_BACKOFF_S="0.05", PYTHONUNBUFFERED="1")  # fmt: skip
    return env


CLI = [sys.executable, "-m", "shopper_pipelines.cli.main"]


def test_ctrl_c_during_provision_destroys_what_it_made(settings, sandbox, tmp_path):
    # Regression: an interrupted provision left its instance billing and the row stuck.
    queue_faults(sandbox, "vastai.create", {"behaviour": "stuck-loading"})
    process = subprocess.Popen(
        [*CLI, "provision", "-c", "demo", "-g", "RTX 4090", "--save-key", str(tmp_path / "k")],
        cwd=REPO, env=_cli_env(settings, sandbox), stderr=subprocess.PIPE, text=True,
        stdout=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    assert process.stderr is not None
    for line in process.stderr:
        if "waiting for SSH" in line:
            break
    os.killpg(process.pid, signal.SIGINT)
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 130, rest
    assert "destroying what it made" in rest
    assert _live_instances(sandbox) == []
    [session] = store.list_sessions(settings.database_path)
    assert session.status is Status.TERMINATED
    assert "abandoned: interrupted" in (session.status_reason or "")


def test_save_key_onto_a_dangling_link_writes_no_session(settings, sandbox, tmp_path):
    # Regression: the row was written first and a Dagster sensor later rented it, keyless.
    link = tmp_path / "lnk"
    link.symlink_to(tmp_path / "missing")
    result = subprocess.run(
        [*CLI, "provision", "-c", "demo", "-g", "RTX 4090", "--save-key", str(link)],
        cwd=REPO, env=_cli_env(settings, sandbox), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "already exists" in result.stderr
    assert store.list_sessions(settings.database_path) == []


def test_failed_download_leaves_the_local_file_alone(settings, sandbox, tmp_path):
    # Regression: a download of a missing remote file truncated the local file to 0 bytes.
    key = tmp_path / "k"
    env = _cli_env(settings, sandbox)
    made = subprocess.run(
        [*CLI, "provision", "-c", "demo", "-g", "RTX 4090", "--save-key", str(key), "-o", "json"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    session_id = json.loads(made.stdout)["session"]["id"]
    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    for extra, message in (([], "already exists"), (["--force"], "'does-not-exist' failed")):
        result = subprocess.run(
            [*CLI, "transfer", "download", f"{session_id}:does-not-exist", str(precious),
             "-k", str(key), *extra],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert result.returncode != 0
        assert message in result.stderr
        assert precious.read_text() == "keep me\n"
    subprocess.run([*CLI, "sessions", "done", session_id], cwd=REPO, env=env, timeout=120)


def test_cleanup_orphans_leaves_live_sessions_alone(settings, sandbox):
    # Regression: --execute destroyed the instance of a running session.
    session, _ = _provision(settings)
    [offer_id] = _vast_offer_ids(settings, 1)
    _rent_behind_our_back(sandbox, offer_id, label_for("e2e", "sess-orphan"))
    result = subprocess.run(
        [*CLI, "cleanup-orphans", "--execute", "--force", "-p", "vastai"],
        cwd=REPO, env=_cli_env(settings, sandbox), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Cleanup complete: 1 destroyed, 0 failed" in result.stdout
    [left] = _live_instances(sandbox)
    assert left["label"] == session.label
    lifecycle.done(settings, session.session_id)
