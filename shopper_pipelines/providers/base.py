"""What every marketplace client offers the rest of the workspace.

Offers side: a client returns the provider's own offer records (one dict per rentable
unit, as the wire gives it) plus how the fetch went; inventory owns the normalising.

Instance side: create, get, list, destroy and key attachment, returning typed
`Instance` records whose status is normalised to a small vocabulary. `get_instance`
returns None only when the provider says the instance is gone; every failure to find
out raises a typed ProviderError, so "could not tell" never reads as "gone".
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

RawOffer = dict[str, Any]


@dataclass
class OfferBatch:
    """Every offer one provider listed in one fetch, and what the fetch cost."""

    provider: str
    records: list[RawOffer]
    requests: int = 0
    retries: int = 0
    notes: list[str] = field(default_factory=list)


class OfferSource(Protocol):
    name: str

    def fetch_offers(self, *, disk_gb: int) -> OfferBatch:
        """All current offers, priced for `disk_gb` of disk where the provider can."""
        ...

    def close(self) -> None: ...


InstanceStatus = Literal["provisioning", "running", "stopped", "failed", "unknown"]


@dataclass(frozen=True)
class SshEndpoint:
    """Where the renter connects: the provider's address, never a proxy of ours."""

    host: str
    port: int
    user: str


@dataclass(frozen=True)
class Instance:
    provider: str
    instance_id: str
    label: str | None
    status: InstanceStatus
    raw_status: str | None
    ssh: SshEndpoint | None
    price_per_hour: float | None
    created_at: datetime | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class CreateRequest:
    """Everything a provider needs to rent one offer for one session."""

    provider_offer_id: str
    label: str
    ssh_public_key: str
    disk_gb: int
    image: str | None = None
    template_hash: str | None = None
    onstart: str | None = None
    # More keys to authorise, e.g. the deployment's monitor key for idle sampling.
    extra_public_keys: tuple[str, ...] = ()


class InstanceProvider(Protocol):
    name: str

    def create_instance(self, request: CreateRequest) -> str:
        """Rent the offer; return the provider's instance id.

        Raises OfferGoneError when the offer was taken, CreateFailedError (with the
        instance id when one was made anyway) for other create failures.
        """
        ...

    def get_instance(self, instance_id: str) -> Instance | None:
        """The instance, or None when the provider says it does not exist."""
        ...

    def list_instances(self) -> list[Instance]:
        """Every instance on the account, all pages; raises rather than return a partial list."""
        ...

    def destroy_instance(self, instance_id: str) -> None:
        """Ask for destruction; an instance already gone is not an error."""
        ...

    def attach_ssh_key(self, instance_id: str, public_key: str) -> None:
        """Authorise one more public key on a running instance."""
        ...

    def close(self) -> None: ...
