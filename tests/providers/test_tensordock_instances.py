import json
from pathlib import Path

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
from shopper_pipelines.providers.tensordock import SSH_EXTERNAL_PORTS, TensorDockClient
from shopper_pipelines.providers.tensordock_instances import normalise_status

TOKEN = "td-secret-token-789"
BASE = "http://td.test/api/v2"
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests it's-mine"
LOCATION = "8dd95ff0-dff9-489c-9b02-b38a366b6ab1"
OFFER_ID = f"{LOCATION}:geforcertx4090-pcie-24gb:2"
REQUEST = CreateRequest(
    provider_offer_id=OFFER_ID,
    label="gpu-shopper:dep1:sess1",
    ssh_public_key=PUBLIC_KEY,
    disk_gb=40,
)
_RECORDED = json.loads(
    (
        Path(__file__).parents[1]
        / "fixtures/tensordock_v2_locations_instance_cloud-gpu-shopper.json"
    ).read_text()
)
GET_BODY = next(v for k, v in _RECORDED.items() if k.startswith("GET /api/v2/instances/"))
POST_BODY = next(v for k, v in _RECORDED.items() if k.startswith("POST /api/v2/instances"))
INSTANCE_ID = GET_BODY["id"]


def _client(handler, attempts=3):
    transport = httpx.MockTransport(handler)
    http = build_client(BASE, token=TOKEN, timeout_s=5, transport=transport)
    caller = RetryingCaller("tensordock", http, max_attempts=attempts, sleep=lambda _s: None)
    return TensorDockClient(BASE, TOKEN, caller=caller)


def _create(answer, request=REQUEST):
    sent = []

    def handler(request_: httpx.Request) -> httpx.Response:
        assert (request_.method, request_.url.path) == ("POST", "/api/v2/instances")
        sent.append(json.loads(request_.content))
        return answer

    return _client(handler).create_instance(request), sent


def test_create_instance_reads_the_wrapped_answer():
    instance_id, sent = _create(httpx.Response(200, json=POST_BODY))
    assert instance_id == INSTANCE_ID
    attributes = sent[0]["data"]["attributes"]
    assert sent[0]["data"]["type"] == "virtualmachine"
    assert attributes["name"] == "gpu-shopper:dep1:sess1"
    assert attributes["image"] == "ubuntu2204"
    assert attributes["location_id"] == LOCATION
    assert attributes["resources"] == {
        "vcpu_count": 16,
        "ram_gb": 64,
        "storage_gb": 100,
        "gpus": {"geforcertx4090-pcie-24gb": {"count": 2}},
    }
    [forward] = attributes["port_forwards"]
    assert forward["internal_port"] == 22 and forward["protocol"] == "tcp"
    assert forward["external_port"] in SSH_EXTERNAL_PORTS
    assert attributes["ssh_key"] == PUBLIC_KEY


def test_create_instance_accepts_an_unwrapped_answer():
    instance_id, _ = _create(httpx.Response(201, json=POST_BODY["data"]))
    assert instance_id == INSTANCE_ID


def test_create_instance_cloud_init_installs_the_key_for_both_users():
    request = CreateRequest(OFFER_ID, "lbl", PUBLIC_KEY, 250, onstart="nvidia-smi > /tmp/gpu")
    _, sent = _create(httpx.Response(200, json=POST_BODY), request)
    attributes = sent[0]["data"]["attributes"]
    runcmd = attributes["cloud_init"]["runcmd"]
    script = "\n".join(runcmd)
    for folder in ("/root/.ssh", "/home/user/.ssh"):
        assert f"mkdir -p {folder} && chmod 700 {folder}" in runcmd
        assert f"chmod 600 {folder}/authorized_keys" in runcmd
        assert any(folder in line and "AAAAIFakeKeyForTests" in line for line in runcmd)
    # The key is shell-quoted, so its apostrophe cannot end the echo early.
    assert "'\"'\"'" in script
    assert runcmd[-1] == "nvidia-smi > /tmp/gpu"
    assert attributes["resources"]["storage_gb"] == 250


