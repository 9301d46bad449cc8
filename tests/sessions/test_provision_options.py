"""What provisioning sends for a workload, and failover kept to the allowed providers:
the real clients against the real sandbox over HTTP."""

import pytest

from shopper_pipelines.inventory.search import OfferFilters, search_offers
from shopper_pipelines.sandbox.server import running_sandbox
from shopper_pipelines.sessions import lifecycle
from shopper_pipelines.sessions.deployment import instance_provider
from shopper_pipelines.sessions.models import SessionRequest, Status, Workload
from shopper_pipelines.sessions.provision import provision_session, request_session
from shopper_pipelines.sessions.runtimes import OLLAMA_START, boot_setup
from tests.sandbox_support import ingested_settings, queue_faults


@pytest.fixture
def sandbox(tmp_path):
    with running_sandbox(seed=5, boot_seconds=0.3, workdir=tmp_path / "instances") as url:
        yield url


@pytest.fixture
def settings(db_path, sandbox):
    return ingested_settings(db_path, sandbox, "opts")


def _cheapest(settings, provider, gpu="RTX 4090"):
    filters = OfferFilters(provider=provider, gpu=gpu, limit=1)
    return search_offers(settings.database_path, filters).offers[0]


def test_an_llm_session_boots_with_ollama_started(settings):
    """Bug: the session's workload never reached the provider, so an `llm` instance came
    up without an inference server. Vast now gets the Ollama start-up as `onstart`."""
    offer = _cheapest(settings, "vastai")
    requested = request_session(settings, SessionRequest("demo", Workload.LLM), offer)
    session = provision_session(settings, requested.session.session_id)
    try:
        assert session.status is Status.RUNNING, session.status_reason
        assert session.instance_id is not None
        client = instance_provider(settings, "vastai")
        try:
            instance = client.get_instance(session.instance_id)
        finally:
            client.close()
        assert instance is not None and instance.raw["onstart"] == OLLAMA_START
    finally:
        lifecycle.done(settings, session.session_id)


def test_boot_setup_by_workload():
    assert boot_setup("llm", "tensordock").onstart == OLLAMA_START
    assert boot_setup("llm_vllm", "vastai").image == "vllm/vllm-openai:latest"
    assert boot_setup("llm_vllm", "tensordock").image is None  # provider default image
    assert boot_setup("training", "vastai") == boot_setup("batch", "tensordock")


def test_failover_stays_on_the_allowed_providers(settings, sandbox):
    """Bug: failover ignored a provider restriction, so a Vast-only benchmark run could
    rent on TensorDock. Seed 5 lists 3 Vast and 2 TensorDock 8x RTX A6000 offers; with
    every Vast create answering "gone", a Vast-only session fails rather than moving to
    TensorDock, while an unrestricted one does move (the control)."""
    filters = OfferFilters(provider="vastai", gpu="RTX A6000", min_gpus=8, limit=1)
    offer = search_offers(settings.database_path, filters).offers[0]
    settings = settings.model_copy(update={"max_offer_attempts": 6})
    outcomes = {}
    for providers in (("vastai",), None):
        queue_faults(sandbox, "vastai.create", *[{"behaviour": "gone"}] * 3)
        requested = request_session(settings, SessionRequest("demo"), offer)
        session_id = requested.session.session_id
        session = provision_session(settings, session_id, providers=providers)
        outcomes[providers] = session
        if session.status is Status.RUNNING:
            lifecycle.done(settings, session_id)
    restricted = outcomes[("vastai",)]
    assert restricted.status is Status.FAILED
    assert [e["offer_key"].split(":")[0] for e in restricted.offers_tried] == ["vastai"] * 3
    assert outcomes[None].status is Status.RUNNING
    assert outcomes[None].provider == "tensordock"
