"""TensorDock v2 client (offers side).

The offer catalogue is `GET /locations`: each location lists GPU models with a per-GPU
hourly price and per-unit prices for vCPU, RAM and storage. One record per
(location, GPU model) is one offer. TensorDock may answer HTTP 200 with an error body,
so every 2xx body is checked for `error` before use.
"""

import logging
from typing import Any

import httpx

from shopper_pipelines.errors import BadRequestError, MalformedResponseError
from shopper_pipelines.providers.base import OfferBatch, RawOffer
from shopper_pipelines.providers.http import RetryingCaller, build_client

logger = logging.getLogger(__name__)

NAME = "tensordock"
LOCATIONS_PATH = "/locations"
HOSTNODES_PATH = "/hostnodes"


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