@pytest.mark.parametrize(
    "message",
    ["No available nodes found", "No available public IPs on hostnode", "HOSTNODE UNAVAILABLE"],
)
def test_create_instance_error_under_200_for_capacity_is_offer_gone(message):
    with pytest.raises(OfferGoneError, match="no longer available"):
        _create(httpx.Response(200, json={"error": message, "status": 400}))


def test_create_instance_capacity_error_under_500_is_offer_gone():
    with pytest.raises(OfferGoneError):
        _create(httpx.Response(500, json={"error": "No available nodes found"}))


def test_create_instance_other_error_under_200_is_create_failed():
    answer = httpx.Response(200, json={"error": "Insufficient balance", "status": 400})
    with pytest.raises(CreateFailedError, match="Insufficient balance") as raised:
        _create(answer)
    assert raised.value.instance_id is None
    assert TOKEN not in str(raised.value)


def test_create_instance_validation_array_is_bad_request():
    errors = [
        {"code": "too_small", "message": "must be at least 100", "path": ["storage_gb"]},
        {"code": "invalid", "message": "SSH port (22) must be forwarded", "path": []},
    ]
    with pytest.raises(BadRequestError, match="storage_gb: must be at least 100") as raised:
        _create(httpx.Response(400, json=errors))
    assert "SSH port (22) must be forwarded" in str(raised.value)
    assert not isinstance(raised.value, CreateFailedError)


def test_create_instance_5xx_and_timeout_are_not_retried():
    for answer in (httpx.Response(502, text="bad gateway"), httpx.ReadTimeout("slow")):
        calls = []

        def handler(request, answer=answer, calls=calls):
            calls.append(request)
            if isinstance(answer, Exception):
                raise answer
            return answer

        with pytest.raises(CreateFailedError) as raised:
            _client(handler).create_instance(REQUEST)
        assert raised.value.instance_id is None
        assert len(calls) == 1


def test_create_instance_429_is_retried():
    answers = iter([httpx.Response(429), httpx.Response(200, json=POST_BODY)])
    calls = []

    def handler(request):
        calls.append(request)
        return next(answers)

    assert _client(handler).create_instance(REQUEST) == INSTANCE_ID
    assert len(calls) == 2


def test_create_instance_200_without_id_is_create_failed():
    with pytest.raises(CreateFailedError, match="no instance id") as raised:
        _create(httpx.Response(200, json={"data": {"type": "virtualmachine"}}))
    assert raised.value.instance_id is None


def test_create_instance_auth_failure_hides_the_token():
    with pytest.raises(ProviderAuthError) as raised:
        _create(httpx.Response(401, json={"error": "Unauthorized"}))
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    "offer_id",
    [
        "",
        "just-a-location",
        f"{LOCATION}:rtx4090",
        f"{LOCATION}:rtx4090:0",
        f"{LOCATION}::1",
        f"{LOCATION}:rtx4090:two",
        f"{LOCATION}:rtx4090:1:extra",
    ],
)
def test_create_instance_bad_offer_id_names_the_value(offer_id):
    client = _client(lambda request: pytest.fail("no request expected"))
    with pytest.raises(BadRequestError, match="provider_offer_id must be") as raised:
        client.create_instance(CreateRequest(offer_id, "lbl", PUBLIC_KEY, 100))
    assert repr(offer_id) in str(raised.value)


def _get(answer):
    def handler(request):
        assert (request.method, request.url.path) == ("GET", f"/api/v2/instances/{INSTANCE_ID}")
        return answer

    return _client(handler).get_instance(INSTANCE_ID)


def test_get_instance_reads_the_recorded_flat_answer():
    instance = _get(httpx.Response(200, json=GET_BODY))
    assert instance is not None
    assert instance.instance_id == INSTANCE_ID
    assert instance.label == "shopper-ssh-test-1234"
    assert instance.status == "running"
    assert instance.ssh == SshEndpoint("198.51.100.71", 20456, "user")
    assert instance.price_per_hour == pytest.approx(0.272999)


