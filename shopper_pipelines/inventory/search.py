"""Reading the inventory: filtered offer search, one offer, price history, snapshot status.

Filters are validated here, at the edge, with messages that name the flag and the value;
queries are parameterised and read through short read-only connections.
"""

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from shopper_pipelines.errors import InvalidInputError
from shopper_pipelines.inventory.gpu_models import (
    canonical_name,
    lookup,
    resolve_query,
    suggestions,
)
from shopper_pipelines.settings import PROVIDERS
from shopper_pipelines.warehouse import connect

SortKey = Literal["price", "vram", "reliability"]
SORT_KEYS: tuple[str, ...] = ("price", "vram", "reliability")
_ORDER_BY = {
    "price": "effective_price ASC, reliability DESC NULLS LAST, offer_key",
    "vram": "total_vram_gb DESC, effective_price ASC, offer_key",
    "reliability": "reliability DESC NULLS LAST, effective_price ASC, offer_key",
}
MAX_LIMIT = 10_000
_SINCE = re.compile(r"^\s*(\d+)\s*([hdw])\s*$")
_SINCE_UNITS = {"h": "hours", "d": "days", "w": "weeks"}
MAX_SINCE = timedelta(days=3650)

# What `inventory` prints and returns; `id` is the stable offer key.
SEARCH_COLUMNS = (
    "offer_key AS id",
    "provider",
    "provider_offer_id",
    "gpu_model",
    "gpu_count",
    "vram_gb",
    "total_vram_gb",
    "price_per_hour",
    "interruptible_price_per_hour",
    "country",
    "location",
    "reliability",
    "cuda_version AS cuda",
    "inet_down_mbps",
    "disk_gb",
    "verified",
    "valid_from AS seen_since",
)


@dataclass(frozen=True)
class OfferFilters:
    provider: str | None = None
    gpu: str | None = None
    min_vram: float | None = None
    min_total_vram: float | None = None
    max_price: float | None = None
    min_gpus: int | None = None
    country: str | None = None
    min_reliability: float | None = None
    min_cuda: float | None = None
    interruptible: bool = False
    sort: str = "price"
    limit: int = 50

    def __post_init__(self) -> None:
        if self.provider is not None:  # frozen: normalise through object.__setattr__
            object.__setattr__(self, "provider", self.provider.strip().lower())
        if self.provider is not None and self.provider not in PROVIDERS:
            raise InvalidInputError(
                f"--provider must be one of {', '.join(PROVIDERS)}, got {self.provider!r}"
            )
        for flag, value in (
            ("--min-vram", self.min_vram),
            ("--min-total-vram", self.min_total_vram),
            ("--max-price", self.max_price),
            ("--min-cuda", self.min_cuda),
            ("--min-reliability", self.min_reliability),
        ):
            if value is not None and not math.isfinite(value):
                raise InvalidInputError(f"{flag} must be a finite number, got {value}")
            if value is not None and value < 0:
                raise InvalidInputError(f"{flag} must be zero or more, got {value}")
        if self.min_gpus is not None and self.min_gpus < 1:
            raise InvalidInputError(f"--min-gpus must be 1 or more, got {self.min_gpus}")
        if self.min_reliability is not None and not 0 <= self.min_reliability <= 1:
            raise InvalidInputError(
                f"--min-reliability must be between 0 and 1, got {self.min_reliability}"
            )
        for code in self.countries:
            if not (len(code) == 2 and code.isalpha()):
                raise InvalidInputError(
                    f"--country takes 2-letter country codes such as US or DE, got {code!r}"
                )
        if self.sort not in SORT_KEYS:
            raise InvalidInputError(
                f"--sort must be one of {', '.join(SORT_KEYS)}, got {self.sort!r}"
            )
        if not 1 <= self.limit <= MAX_LIMIT:
            raise InvalidInputError(f"--limit must be 1-{MAX_LIMIT}, got {self.limit}")
        if self.gpu is not None and not self.gpu.strip():
            raise InvalidInputError("--gpu must not be empty")

    @property
    def countries(self) -> list[str]:
        if not self.country:
            return []
        return [part.strip().upper() for part in self.country.split(",") if part.strip()]

    def where(self) -> tuple[str, list[Any]]:
        clauses, params = ["available"], []
        if self.provider:
            clauses.append("provider = ?")
            params.append(self.provider)
        if self.gpu:
            clauses.append("list_contains(?, gpu_model)")
            params.append(resolve_query(self.gpu))
        for column, value in (
            ("vram_gb", self.min_vram),
            ("total_vram_gb", self.min_total_vram),
            ("gpu_count", self.min_gpus),
            ("reliability", self.min_reliability),
            ("cuda_version", self.min_cuda),
        ):
            if value is not None:
                clauses.append(f"{column} >= ?")
                params.append(value)
        if self.max_price is not None:
            clauses.append("effective_price <= ?")
            params.append(self.max_price)
        if self.countries:
            clauses.append("list_contains(?, country)")
            params.append(self.countries)
        if self.interruptible:
            clauses.append("interruptible_price_per_hour IS NOT NULL")
        return " AND ".join(clauses), params


