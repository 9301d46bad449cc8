"""Marketplace clients behind one interface, built from settings in one place."""

from shopper_pipelines.providers.base import (
    CreateRequest,
    Instance,
    InstanceProvider,
    InstanceStatus,
    OfferBatch,
    OfferSource,
    RawOffer,
    SshEndpoint,
)
from shopper_pipelines.providers.tensordock import TensorDockClient
from shopper_pipelines.providers.vastai import VastClient
from shopper_pipelines.settings import TENSORDOCK, VASTAI, ProviderEndpoint, Settings


def offer_source(endpoint: ProviderEndpoint, settings: Settings) -> OfferSource:
    """The client for one provider endpoint, with the configured timeouts and retries."""
    return _client_for(endpoint, settings)


def instance_provider(endpoint: ProviderEndpoint, settings: Settings) -> InstanceProvider:
    """The same client, typed for renting: create, get, list, destroy, attach a key."""
    return _client_for(endpoint, settings)


def _client_for(endpoint: ProviderEndpoint, settings: Settings) -> VastClient | TensorDockClient:
    key = endpoint.api_key.get_secret_value() if endpoint.api_key else None
    options = {"timeout_s": settings.http_timeout_s, "max_attempts": settings.http_max_attempts}
    if endpoint.name == VASTAI:
        return VastClient(endpoint.base_url, key, **options)
    if endpoint.name == TENSORDOCK:
        return TensorDockClient(endpoint.base_url, key, **options)
    raise ValueError(f"unknown provider {endpoint.name!r}")


__all__ = [
    "CreateRequest",
    "Instance",
    "InstanceProvider",
    "InstanceStatus",
    "OfferBatch",
    "OfferSource",
    "RawOffer",
    "SshEndpoint",
    "TensorDockClient",
    "VastClient",
    "instance_provider",
    "offer_source",
]