@pytest.mark.parametrize(
    "body",
    [
        {"data": GET_BODY},
        {"data": {"type": "virtualmachine", "id": INSTANCE_ID, "attributes": GET_BODY}},
    ],
)
def test_get_instance_reads_wrapped_answers(body):
    instance = _get(httpx.Response(200, json=body))
    assert instance is not None
    assert instance.instance_id == INSTANCE_ID
    assert instance.ssh == SshEndpoint("198.51.100.71", 20456, "user")


def test_get_instance_without_ip_has_no_ssh_yet():
    instance = _get(httpx.Response(200, json={**GET_BODY, "ipAddress": None, "status": "starting"}))
    assert instance is not None
    assert instance.ssh is None
    assert instance.status == "provisioning"


def test_get_instance_dedicated_ip_without_forward_uses_22():
    body = {**GET_BODY, "portForwards": [], "useDedicatedIp": True}
    instance = _get(httpx.Response(200, json=body))
    assert instance is not None
    assert instance.ssh == SshEndpoint("198.51.100.71", 22, "user")


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, text="Not Found"),
        httpx.Response(200, json={"error": "Instance not found", "status": 404}),
        httpx.Response(200, json={**GET_BODY, "status": "Deleted"}),
    ],
)
def test_get_instance_gone_is_none(answer):
    assert _get(answer) is None


def test_get_instance_other_error_body_raises():
    with pytest.raises(BadRequestError, match="Organization suspended"):
        _get(httpx.Response(200, json={"error": "Organization suspended", "status": 400}))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("running", "running"),
        ("Running", "running"),
        ("starting", "provisioning"),
        ("creating", "provisioning"),
        ("queued", "provisioning"),
        ("Pending", "provisioning"),
        ("stopping", "stopped"),
        ("stopped", "stopped"),
        ("StoppedDisassociated", "stopped"),
        ("stopped_disassociated", "stopped"),
        ("Stopped-Disassociated", "stopped"),
        ("deleting", "stopped"),
        ("error", "failed"),
        ("FAILED", "failed"),
        ("Outbid", "unknown"),
        (None, "unknown"),
    ],
)
def test_normalise_status_table(raw, expected):
    assert normalise_status(raw) == expected


FLAT_ITEM = {"id": "aaaa-1", "name": "gpu-shopper:dep1:s1", "status": "running"}
JSONAPI_ITEM = {
    "type": "virtualmachine",
    "id": "bbbb-2",
    "attributes": {"name": "gpu-shopper:dep1:s2", "status": "StoppedDisassociated"},
}


@pytest.mark.parametrize(
    "body",
    [
        {"data": [FLAT_ITEM, JSONAPI_ITEM]},
        {"data": {"instances": [FLAT_ITEM, JSONAPI_ITEM]}},
        {"data": {"attributes": {"instances": [FLAT_ITEM, JSONAPI_ITEM]}}},
    ],
)
def test_list_instances_reads_all_three_shapes(body):
    def handler(request):
        assert (request.method, request.url.path) == ("GET", "/api/v2/instances")
        return httpx.Response(200, json=body)

    instances = _client(handler).list_instances()
    assert [(i.instance_id, i.label, i.status) for i in instances] == [
        ("aaaa-1", "gpu-shopper:dep1:s1", "running"),
        ("bbbb-2", "gpu-shopper:dep1:s2", "stopped"),
    ]


def test_list_instances_leaves_out_deleted_ones():
    body = {"data": [FLAT_ITEM, {**FLAT_ITEM, "id": "cccc-3", "status": "deleted"}]}
    instances = _client(lambda request: httpx.Response(200, json=body)).list_instances()
    assert [i.instance_id for i in instances] == ["aaaa-1"]


