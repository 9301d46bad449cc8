"""Vast.ai client (offers side).

Offer search (`POST /api/v0/bundles/`) has no pagination, only `limit`, so we page by
key: order by id ascending and ask for `id > last seen id` until a short page comes
back. Each offer carries both prices we need: `dph_base` (on-demand compute) and
`min_bid` (the interruptible floor); disk is priced by `allocated_storage`.

Instance side (providers.md §1.6-1.12). Renting is `PUT /api/v0/asks/{id}/` and is never
repeated after a 5xx or a timeout, since a second try can rent twice: such a create
raises CreateFailedError(instance_id=None) and the reconciler finds anything it made by
label. A 429 is retried (Vast refused it). Every other call is idempotent and uses the
normal retry policy. `no_such_ask` anywhere in a failed answer means the offer is gone;
a failed answer naming `new_contract` carries that id so the caller destroys it.
"""

import json
import logging
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
from shopper_pipelines.providers.vastai_instances import (
    INSTANCE_GONE_MARKERS,
    OFFER_GONE_MARKERS,
    checked_id,
    create_body,
    describe,
    mentions,
    new_contract,
    raise_if_auth_failure,
    to_instance,
)

logger = logging.getLogger(__name__)

NAME = "vastai"
OFFERS_PATH = "/api/v0/bundles/"
PAGE_SIZE = 1000
MAX_PAGES = 200  # 200k offers: far above any real market, a guard against loops
ASKS_PATH = "/api/v0/asks/"
INSTANCE_PATH = "/api/v0/instances/"
LISTING_PATH = "/api/v1/instances/"
TEMPLATES_PATH = "/api/v0/template/"
LISTING_PAGE_SIZE = 25  # the v1 listing's maximum
MAX_LISTING_PAGES = 400  # 10k instances: a guard against a listing that never ends
# Answers that create/destroy read themselves rather than have the transport raise.
_CREATE_ANSWERED = frozenset(range(400, 600)) - {429}
_DESTROY_ANSWERED = frozenset(range(400, 500)) - {401, 403, 429}

# Every rentable offer, verified or not; the normaliser records verification.
BASE_QUERY: dict[str, Any] = {
    "rentable": {"eq": True},
    "order": [["id", "asc"]],
    "type": "on-demand",
}


