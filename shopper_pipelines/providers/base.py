"""What every marketplace client offers the rest of the workspace.

A client returns the provider's own offer records (one dict per rentable unit, as the
wire gives it) plus how the fetch went; inventory owns turning them into our schema.
The instance-side calls (create, get, list, destroy) join this interface with sessions.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

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
