import json
import logging
from datetime import UTC, datetime

import httpx
import pytest

from shopper_pipelines.errors import (
    BadRequestError,
    CreateFailedError,
    MalformedResponseError,
    OfferGoneError,
    ProviderAuthError,
    ProviderDownError,
)
from shopper_pipelines.providers.base import CreateRequest, SshEndpoint
from shopper_pipelines.providers.http import RetryingCaller, build_client
from shopper_pipelines.providers.vastai import VastClient
from shopper_pipelines.providers.vastai_instances import DEFAULT_IMAGE

API_KEY = "vast-secret-key-123"
INSTANCE_KEY = "instance-api-key-secret-456"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests shopper"
REQUEST = CreateRequest(
    provider_offer_id="4242",
    label="gpu-shopper:dep1:sess1",
    ssh_public_key=PUBLIC_KEY,
    disk_gb=40,
)
# A running instance as `GET /api/v0/instances/{id}/` returns it (trimmed, §1.8).
RUNNING = {
    "id": 777,
    "label": "gpu-shopper:dep1:sess1",
    "actual_status": "running",
    "intended_status": "running",
    "status_msg": "success, running vastai/base-image",
    "ssh_host": "ssh4.vast.ai",
    "ssh_port": 31234,
    "public_ipaddr": "203.0.113.7",
    "ports": {"22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40022"}]},
    "dph_total": 0.8123,
    "start_date": 1767225600.5,
    "gpu_name": "A100 SXM4",
}


def _client(handler, attempts=3):
    transport = httpx.MockTransport(handler)
    http = build_client("http://vast.test", token=API_KEY, timeout_s=5, transport=transport)
    caller = RetryingCaller("vastai", http, max_attempts=attempts, sleep=lambda _s: None)
    return VastClient("http://vast.test", API_KEY, caller=caller)


class Recorder:
    """Answers by (method, path) from queues and keeps every request it saw."""

    def __init__(self, answers):
        self.answers = {key: list(value) for key, value in answers.items()}
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.answers[(request.method, request.url.path)]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def calls(self, method, path):
        return [r for r in self.requests if (r.method, r.url.path) == (method, path)]


def _created(instance_id=777):
    return httpx.Response(
        200, json={"success": True, "new_contract": instance_id, "instance_api_key": INSTANCE_KEY}
    )


ATTACHED = httpx.Response(200, json={"success": True, "msg": "ssh key added"})


def test_create_instance_rents_then_attaches_key(caplog):
    recorder = Recorder(
        {
            ("PUT", "/api/v0/asks/4242/"): [_created()],
            ("POST", "/api/v0/instances/777/ssh/"): [ATTACHED],
        }
    )
    with caplog.at_level(logging.DEBUG):
        assert _client(recorder).create_instance(REQUEST) == "777"

    sent = json.loads(recorder.calls("PUT", "/api/v0/asks/4242/")[0].content)
    assert sent == {
        "client_id": "me",
        "image": DEFAULT_IMAGE,
        "disk": 40.0,
        "label": "gpu-shopper:dep1:sess1",
        "runtype": "ssh_direct ssh_proxy",
        "cancel_unavail": True,
    }
    attach = recorder.calls("POST", "/api/v0/instances/777/ssh/")[0]
    assert json.loads(attach.content) == {"ssh_key": PUBLIC_KEY}
    assert INSTANCE_KEY not in caplog.text


def test_create_instance_template_and_onstart_shape_the_body():
    recorder = Recorder(
        {
            ("PUT", "/api/v0/asks/4242/"): [_created()],
            ("POST", "/api/v0/instances/777/ssh/"): [ATTACHED],
        }
    )
    request = CreateRequest(
        "4242", "lbl", PUBLIC_KEY, 20, template_hash="abc123", onstart="touch ~/.no_auto_tmux"
    )
    _client(recorder).create_instance(request)
    sent = json.loads(recorder.requests[0].content)
    assert sent["template_hash_id"] == "abc123"
    assert "image" not in sent
    assert sent["onstart"] == "touch ~/.no_auto_tmux"


@pytest.mark.parametrize("status", [400, 404, 410])
def test_create_instance_no_such_ask_is_offer_gone_under_any_status(status):
    body = {
        "success": False,
        "error": "invalid_args" if status == 404 else "no_such_ask",
        "msg": f"error {status}/3603: no_such_ask Instance type by id 4242 is not available.",
        "ask_id": 4242,
    }
    client = _client(lambda request: httpx.Response(status, json=body))
    with pytest.raises(OfferGoneError, match="offer 4242 is no longer available") as raised:
        client.create_instance(REQUEST)
    assert raised.value.status == status


