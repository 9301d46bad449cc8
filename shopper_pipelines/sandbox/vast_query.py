"""Vast's offer-search query language, applied to the sandbox's records.

A query is `{field: {op: value}, ..., "order": [[field, "asc"|"desc"]], "type": ...,
"limit": n, "allocated_storage": gb}` (reference/providers.md §1.4). Nulls never match a
comparison and sort last either way.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shopper_pipelines.sandbox.vast_pricing import DEFAULT_ALLOCATED_STORAGE_GB, repriced

DEFAULT_LIMIT = 64
MAX_LIMIT = 10_000
DEFAULT_ORDER: tuple[tuple[str, bool], ...] = (("score", True),)
RESERVED_KEYS = frozenset({"order", "type", "limit", "allocated_storage"})
ON_DEMAND_TYPES = frozenset({"on-demand", "ondemand", "reserved"})
INTERRUPTIBLE_TYPES = frozenset({"bid", "interruptible"})
# The CLI adds `external eq false` by default, yet real results carry `external: null`.
NULL_AS_FALSE = frozenset({"external"})
_MISSING = object()

_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda seen, wanted: seen == wanted,
    "neq": lambda seen, wanted: seen != wanted,
    "gt": lambda seen, wanted: seen > wanted,
    "gte": lambda seen, wanted: seen >= wanted,
    "lt": lambda seen, wanted: seen < wanted,
    "lte": lambda seen, wanted: seen <= wanted,
    "in": lambda seen, wanted: seen in wanted,
    "notin": lambda seen, wanted: seen not in wanted,
}


class QueryError(ValueError):
    """The query cannot be read; the message names the key and the value seen."""


@dataclass(frozen=True)
class VastQuery:
    """A parsed search: predicates, sort keys, limit and pricing inputs."""

    predicates: tuple[Callable[[dict[str, Any]], bool], ...]
    order: tuple[tuple[str, bool], ...]  # (field, descending)
    limit: int
    allocated_storage: float
    interruptible: bool


def _getter(field: str) -> Callable[[dict[str, Any]], Any]:
    if field == "verified":
        return lambda offer: offer.get("verification", _MISSING) == "verified"
    if field == "geolocation":
        # Filters compare the two-letter country code at the end of "Region, CC".
        def country(offer: dict[str, Any]) -> Any:
            place = offer.get("geolocation", _MISSING)
            return place[-2:] if isinstance(place, str) else place

        return country
    if field in NULL_AS_FALSE:
        return lambda offer: False if offer.get(field, _MISSING) is None else offer[field]
    return lambda offer: offer.get(field, _MISSING)


def _predicate(field: str, op: str, wanted: Any) -> Callable[[dict[str, Any]], bool]:
    compare = _COMPARE.get(op)
    if compare is None:
        raise QueryError(f"unknown operator {op!r} for {field!r}; use one of {sorted(_COMPARE)}")
    if op in ("in", "notin") and not isinstance(wanted, list | tuple | set):
        raise QueryError(f"{field}.{op} needs a list, got {wanted!r}")
    get = _getter(field)

    def matches(offer: dict[str, Any]) -> bool:
        seen = get(offer)
        if seen is _MISSING or seen is None:
            return False
        try:
            return compare(seen, wanted)
        except TypeError:
            return False

    return matches


def _order(raw: Any) -> tuple[tuple[str, bool], ...]:
    if raw is None:
        return DEFAULT_ORDER
    if not isinstance(raw, list):
        raise QueryError(f"order must be a list of [field, 'asc'|'desc'], got {raw!r}")
    keys = []
    for item in raw:
        if isinstance(item, str):
            item = [item, "asc"]
        if not (isinstance(item, list) and len(item) in (1, 2) and isinstance(item[0], str)):
            raise QueryError(f"order entry must be [field, 'asc'|'desc'], got {item!r}")
        direction = item[1] if len(item) == 2 else "asc"
        if direction not in ("asc", "desc"):
            raise QueryError(f"order direction must be 'asc' or 'desc', got {direction!r}")
        keys.append((item[0], direction == "desc"))
    return tuple(keys)


def parse_query(raw: Any) -> VastQuery:
    """Read a query object as the real endpoint would; raises QueryError."""
    if not isinstance(raw, dict):
        raise QueryError(f"query must be a JSON object, got {type(raw).__name__}")
    limit = raw.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0:
        raise QueryError(f"limit must be a non-negative integer, got {limit!r}")
    storage = raw.get("allocated_storage", DEFAULT_ALLOCATED_STORAGE_GB)
    if isinstance(storage, bool) or not isinstance(storage, int | float) or storage < 0:
        raise QueryError(f"allocated_storage must be a number of GB, got {storage!r}")
    kind = raw.get("type", "on-demand")
    if kind not in ON_DEMAND_TYPES | INTERRUPTIBLE_TYPES:
        raise QueryError(f"type must be on-demand, bid, interruptible or reserved, got {kind!r}")
    predicates = []
    for field, condition in raw.items():
        if field in RESERVED_KEYS:
            continue
        if not isinstance(condition, dict):
            condition = {"eq": condition}
        predicates.extend(_predicate(field, op, value) for op, value in condition.items())
    return VastQuery(
        predicates=tuple(predicates),
        order=_order(raw.get("order")),
        limit=min(int(limit), MAX_LIMIT),
        allocated_storage=float(storage),
        interruptible=kind in INTERRUPTIBLE_TYPES,
    )


def _sort(offers: list[dict[str, Any]], order: tuple[tuple[str, bool], ...]) -> None:
    """Stable multi-key sort in place; nulls and missing values go last for every key."""
    for field, descending in reversed(order):
        present = [offer for offer in offers if offer.get(field) is not None]
        absent = [offer for offer in offers if offer.get(field) is None]
        try:
            present.sort(key=lambda offer: offer[field], reverse=descending)
        except TypeError:  # mixed types in one field: fall back to text order
            present.sort(key=lambda offer: str(offer[field]), reverse=descending)
        offers[:] = present + absent


def run_query(offers: list[dict[str, Any]], query: VastQuery) -> list[dict[str, Any]]:
    """Price, filter, order and cut `offers` (which are left untouched)."""
    if query.interruptible or query.allocated_storage != DEFAULT_ALLOCATED_STORAGE_GB:
        offers = [
            repriced(offer, query.allocated_storage, interruptible=query.interruptible)
            for offer in offers
        ]
    predicates = query.predicates
    selected = [offer for offer in offers if all(test(offer) for test in predicates)]
    _sort(selected, query.order)
    return selected[: query.limit]
