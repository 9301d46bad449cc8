"""TensorDock v2 client (offers side).

The offer catalogue is `GET /locations`: each location lists GPU models with a per-GPU
hourly price and per-unit prices for vCPU, RAM and storage. One record per
(location, GPU model) is one offer. TensorDock may answer HTTP 200 with an error body,
so every 2xx body is checked for `error` before use.

Instance side (providers.md §2.6-2.10). `POST /instances` is never repeated after a 5xx
or a timeout, since a second try can rent twice: such a create raises
CreateFailedError(instance_id=None) and the reconciler finds anything it made by name.
A 429 is retried (it was refused). "No available nodes found" and its kin, under any
HTTP status, mean the offer is gone. TensorDock has no call to add a key to a running
instance, so the key goes in at create, through `ssh_key` and cloud-init both.
"""

import logging
import random
from typing import Any

import httpx

from shopper_pipelines.errors import (
    BadRequestError,
    CreateFailedError,
    MalformedResponseError,
    OfferGoneError,
    ProviderAuthError,
    ProviderDownError,
    ProviderError,
)
from shopper_pipelines.providers.base import CreateRequest, Instance, OfferBatch, RawOffer
from shopper_pipelines.providers.http import (
    RetryingCaller,
    build_client,
    excerpt,
    json_or_none,
    reason,
)
from shopper_pipelines.providers.tensordock_instances import (
    INSTANCE_GONE_MARKERS,
    OFFER_GONE_MARKERS,
    body_status,
    checked_id,
    create_body,
    created_id,
    error_in,
    is_deleted,
    listing_items,
    mentions,
    to_instance,
    unwrap,
    validation_messages,
)

logger = logging.getLogger(__name__)

NAME = "tensordock"
LOCATIONS_PATH = "/locations"
HOSTNODES_PATH = "/hostnodes"
INSTANCES_PATH = "/instances"
# External port asked for SSH; TensorDock may hand out another, read back from GET.
SSH_EXTERNAL_PORTS = range(20000, 30000)
_AUTH_STATUSES = (401, 403)
_CREATE_ANSWERED = frozenset(range(400, 600)) - {429}
_DESTROY_ANSWERED = frozenset(range(400, 500)) - {401, 403, 429}