def test_create_instance_error_with_new_contract_carries_the_id():
    body = {
        "success": False,
        "error": "invalid_price",
        "msg": "bid too low",
        "new_contract": 9911,
        "instance_api_key": INSTANCE_KEY,
    }
    client = _client(lambda request: httpx.Response(400, json=body))
    with pytest.raises(CreateFailedError) as raised:
        client.create_instance(REQUEST)
    assert raised.value.instance_id == "9911"
    assert "invalid_price" in str(raised.value)
    assert INSTANCE_KEY not in str(raised.value)
    assert API_KEY not in str(raised.value)


def test_create_instance_other_failure_has_no_instance_id():
    body = {"success": False, "error": "missing_billing", "msg": "Insufficient credits"}
    client = _client(lambda request: httpx.Response(402, json=body))
    with pytest.raises(CreateFailedError, match="Insufficient credits") as raised:
        client.create_instance(REQUEST)
    assert raised.value.instance_id is None


def test_create_instance_5xx_is_not_retried():
    recorder = Recorder({("PUT", "/api/v0/asks/4242/"): [httpx.Response(503, text="busy")]})
    with pytest.raises(CreateFailedError) as raised:
        _client(recorder).create_instance(REQUEST)
    assert raised.value.instance_id is None
    assert len(recorder.requests) == 1


def test_create_instance_read_timeout_is_not_retried():
    recorder = Recorder({("PUT", "/api/v0/asks/4242/"): [httpx.ReadTimeout("slow")]})
    with pytest.raises(CreateFailedError, match="outcome is unknown") as raised:
        _client(recorder).create_instance(REQUEST)
    assert raised.value.instance_id is None
    assert len(recorder.requests) == 1


def test_create_instance_429_and_connect_error_are_retried():
    recorder = Recorder(
        {
            ("PUT", "/api/v0/asks/4242/"): [
                httpx.Response(429, text="API requests too frequent endpoint threshold=4.5"),
                httpx.ConnectError("refused"),
                _created(),
            ],
            ("POST", "/api/v0/instances/777/ssh/"): [ATTACHED],
        }
    )
    assert _client(recorder, attempts=4).create_instance(REQUEST) == "777"
    assert len(recorder.calls("PUT", "/api/v0/asks/4242/")) == 3


def test_create_instance_attach_failure_carries_the_new_id():
    recorder = Recorder(
        {
            ("PUT", "/api/v0/asks/4242/"): [_created(555)],
            ("POST", "/api/v0/instances/555/ssh/"): [httpx.Response(500, text="oops")],
        }
    )
    with pytest.raises(CreateFailedError, match="attaching its SSH key failed") as raised:
        _client(recorder).create_instance(REQUEST)
    assert raised.value.instance_id == "555"
    assert API_KEY not in str(raised.value)


def test_create_instance_attach_refused_in_body_carries_the_new_id():
    recorder = Recorder(
        {
            ("PUT", "/api/v0/asks/4242/"): [_created(556)],
            ("POST", "/api/v0/instances/556/ssh/"): [
                httpx.Response(200, json={"success": False, "error": "invalid_args"})
            ],
        }
    )
    with pytest.raises(CreateFailedError) as raised:
        _client(recorder).create_instance(REQUEST)
    assert raised.value.instance_id == "556"


def test_create_instance_auth_failure_hides_the_key():
    client = _client(lambda request: httpx.Response(401, json={"error": "auth_error"}))
    with pytest.raises(ProviderAuthError) as raised:
        client.create_instance(REQUEST)
    assert API_KEY not in str(raised.value)


def test_create_instance_rejects_a_non_numeric_offer_id():
    client = _client(lambda request: pytest.fail("no request expected"))
    bad = CreateRequest("../instances/1", "lbl", PUBLIC_KEY, 10)
    with pytest.raises(BadRequestError, match="provider_offer_id must be a string of digits"):
        client.create_instance(bad)


def _get(record_or_body, status=200):
    def handler(request):
        assert request.url.path == "/api/v0/instances/777/"
        assert request.url.params["owner"] == "me"
        return httpx.Response(status, json=record_or_body)

    return _client(handler).get_instance("777")