class VastClient:
    name = NAME

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        timeout_s: float = 30.0,
        max_attempts: int = 4,
        page_size: int = PAGE_SIZE,
        transport: httpx.BaseTransport | None = None,
        caller: RetryingCaller | None = None,
    ) -> None:
        self._client = build_client(
            base_url, token=api_key, timeout_s=timeout_s, transport=transport
        )
        self._caller = caller or RetryingCaller(NAME, self._client, max_attempts=max_attempts)
        self.page_size = page_size

    def fetch_offers(self, *, disk_gb: int) -> OfferBatch:
        records: list[RawOffer] = []
        last_id: int | None = None
        requests = 0
        for _ in range(MAX_PAGES):
            query = {**BASE_QUERY, "limit": self.page_size, "allocated_storage": float(disk_gb)}
            if last_id is not None:
                query["id"] = {"gt": last_id}
            body = self._caller.get_json("POST", OFFERS_PATH, json=query)
            requests += 1
            page = _offers_of(body)
            records.extend(page)
            ids = [offer["id"] for offer in page if isinstance(offer.get("id"), int)]
            if len(page) < self.page_size or not ids:
                break
            if last_id is not None and max(ids) <= last_id:
                raise MalformedResponseError(NAME, f"offer search ignored id > {last_id}")
            last_id = max(ids)
        else:
            logger.warning("%s: stopped after %d pages of offers", NAME, MAX_PAGES)
        logger.info("%s: fetched %d offers in %d requests", NAME, len(records), requests)
        return OfferBatch(NAME, records, requests=requests, retries=self._caller.retries)

    def create_instance(self, request: CreateRequest) -> str:
        """Rent the ask and attach the session key; the module docstring gives the errors."""
        offer_id = checked_id(request.provider_offer_id, "provider_offer_id")
        path = f"{ASKS_PATH}{offer_id}/"
        try:
            response = self._caller.request(
                "PUT", path, json=create_body(request), accept=_CREATE_ANSWERED, idempotent=False
            )
        except ProviderDownError as error:
            raise CreateFailedError(
                NAME,
                f"create for offer {offer_id} got no usable answer ({reason(error)}); "
                f"any instance it made carries the label {request.label!r}",
                instance_id=None,
            ) from None
        body = json_or_none(response)
        instance_id = new_contract(body)
        succeeded = (
            response.is_success and isinstance(body, dict) and body.get("success") is not False
        )
        if instance_id is None or not succeeded:
            raise _create_failure(response, body, offer_id, instance_id)
        logger.info("%s: rented offer %s as instance %s", NAME, offer_id, instance_id)
        try:
            for key in (request.ssh_public_key, *request.extra_public_keys):
                self.attach_ssh_key(instance_id, key)
        except ProviderError as error:
            raise CreateFailedError(
                NAME,
                f"instance {instance_id} was created but attaching its SSH key failed: "
                f"{reason(error)}",
                instance_id=instance_id,
                status=error.status,
            ) from None
        return instance_id

    def attach_ssh_key(self, instance_id: str, public_key: str) -> None:
        """`POST /api/v0/instances/{id}/ssh/`; the key reaches the instance 10-15 s later."""
        path = f"{INSTANCE_PATH}{checked_id(instance_id, 'instance_id')}/ssh/"
        body = self._caller.get_json("POST", path, json={"ssh_key": public_key.strip()})
        if isinstance(body, dict) and body.get("success") is False:
            raise BadRequestError(NAME, f"POST {path} refused the key: {describe(body, '')}")

    def get_instance(self, instance_id: str) -> Instance | None:
        """None when Vast says the instance is gone: HTTP 404 or `instances` empty/null."""
        path = f"{INSTANCE_PATH}{checked_id(instance_id, 'instance_id')}/"
        response = self._caller.request("GET", path, params={"owner": "me"}, accept=(404,))
        if response.status_code == 404:
            raise_if_auth_failure(response.text, 404, f"GET {path}")
            return None
        body = self._caller.parse_json(response, "GET", path)
        if not isinstance(body, dict) or "instances" not in body:
            raise MalformedResponseError(NAME, f"GET {path} returned no 'instances' key")
        record = body["instances"]
        if isinstance(record, list):  # tolerate a one-row list; an empty one means gone
            record = next((r for r in record if _id_of(r) == instance_id), None)
        if not isinstance(record, dict) or not record:
            return None
        return to_instance(record, fallback_id=instance_id)

    def list_instances(self) -> list[Instance]:
        """Every instance, through all v1 pages; any failure raises, never a partial list."""
        instances: list[Instance] = []
        token: Any = None
        seen_tokens: set[str] = set()
        for _ in range(MAX_LISTING_PAGES):
            params = {"limit": json.dumps(LISTING_PAGE_SIZE)}
            if token is not None:
                params["after_token"] = token if isinstance(token, str) else json.dumps(token)
            records, token = _listing_page(
                self._caller.get_json("GET", LISTING_PATH, params=params)
            )
            instances.extend(to_instance(record) for record in records)
            if token is None:
                break
            token_key = json.dumps(token, sort_keys=True)
            if token_key in seen_tokens:
                raise MalformedResponseError(
                    NAME, f"instance listing repeated next_token {token!r}"
                )
            seen_tokens.add(token_key)
        else:
            raise MalformedResponseError(
                NAME, f"instance listing still had a next_token after {MAX_LISTING_PAGES} pages"
            )
        logger.info("%s: listed %d instances", NAME, len(instances))
        return instances

    def destroy_instance(self, instance_id: str) -> None:
        """`DELETE /api/v0/instances/{id}/`; 404 or `no_such_instance` means already gone."""
        path = f"{INSTANCE_PATH}{checked_id(instance_id, 'instance_id')}/"
        response = self._caller.request("DELETE", path, accept=_DESTROY_ANSWERED)
        body = json_or_none(response)
        refused = isinstance(body, dict) and body.get("success") is False
        if response.is_success and not refused:
            return
        status = response.status_code
        raise_if_auth_failure(response.text, status, f"DELETE {path}")
        if status == 404 or mentions(response.text, INSTANCE_GONE_MARKERS):
            logger.info("%s: instance %s was already gone", NAME, instance_id)
            return
        raise BadRequestError(
            NAME,
            f"DELETE {path} failed (HTTP {status}): {describe(body, excerpt(response))}",
            status=status,
        )

    def list_templates(self, filters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Templates matching `select_filters` (yours and public ones), full rows."""
        params = {"select_filters": json.dumps(filters or {}), "select_cols": json.dumps(["*"])}
        body = self._caller.get_json("GET", TEMPLATES_PATH, params=params)
        templates = body.get("templates") if isinstance(body, dict) else None
        if not isinstance(templates, list):
            raise MalformedResponseError(NAME, f"GET {TEMPLATES_PATH} returned no 'templates' list")
        return [template for template in templates if isinstance(template, dict)]

    def get_template(self, hash_id: str) -> dict[str, Any] | None:
        """The template with this content hash (it changes on every edit), or None."""
        matches = self.list_templates({"hash_id": {"eq": hash_id}})
        return next((t for t in matches if t.get("hash_id") == hash_id), None)

    def close(self) -> None:
        self._client.close()


def _offers_of(body: Any) -> list[RawOffer]:
    if not isinstance(body, dict) or not isinstance(body.get("offers"), list):
        shape = type(body).__name__ if not isinstance(body, dict) else sorted(body)[:5]
        raise MalformedResponseError(NAME, f"offer search returned no 'offers' list: {shape}")
    return [offer for offer in body["offers"] if isinstance(offer, dict)]


def _create_failure(
    response: httpx.Response, body: Any, offer_id: str, instance_id: str | None
) -> ProviderError:
    """The typed error for a create that did not cleanly succeed (§1.6)."""
    status = response.status_code
    detail = f"HTTP {status}: {describe(body, excerpt(response))}"
    if instance_id is not None:
        return CreateFailedError(
            NAME,
            f"create for offer {offer_id} failed ({detail}) yet made instance {instance_id}",
            instance_id=instance_id,
            status=status,
        )
    if mentions(response.text, OFFER_GONE_MARKERS):
        return OfferGoneError(
            NAME, f"offer {offer_id} is no longer available ({detail})", status=status
        )
    if status in (401, 403):
        return ProviderAuthError(
            NAME, f"credentials rejected on create for offer {offer_id} ({detail})", status=status
        )
    return CreateFailedError(
        NAME, f"create for offer {offer_id} failed ({detail})", instance_id=None, status=status
    )


def _listing_page(body: Any) -> tuple[list[dict[str, Any]], Any]:
    """(records, next token or None) from one v1 page; anything unexpected raises."""
    if not isinstance(body, dict) or body.get("success") is False:
        raise MalformedResponseError(
            NAME, f"instance listing page unreadable: {describe(body, '')}"
        )
    records = body.get("instances")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise MalformedResponseError(NAME, "instance listing page has no 'instances' list of rows")
    token = body.get("next_token")
    return records, (None if token in (None, "") else token)


def _id_of(record: Any) -> str | None:
    return str(record.get("id")) if isinstance(record, dict) else None