class TensorDockClient:
    name = NAME

    def __init__(
        self,
        base_url: str,
        api_token: str | None,
        *,
        timeout_s: float = 30.0,
        max_attempts: int = 4,
        transport: httpx.BaseTransport | None = None,
        caller: RetryingCaller | None = None,
    ) -> None:
        self._client = build_client(
            base_url, token=api_token, timeout_s=timeout_s, transport=transport
        )
        self._caller = caller or RetryingCaller(NAME, self._client, max_attempts=max_attempts)

    def fetch_offers(self, *, disk_gb: int) -> OfferBatch:
        """One record per (location, GPU model): `{"location": {...}, "gpu": {...}}`."""
        body = self._get("GET", LOCATIONS_PATH)
        locations = _data_list(body, "locations")
        records: list[RawOffer] = []
        for location in locations:
            if not isinstance(location, dict):
                continue
            gpus = location.get("gpus")
            site = {key: value for key, value in location.items() if key != "gpus"}
            for gpu in gpus if isinstance(gpus, list) else []:
                records.append({"location": site, "gpu": gpu})
        logger.info("%s: fetched %d offers from %d locations", NAME, len(records), len(locations))
        return OfferBatch(NAME, records, requests=1, retries=self._caller.retries)

    def list_hostnodes(self) -> list[dict[str, Any]]:
        return _data_list(self._get("GET", HOSTNODES_PATH), "hostnodes")

    def create_instance(self, request: CreateRequest) -> str:
        """Deploy the (location, GPU, count) offer; the module docstring gives the errors."""
        body = create_body(request, random.choice(SSH_EXTERNAL_PORTS))
        offer = request.provider_offer_id
        try:
            response = self._caller.request(
                "POST", INSTANCES_PATH, json=body, accept=_CREATE_ANSWERED, idempotent=False
            )
        except ProviderDownError as error:
            raise CreateFailedError(
                NAME,
                f"create for offer {offer} got no usable answer ({reason(error)}); "
                f"any instance it made carries the name {request.label!r}",
                instance_id=None,
            ) from None
        answer = json_or_none(response)
        instance_id = created_id(answer)
        if response.is_success and error_in(answer) is None and instance_id:
            logger.info("%s: rented offer %s as instance %s", NAME, offer, instance_id)
            return instance_id
        raise _create_failure(response, answer, offer)

    def attach_ssh_key(self, instance_id: str, public_key: str) -> None:
        """Always refused: TensorDock v2 has no call that adds a key to an instance."""
        raise BadRequestError(
            NAME,
            "adding a key to a running instance is not supported by its API; "
            f"the key for {checked_id(instance_id)} can only be set when it is created",
        )

    def get_instance(self, instance_id: str) -> Instance | None:
        """None on 404, an error body with status 404, or status `deleted`."""
        path = f"{INSTANCES_PATH}/{checked_id(instance_id)}"
        response = self._caller.request("GET", path, accept=(404,))
        if response.status_code == 404:
            return None
        body = self._caller.parse_json(response, "GET", path)
        problem = error_in(body)
        if problem is not None:
            if _says_gone(body, problem):
                return None
            raise _body_error(body, f"GET {path} answered with an error: {problem}")
        record = unwrap(body)
        return None if is_deleted(record) else to_instance(record, fallback_id=instance_id)

    def list_instances(self) -> list[Instance]:
        """Every instance on the account but those already `deleted`; failures raise."""
        body = self._caller.get_json("GET", INSTANCES_PATH)
        problem = error_in(body)
        if problem is not None:
            raise _body_error(body, f"GET {INSTANCES_PATH} answered with an error: {problem}")
        records = listing_items(body)
        instances = [to_instance(record) for record in records if not is_deleted(record)]
        logger.info("%s: listed %d instances", NAME, len(instances))
        return instances

    def destroy_instance(self, instance_id: str) -> None:
        """`DELETE /instances/{id}`; 404 (or an error saying not found) is already gone."""
        path = f"{INSTANCES_PATH}/{checked_id(instance_id)}"
        response = self._caller.request("DELETE", path, accept=_DESTROY_ANSWERED)
        body = json_or_none(response)
        problem = error_in(body)
        if response.is_success and problem is None:
            return
        if response.status_code == 404 or _says_gone(body, problem or response.text):
            logger.info("%s: instance %s was already gone", NAME, instance_id)
            return
        status = response.status_code
        detail = problem or excerpt(response)
        raise _body_error(body, f"DELETE {path} failed (HTTP {status}): {detail}", status)

    def close(self) -> None:
        self._client.close()

    def _get(self, method: str, path: str, **kwargs: Any) -> Any:
        body = self._caller.get_json(method, path, **kwargs)
        if isinstance(body, dict) and body.get("error"):
            status = body.get("status")
            raise BadRequestError(
                NAME,
                f"{method} {path} answered 2xx with an error: {str(body['error'])[:200]}",
                status=status if isinstance(status, int) else None,
            )
        return body


def _data_list(body: Any, key: str) -> list[Any]:
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and isinstance(data.get(key), list):
        return data[key]
    raise MalformedResponseError(NAME, f"no data.{key} list in the response")


def _create_failure(response: httpx.Response, answer: Any, offer: str) -> ProviderError:
    """The typed error for a create that did not cleanly succeed (§2.11)."""
    status = response.status_code
    messages = validation_messages(answer)
    if messages:
        return BadRequestError(
            NAME, f"create for offer {offer} was invalid: {'; '.join(messages)}", status=status
        )
    problem = error_in(answer) or (excerpt(response) if not response.is_success else None)
    detail = f"HTTP {status}: {problem or 'no instance id in the answer'}"
    if problem and mentions(problem, OFFER_GONE_MARKERS):
        return OfferGoneError(
            NAME, f"offer {offer} is no longer available ({detail})", status=status
        )
    if status in _AUTH_STATUSES or body_status(answer) in _AUTH_STATUSES:
        return ProviderAuthError(NAME, f"credentials rejected on create ({detail})", status=status)
    return CreateFailedError(
        NAME, f"create for offer {offer} failed ({detail})", instance_id=None, status=status
    )


def _says_gone(body: Any, problem: str) -> bool:
    return body_status(body) == 404 or mentions(problem, INSTANCE_GONE_MARKERS)


def _body_error(body: Any, message: str, status: int | None = None) -> ProviderError:
    """An answer carrying an error: auth when its status says so, else a bad request."""
    status = body_status(body) or status
    if status in _AUTH_STATUSES:
        return ProviderAuthError(NAME, message, status=status)
    return BadRequestError(NAME, message, status=status)