def test_get_instance_running_direct_ssh():
    instance = _get({"instances": RUNNING})
    assert instance is not None
    assert instance.status == "running"
    assert instance.raw_status == "running"
    assert instance.ssh == SshEndpoint("203.0.113.7", 40022, "root")
    assert instance.price_per_hour == pytest.approx(0.8123)
    assert instance.created_at == datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    assert instance.label == "gpu-shopper:dep1:sess1"
    assert instance.raw["gpu_name"] == "A100 SXM4"


def test_get_instance_without_port_map_uses_proxy_ssh():
    instance = _get({"instances": {**RUNNING, "ports": None}})
    assert instance is not None
    assert instance.ssh == SshEndpoint("ssh4.vast.ai", 31234, "root")


def test_get_instance_without_any_ssh_has_no_endpoint():
    record = {**RUNNING, "ports": {}, "ssh_host": None, "ssh_port": None}
    instance = _get({"instances": record})
    assert instance is not None
    assert instance.ssh is None


@pytest.mark.parametrize(
    ("actual", "message", "expected"),
    [
        ("running", "", "running"),
        ("loading", "pulling image", "provisioning"),
        (None, None, "provisioning"),
        ("created", "", "provisioning"),
        ("created", "Error: OCI runtime create failed: no GPU", "failed"),
        ("rebooting", "", "provisioning"),
        ("exited", "", "failed"),
        ("offline", "", "failed"),
        ("stopped", "", "stopped"),
        ("frozen", "", "stopped"),
        ("unknown", "", "unknown"),
        ("teleporting", "", "unknown"),
    ],
)
def test_get_instance_status_is_normalised(actual, message, expected):
    instance = _get({"instances": {**RUNNING, "actual_status": actual, "status_msg": message}})
    assert instance is not None
    assert instance.status == expected


@pytest.mark.parametrize("body", [{"instances": None}, {"instances": {}}, {"instances": []}])
def test_get_instance_null_or_empty_is_gone(body):
    assert _get(body) is None


def test_get_instance_404_is_gone():
    assert _get({"success": False, "error": "not_found"}, status=404) is None


def test_get_instance_404_with_bad_key_is_auth_error_not_gone():
    with pytest.raises(ProviderAuthError):
        _get({"success": False, "error": "auth_error", "msg": "Invalid user key"}, status=404)


def test_get_instance_without_instances_key_is_malformed():
    with pytest.raises(MalformedResponseError, match="no 'instances' key"):
        _get({"success": True})


def test_get_instance_5xx_exhaustion_raises_not_gone():
    client = _client(lambda request: httpx.Response(502, text="bad gateway"))
    with pytest.raises(ProviderDownError):
        client.get_instance("777")


def _paged_listing(pages):
    """pages: list of (records, next_token); answers by the after_token sent."""
    seen = []

    def handler(request):
        assert request.url.path == "/api/v1/instances/"
        params = dict(request.url.params)
        seen.append(params)
        index = 0 if "after_token" not in params else int(params["after_token"].split("-")[1])
        records, token = pages[index]
        return httpx.Response(
            200, json={"success": True, "instances": records, "next_token": token}
        )

    return handler, seen


def test_list_instances_follows_tokens_over_three_pages():
    pages = [
        ([{**RUNNING, "id": n} for n in range(1, 26)], "tok-1"),
        ([{**RUNNING, "id": n} for n in range(26, 51)], "tok-2"),
        ([{**RUNNING, "id": 51, "actual_status": "loading"}], None),
    ]
    handler, seen = _paged_listing(pages)
    instances = _client(handler).list_instances()
    assert [i.instance_id for i in instances] == [str(n) for n in range(1, 52)]
    assert instances[-1].status == "provisioning"
    assert [p.get("after_token") for p in seen] == [None, "tok-1", "tok-2"]
    assert all(p["limit"] == "25" for p in seen)


def test_list_instances_json_encodes_a_non_string_token():
    answers = iter(
        [
            httpx.Response(200, json={"instances": [RUNNING], "next_token": {"id": 777}}),
            httpx.Response(200, json={"instances": [], "next_token": None}),
        ]
    )
    seen = []

    def handler(request):
        seen.append(request.url.params.get("after_token"))
        return next(answers)

    assert len(_client(handler).list_instances()) == 1
    assert seen == [None, '{"id": 777}']