@dataclass(frozen=True)
class SearchResult:
    offers: list[dict[str, Any]]
    total: int


def _rows(cursor: Any) -> list[dict[str, Any]]:
    names = [column[0] for column in cursor.description]
    return [
        {
            name: float(value) if isinstance(value, Decimal) else value
            for name, value in zip(names, row, strict=True)
        }
        for row in cursor.fetchall()
    ]


def _priced(filters: OfferFilters) -> str:
    price = "interruptible_price_per_hour" if filters.interruptible else "price_per_hour"
    return f"(SELECT *, {price} AS effective_price FROM offers_current)"


def search_offers(db_path: Path, filters: OfferFilters) -> SearchResult:
    """Current available offers matching the filters, best first, with the total count."""
    where, params = filters.where()
    source = _priced(filters)
    with connect(db_path, read_only=True) as con:
        total_row = con.execute(f"SELECT count(*) FROM {source} WHERE {where}", params).fetchone()
        cursor = con.execute(
            f"SELECT {', '.join(SEARCH_COLUMNS)} FROM {source} WHERE {where}"
            f" ORDER BY {_ORDER_BY[filters.sort]} LIMIT {filters.limit}",
            params,
        )
        offers = _rows(cursor)
    return SearchResult(offers, int(total_row[0]) if total_row else 0)


def get_offer(db_path: Path, offer_id: str) -> dict[str, Any] | None:
    """One current offer by its id (`vastai:123`) or the provider's own id, with raw."""
    with connect(db_path, read_only=True) as con:
        cursor = con.execute(
            f"SELECT {', '.join(SEARCH_COLUMNS)}, available, region, inet_up_mbps,"
            " max_disk_gb, cpu_cores, ram_gb, gpu_name_raw, raw FROM offers_current"
            " WHERE offer_key = $id OR provider_offer_id = $id ORDER BY offer_key LIMIT 1",
            {"id": offer_id},
        )
        rows = _rows(cursor)
    return rows[0] if rows else None


def parse_since(text: str | None) -> timedelta | None:
    """'36h', '30d', '12w' -> a window; 'all' or None -> no bound."""
    if text is None or text.strip().lower() == "all":
        return None
    match = _SINCE.match(text)
    if not match:
        raise InvalidInputError(f"--since takes a window such as 48h, 30d or 12w, got {text!r}")
    window = timedelta(**{_SINCE_UNITS[match.group(2)]: int(match.group(1))})
    if window > MAX_SINCE:
        raise InvalidInputError(f"--since is at most {MAX_SINCE.days} days (or all), got {text!r}")
    return window


