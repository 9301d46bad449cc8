"""An in-memory provider for unit tests of session logic (the sandbox covers the wire)."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

from shopper_pipelines.errors import OfferGoneError, ProviderDownError
from shopper_pipelines.providers.base import CreateRequest, Instance


@dataclass
class FakeProvider:
    name: str = "vastai"
    instances: dict[str, Instance] = field(default_factory=dict)
    gone_offers: set[str] = field(default_factory=set)
    destroy_lies: int = 0  # how many destroy calls answer success but keep the instance
    list_fails: bool = False
    created: list[CreateRequest] = field(default_factory=list)
    destroy_calls: int = 0

    def add(self, instance_id: str, label: str | None, created_at: datetime | None = None) -> None:
        self.instances[instance_id] = Instance(
            self.name, instance_id, label, "running", "running", None, 0.4,
            created_at or datetime.now(UTC), {},
        )  # fmt: skip

    def create_instance(self, request: CreateRequest) -> str:
        if request.provider_offer_id in self.gone_offers:
            raise OfferGoneError(self.name, f"no_such_ask {request.provider_offer_id}")
        self.created.append(request)
        instance_id = str(1000 + len(self.created))
        self.add(instance_id, request.label)
        return instance_id

    def get_instance(self, instance_id: str) -> Instance | None:
        return self.instances.get(instance_id)

    def list_instances(self) -> list[Instance]:
        if self.list_fails:
            raise ProviderDownError(self.name, "listing failed (HTTP 500)")
        return list(self.instances.values())

    def destroy_instance(self, instance_id: str) -> None:
        self.destroy_calls += 1
        if self.destroy_lies > 0:
            self.destroy_lies -= 1
            return
        self.instances.pop(instance_id, None)

    def attach_ssh_key(self, instance_id: str, public_key: str) -> None:
        return None

    def close(self) -> None:
        return None