def test_list_instances_failure_midway_raises_never_a_partial_list():
    answers = iter(
        [
            httpx.Response(200, json={"instances": [RUNNING], "next_token": "tok-1"}),
            httpx.Response(503, text="unavailable"),
        ]
    )
    client = _client(lambda request: next(answers), attempts=1)
    with pytest.raises(ProviderDownError):
        client.list_instances()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"success": False, "error": "invalid_token"}),
        httpx.Response(200, json={"success": True}),
        httpx.Response(200, json={"instances": "none"}),
        httpx.Response(200, text="<html>maintenance</html>"),
    ],
)
def test_list_instances_unreadable_page_raises(answer):
    with pytest.raises(MalformedResponseError):
        _client(lambda request: answer).list_instances()


def test_list_instances_auth_failure_raises():
    client = _client(lambda request: httpx.Response(403, json={"error": "auth_error"}))
    with pytest.raises(ProviderAuthError) as raised:
        client.list_instances()
    assert API_KEY not in str(raised.value)


def test_list_instances_repeated_token_is_detected():
    body = {"instances": [RUNNING], "next_token": "same"}
    client = _client(lambda request: httpx.Response(200, json=body))
    with pytest.raises(MalformedResponseError, match="repeated next_token 'same'"):
        client.list_instances()


def test_list_instances_row_without_id_is_malformed():
    body = {"instances": [{"label": "x"}], "next_token": None}
    with pytest.raises(MalformedResponseError, match="without an id"):
        _client(lambda request: httpx.Response(200, json=body)).list_instances()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"success": True}),
        (404, {"success": False, "error": "not_found"}),
        (404, None),
        (400, {"success": False, "error": "no_such_instance", "msg": "no such instance"}),
        (200, {"success": False, "error": "no_such_instance"}),
    ],
)
def test_destroy_instance_success_and_already_gone(status, body):
    def handler(request):
        assert request.method == "DELETE"
        assert request.url.path == "/api/v0/instances/777/"
        return httpx.Response(status, json=body) if body else httpx.Response(status)

    _client(handler).destroy_instance("777")


def test_destroy_instance_500_raises_after_retries():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(500, text="internal error")

    with pytest.raises(ProviderDownError):
        _client(handler).destroy_instance("777")
    assert len(calls) == 3


def test_destroy_instance_other_refusal_raises():
    body = {"success": False, "error": "invalid_args", "msg": "bad id"}
    with pytest.raises(BadRequestError, match="invalid_args"):
        _client(lambda request: httpx.Response(400, json=body)).destroy_instance("777")


def test_attach_ssh_key_posts_the_key():
    seen = []

    def handler(request):
        seen.append((request.method, request.url.path, json.loads(request.content)))
        return ATTACHED

    _client(handler).attach_ssh_key("777", PUBLIC_KEY + "\n")
    assert seen == [("POST", "/api/v0/instances/777/ssh/", {"ssh_key": PUBLIC_KEY})]


def test_get_template_filters_by_hash():
    template = {"id": 1, "hash_id": "abc123", "image": "vastai/pytorch", "recommended": True}
    seen = []

    def handler(request):
        seen.append(dict(request.url.params))
        return httpx.Response(200, json={"success": True, "templates": [template]})

    client = _client(handler)
    assert client.get_template("abc123") == template
    assert client.get_template("other") is None
    assert json.loads(seen[0]["select_filters"]) == {"hash_id": {"eq": "abc123"}}
    assert json.loads(seen[0]["select_cols"]) == ["*"]


def test_list_templates_without_list_is_malformed():
    client = _client(lambda request: httpx.Response(200, json={"success": True}))
    with pytest.raises(MalformedResponseError, match="no 'templates' list"):
        client.list_templates()


def test_create_instance_attaches_every_extra_key():
    from dataclasses import replace

    recorder = Recorder(
        {
            ("PUT", "/api/v0/asks/4242/"): [_created()],
            ("POST", "/api/v0/instances/777/ssh/"): [ATTACHED],
        }
    )
    monitor = "ssh-ed25519 AAAAmonitorkey monitor"
    request = replace(REQUEST, extra_public_keys=(monitor,))
    assert _client(recorder).create_instance(request) == "777"
    keys = [
        json.loads(r.content)["ssh_key"]
        for r in recorder.calls("POST", "/api/v0/instances/777/ssh/")
    ]
    assert keys == [PUBLIC_KEY, monitor]