def price_history(
    db_path: Path,
    gpu: str,
    *,
    since: timedelta | None = None,
    bucket: Literal["hour", "day"] = "day",
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Min and median $/GPU-hour per bucket and source for every model `gpu` selects."""
    if bucket not in ("hour", "day"):
        raise InvalidInputError(f"--bucket must be hour or day, got {bucket!r}")
    models = resolve_query(gpu)
    params: dict[str, Any] = {"models": models}
    window = ""
    if since is not None:
        window = "AND observed_at >= $start"
        params["start"] = (now or datetime.now().astimezone()) - since
    with connect(db_path, read_only=True) as con:
        cursor = con.execute(
            f"SELECT date_trunc('{bucket}', observed_at) AS bucket, source, provider,"
            "   min(min_price) AS min_price, median(median_price) AS median_price,"
            "   sum(offers) AS offer_observations"
            " FROM gpu_price_points WHERE list_contains($models, gpu_model) "
            f"{window} GROUP BY ALL ORDER BY bucket, source, provider",
            params,
        )
        return _rows(cursor)


def latest_snapshots(db_path: Path) -> list[dict[str, Any]]:
    """The newest snapshot row of each provider, whatever its status."""
    with connect(db_path, read_only=True) as con:
        cursor = con.execute(
            "SELECT snapshot_id, provider, source, status, started_at, offers_stored,"
            " offers_skipped, error FROM offer_snapshots"
            " QUALIFY row_number() OVER (PARTITION BY provider ORDER BY snapshot_id DESC) = 1"
            " ORDER BY provider"
        )
        return _rows(cursor)


def offer_facets(db_path: Path) -> dict[str, list[str]]:
    """The distinct GPU models, countries and providers among current offers."""
    with connect(db_path, read_only=True) as con:
        facets = {
            column: [
                row[0]
                for row in con.execute(
                    f"SELECT DISTINCT {column} FROM offers_current"
                    f" WHERE {column} IS NOT NULL ORDER BY 1"
                ).fetchall()
            ]
            for column in ("gpu_model", "country", "provider")
        }
    return facets


def snapshot_status(db_path: Path, limit: int = 20) -> list[dict[str, Any]]:
    """The latest snapshot rows, newest first."""
    with connect(db_path, read_only=True) as con:
        cursor = con.execute(
            "SELECT snapshot_id, provider, source, status, started_at, offers_seen,"
            " offers_stored, offers_skipped, appeared, changed, disappeared,"
            " round(duration_s, 3) AS duration_s, error"
            " FROM offer_snapshots ORDER BY snapshot_id DESC LIMIT ?",
            [limit],
        )
        return _rows(cursor)


def data_sources(db_path: Path) -> set[str]:
    """Where the current offers came from: {'sandbox'}, {'live'} or both."""
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            "SELECT DISTINCT s.source FROM offers_current o"
            " JOIN offer_snapshots s USING (snapshot_id)"
        ).fetchall()
    return {row[0] for row in rows}


def price_history_sources(db_path: Path) -> set[str]:
    """The sources present in the price history ('snapshot', 'import:neocloud', ...)."""
    with connect(db_path, read_only=True) as con:
        rows = con.execute("SELECT DISTINCT source FROM gpu_price_points").fetchall()
    return {row[0] for row in rows}


def unknown_gpu_error(db_path: Path, gpu: str) -> InvalidInputError | None:
    """An error for a GPU spelling that matches no catalogue model and nothing stored."""
    if lookup(gpu) is not None or _is_family(gpu):
        return None
    with connect(db_path, read_only=True) as con:
        stored = {
            row[0]
            for row in con.execute(
                "SELECT DISTINCT gpu_model FROM offers_current"
                " UNION SELECT DISTINCT gpu_model FROM gpu_price_points"
            ).fetchall()
        }
    if canonical_name(gpu) in stored:
        return None
    hint = suggestions(gpu, stored)
    more = f"; did you mean {', '.join(repr(name) for name in hint)}?" if hint else ""
    return InvalidInputError(f"--gpu {gpu!r} is not a GPU model we know{more}")


def _is_family(gpu: str) -> bool:
    return len(resolve_query(gpu)) > 1
