"""Vast.ai client (offers side).

Offer search (`POST /api/v0/bundles/`) has no pagination, only `limit`, so we page by
key: order by id ascending and ask for `id > last seen id` until a short page comes
back. Each offer carries both prices we need: `dph_base` (on-demand compute) and
`min_bid` (the interruptible floor); disk is priced by `allocated_storage`.
"""

import logging
from typing import Any

import httpx

from shopper_pipelines.errors import MalformedResponseError
from shopper_pipelines.providers.base import OfferBatch, RawOffer
from shopper_pipelines.providers.http import RetryingCaller, build_client

logger = logging.getLogger(__name__)

NAME = "vastai"
OFFERS_PATH = "/api/v0/bundles/"
PAGE_SIZE = 1000
MAX_PAGES = 200  # 200k offers: far above any real market, a guard against loops

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

    def close(self) -> None:
        self._client.close()


def _offers_of(body: Any) -> list[RawOffer]:
    if not isinstance(body, dict) or not isinstance(body.get("offers"), list):
        shape = type(body).__name__ if not isinstance(body, dict) else sorted(body)[:5]
        raise MalformedResponseError(NAME, f"offer search returned no 'offers' list: {shape}")
    return [offer for offer in body["offers"] if isinstance(offer, dict)]