def test_list_instances_empty_account_is_an_empty_list():
    body = {"data": {"instances": []}}
    assert _client(lambda request: httpx.Response(200, json=body)).list_instances() == []


@pytest.mark.parametrize("status", [401, 403])
def test_list_instances_auth_failure_raises(status):
    client = _client(lambda request: httpx.Response(status, json={"error": "Unauthorized"}))
    with pytest.raises(ProviderAuthError) as raised:
        client.list_instances()
    assert TOKEN not in str(raised.value)


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(200, json={"error": "Unauthorized", "status": 401}), ProviderAuthError),
        (httpx.Response(200, json={"error": "Something broke", "status": 500}), BadRequestError),
        (httpx.Response(200, json={"data": {"items": []}}), MalformedResponseError),
        (httpx.Response(200, json={"instances": []}), MalformedResponseError),
        (httpx.Response(200, json={"data": ["not-a-record"]}), MalformedResponseError),
        (httpx.Response(200, json={"data": [{"name": "no id"}]}), MalformedResponseError),
        (httpx.Response(200, text="<html>oops</html>"), MalformedResponseError),
        (httpx.Response(503, text="down"), ProviderDownError),
    ],
)
def test_list_instances_unreadable_raises_never_empty(answer, error):
    with pytest.raises(error):
        _client(lambda request: answer).list_instances()


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(
            200,
            json={
                "data": {
                    "type": "success",
                    "attributes": {"message": "Instance deleted successfully"},
                }
            },
        ),
        httpx.Response(204),
        httpx.Response(404, json={"error": "Instance not found"}),
        httpx.Response(200, json={"error": "Instance not found", "status": 404}),
        httpx.Response(400, json={"error": "Instance already terminated"}),
    ],
)
def test_destroy_instance_success_and_already_gone(answer):
    def handler(request):
        assert (request.method, request.url.path) == ("DELETE", f"/api/v2/instances/{INSTANCE_ID}")
        return answer

    _client(handler).destroy_instance(INSTANCE_ID)


def test_destroy_instance_500_is_retried_then_raises():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(500, text="internal")

    with pytest.raises(ProviderDownError):
        _client(handler).destroy_instance(INSTANCE_ID)
    assert len(calls) == 3


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={"error": "Instance is locked", "status": 409}),
        httpx.Response(409, json={"error": "Instance is locked"}),
        httpx.Response(400, text="Instance is locked"),
    ],
)
def test_destroy_instance_refusal_raises(answer):
    with pytest.raises(BadRequestError, match="Instance is locked") as raised:
        _client(lambda request: answer).destroy_instance(INSTANCE_ID)
    expected = 400 if answer.status_code == 400 else 409
    assert raised.value.status == expected


def test_destroy_instance_rejects_an_unsafe_id():
    client = _client(lambda request: pytest.fail("no request expected"))
    with pytest.raises(BadRequestError, match="instance_id must be"):
        client.destroy_instance("../locations")


def test_attach_ssh_key_is_not_supported():
    client = _client(lambda request: pytest.fail("no request expected"))
    with pytest.raises(BadRequestError, match="not supported by its API"):
        client.attach_ssh_key(INSTANCE_ID, PUBLIC_KEY)


def test_create_body_authorises_extra_keys_for_both_users():
    from shopper_pipelines.providers.base import CreateRequest
    from shopper_pipelines.providers.tensordock_instances import create_body

    request = CreateRequest(
        provider_offer_id="loc-1:geforcertx4090-pcie-24gb:1",
        label="gpu-shopper:d1:sess-1",
        ssh_public_key="ssh-ed25519 AAAArenter sess-1",
        disk_gb=100,
        extra_public_keys=("ssh-ed25519 AAAAmonitor monitor",),
    )
    runcmd = create_body(request, 20022)["data"]["attributes"]["cloud_init"]["runcmd"]
    text = "\n".join(runcmd)
    for key in ("AAAArenter", "AAAAmonitor"):
        assert f"{key}" in text
        assert text.count(key) == 2  # root and user
