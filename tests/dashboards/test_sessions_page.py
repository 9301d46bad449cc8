"""Renting through the app with AppTest: a real sandbox, real instances, real SSH checks."""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import provisioning
from shopper_pipelines.inventory.service import ingest
from shopper_pipelines.sandbox.server import running_sandbox
from shopper_pipelines.sessions import lifecycle, store
from shopper_pipelines.sessions.models import SessionRequest, Status
from shopper_pipelines.sessions.provision import pick_offer, request_session
from shopper_pipelines.settings import Settings, load_settings
from shopper_pipelines.warehouse import ensure_schema
from tests.dashboards.app_support import APP_PATH

RUN_TIMEOUT_S = 60
READY_WITHIN_S = 30
SESSION_ID = re.compile(r"sess-[0-9a-f]{12}")
SESSIONS_PAGE = "pages/sessions.py"


@dataclass(frozen=True)
class Rental:
    """A sandbox marketplace, an ingested warehouse, and settings the app will also see."""

    sandbox_url: str
    settings: Settings

    def live_instances(self) -> list[dict]:
        instances = httpx.get(f"{self.sandbox_url}/_sandbox/instances").json()["instances"]
        return [instance for instance in instances if not instance["destroyed"]]


@pytest.fixture
def rental(app_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Rental]:
    """A fresh sandbox with fast-booting instances and the environment pointing at it."""
    with running_sandbox(seed=13, boot_seconds=0.2, workdir=tmp_path / "inst") as url:
        for name, value in {
            "DATABASE_PATH": str(tmp_path / "warehouse.duckdb"),
            "SANDBOX_URL": url,
            "DEPLOYMENT_ID": "apptest",
            "READINESS_TIMEOUT": "20s",
            "SSH_POLL_INTERVAL_S": "0.2",
            "DESTROY_BACKOFF_S": "0.05",
        }.items():
            app_env.setenv(name, value)
        settings = load_settings()
        ingest(settings)
        try:
            yield Rental(url, settings)
        finally:
            assert provisioning.wait_all(READY_WITHIN_S), "a provisioning child outlived its test"


def run_app(page: str | None = None) -> AppTest:
    app = AppTest.from_file(str(APP_PATH), default_timeout=RUN_TIMEOUT_S).run()
    if page:
        app.switch_page(page).run()
    assert not app.exception, [item.message for item in app.exception]
    return app


def texts(elements: object) -> str:
    return " ".join(str(item.value) for item in elements)  # type: ignore[attr-defined]


def submit_provision(app: AppTest, consumer_id: str, hours: int = 1) -> AppTest:
    app.text_input(key="provision_consumer").set_value(consumer_id)
    app.number_input(key="provision_hours").set_value(hours)
    next(button for button in app.button if button.label == "Provision").click()
    app.run()
    assert not app.exception, [item.message for item in app.exception]
    return app


def pending_session(rental: Rental, consumer_id: str) -> str:
    """A session requested straight through the API: a pending row, no instance yet."""
    offer = pick_offer(rental.settings, offer_id=None, gpu="RTX 4090")
    requested = request_session(rental.settings, SessionRequest(consumer_id), offer)
    return requested.session.session_id


def test_provision_from_shop_then_ssh_command_then_done(rental: Rental) -> None:
    app = submit_provision(run_app(), "alice")

    assert not app.error, texts(app.error)
    downloads = app.get("download_button")
    assert len(downloads) == 1 and downloads[0].proto.label == "Download private key"
    assert any("not stored" in str(item.value) for item in app.warning)
    session_id = SESSION_ID.search(texts(app.success)).group(0)  # type: ignore[union-attr]
    assert provisioning.in_progress(session_id)
    session = store.require_session(rental.settings.database_path, session_id)
    assert session.status in (Status.PENDING, Status.PROVISIONING)
    assert session.consumer_id == "alice"
    assert "PRIVATE KEY" not in repr(app.session_state)

    app.run()
    assert not app.get("download_button"), "the key must be offered once only"

    app.switch_page(SESSIONS_PAGE).run()
    table = app.dataframe[0].value
    assert table.loc[table["id"] == session_id, "consumer_id"].tolist() == ["alice"]
    assert app.selectbox(key="sessions_pick").value == session_id
    deadline = time.monotonic() + READY_WITHIN_S
    while not app.code and time.monotonic() < deadline:
        time.sleep(0.3)
        app.run()
    assert not app.exception
    command = app.code[0].value
    assert re.fullmatch(rf"ssh -i {session_id}\.key -p \d+ \S+@127\.0\.0\.1", command), command
    assert "**Status:** running" in texts(app.markdown)
    assert rental.live_instances()

    app.button(key="done").click().run()

    assert f"Session {session_id} finished: terminated." in texts(app.success)
    assert "**Status:** terminated" in texts(app.markdown)
    history = app.dataframe[1].value
    assert "running -> stopping" in history["change"].tolist()
    assert rental.live_instances() == []


def test_extend_past_hard_maximum_shows_error_then_delete(rental: Rental) -> None:
    session_id = pending_session(rental, "bob")
    app = run_app(SESSIONS_PAGE)

    app.number_input(key="extend_hours").set_value(12)
    app.button(key="extend").click().run()
    assert "hard maximum" in texts(app.error)
    assert not app.exception

    app.number_input(key="extend_hours").set_value(2)
    app.button(key="extend").click().run()
    assert f"Session {session_id} extended by 2 h" in texts(app.success)

    app.button(key="delete").click().run()
    assert f"Session {session_id} deleted: terminated." in texts(app.success)
    assert store.require_session(rental.settings.database_path, session_id).status == "terminated"
    assert rental.live_instances() == []


def test_sessions_filters_by_consumer_and_status(rental: Rental) -> None:
    mine = pending_session(rental, "carol")
    pending_session(rental, "dave")
    app = run_app(SESSIONS_PAGE)
    assert len(app.dataframe[0].value) == 2

    app.selectbox(key="sessions_consumer").set_value("carol").run()
    assert app.dataframe[0].value["id"].tolist() == [mine]

    app.multiselect(key="sessions_status").set_value(["running"]).run()
    assert "No sessions match these filters" in texts(app.info)


def test_shop_bad_consumer_id_shows_the_message(
    app_env: pytest.MonkeyPatch, sandbox_warehouse: Path
) -> None:
    app_env.setenv("DATABASE_PATH", str(sandbox_warehouse))
    app = submit_provision(run_app(), "not ok!")

    assert "--consumer" in texts(app.error) and "'not ok!'" in texts(app.error)
    assert not app.get("download_button")
    assert store.list_sessions(sandbox_warehouse) == []


def test_sessions_page_empty_states(app_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "missing.duckdb"
    app_env.setenv("DATABASE_PATH", str(missing))
    assert "gpu-shopper ingest" in texts(run_app(SESSIONS_PAGE).info)
    assert not missing.exists()

    empty = tmp_path / "empty.duckdb"
    ensure_schema(empty)
    app_env.setenv("DATABASE_PATH", str(empty))
    assert "No sessions yet" in texts(run_app(SESSIONS_PAGE).info)


def test_submitting_the_same_provision_twice_rents_once(rental: Rental) -> None:
    # Regression: Enter in a field then a click on Provision rented two instances.
    app = submit_provision(run_app(), "twice")
    app = submit_provision(app, "twice")

    assert "was just made as" in texts(app.warning)
    [session] = store.list_sessions(rental.settings.database_path, consumer_id="twice")
    assert provisioning.wait_all(READY_WITHIN_S)
    lifecycle.done(rental.settings, session.session_id)
