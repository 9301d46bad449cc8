"""TensorDock v2 `/hostnodes` and `/locations` items for one tick.

The sites and hostnodes are fixed for a seed; what moves is each hostnode's stock and
price of each GPU model, one draw per (hostnode, GPU, epoch). A location's `gpus[]` is
the summary of its hostnodes, so both endpoints always agree.
"""

from typing import Any

from shopper_pipelines.sandbox.hashing import mix, stable_uuid, unit
from shopper_pipelines.sandbox.market_data import MarketData, TensorDockGpu

# (city, stateprovince, country): the recorded sample's site first, then sites of our own.
SITES: tuple[tuple[str, str, str], ...] = (
    ("Chubbuck", "Idaho", "United States"),
    ("Joplin", "Missouri", "United States"),
    ("Winnipeg", "Manitoba", "Canada"),
    ("Dallas", "Texas", "United States"),
    ("Chicago", "Illinois", "United States"),
    ("Los Angeles", "California", "United States"),
    ("New York", "New York", "United States"),
    ("Atlanta", "Georgia", "United States"),
    ("Kansas City", "Missouri", "United States"),
    ("Salt Lake City", "Utah", "United States"),
    ("Seattle", "Washington", "United States"),
    ("Ashburn", "Virginia", "United States"),
    ("Orlando", "Florida", "United States"),
    ("Phoenix", "Arizona", "United States"),
    ("Denver", "Colorado", "United States"),
    ("Las Vegas", "Nevada", "United States"),
    ("Omaha", "Nebraska", "United States"),
    ("Boston", "Massachusetts", "United States"),
    ("Toronto", "Ontario", "Canada"),
    ("Montreal", "Quebec", "Canada"),
    ("Vancouver", "British Columbia", "Canada"),
    ("London", "England", "United Kingdom"),
    ("Manchester", "England", "United Kingdom"),
    ("Amsterdam", "North Holland", "Netherlands"),
    ("Frankfurt", "Hesse", "Germany"),
    ("Helsinki", "Uusimaa", "Finland"),
    ("Stockholm", "Stockholm County", "Sweden"),
    ("Oslo", "Oslo", "Norway"),
    ("Paris", "Île-de-France", "France"),
    ("Warsaw", "Masovia", "Poland"),
    ("Prague", "Prague", "Czechia"),
    ("Bucharest", "Bucharest", "Romania"),
    ("Madrid", "Madrid", "Spain"),
    ("Milan", "Lombardy", "Italy"),
    ("Zurich", "Zurich", "Switzerland"),
    ("Tokyo", "Tokyo", "Japan"),
    ("Singapore", "Singapore", "Singapore"),
    ("Taipei", "Taipei", "Taiwan"),
    ("Sydney", "New South Wales", "Australia"),
    ("Mumbai", "Maharashtra", "India"),
    ("Seoul", "Seoul", "South Korea"),
    ("Hong Kong", "Hong Kong", "Hong Kong"),
    ("São Paulo", "São Paulo", "Brazil"),
    ("Johannesburg", "Gauteng", "South Africa"),
)

# Relative odds of each GPU model on a hostnode, by v0Name; unknown models get 1.
GPU_ODDS: dict[str, int] = {
    "geforcertx4090-pcie-24gb": 6,
    "geforcertx3090-pcie-24gb": 3,
    "rtxa6000-pcie-48gb": 3,
    "geforcertx3080-pcie-10gb": 1,
    "a100-pcie-80gb": 2,
    "h100-sxm5-80gb": 1,
}
# v0Name -> Vast variant whose drift series it follows (others follow the market mean).
DRIFT_VARIANT: dict[str, str] = {"a100-pcie-80gb": "A100 PCIE", "h100-sxm5-80gb": "H100 SXM"}

HOSTNODES_PER_SITE = (1, 4)
GPU_MODELS_PER_HOSTNODE = (1, 4)
STOCK_EPOCH_TICKS = (30, 120)
SOLD_OUT_SHARE = 0.15
PRICE_JITTER = 0.03
# TensorDock posts list prices that move less than a bidding market: half the drift.
DRIFT_DAMPING = 0.5
PER_VCPU_HR, PER_GB_RAM_HR, PER_GB_STORAGE_HR = 0.003, 0.002, 0.00005
VCPUS = (32, 56, 64, 96, 128)
RAM_GB = (128, 256, 331, 512)
STORAGE_GB = (2000, 5000, 10000, 30200)
GPUS_PER_HOSTNODE = (2, 4, 8)
PORT_BASE, PORT_SPAN, PORTS_LISTED = 20_000, 40_000, 5
# The sample's Chubbuck hostnode: an RTX 4090 node with 56 vCPUs, 331 GB RAM, 30.2 TB disk.
SAMPLE_SITE_SPEC = (("geforcertx4090-pcie-24gb",), 56, 331, 30200, 4)

_SALT_SITE, _SALT_NODE, _SALT_STOCK, _SALT_PRICE, _SALT_PORT = range(90, 95)


def _pick(options: tuple[Any, ...], *parts: int) -> Any:
    return options[mix(*parts) % len(options)]


def _hostnode_specs(seed: int, gpus: tuple[TensorDockGpu, ...]) -> list[dict[str, Any]]:
    """The fixed part of every hostnode for this seed: site, models, capacity."""
    names = [gpu.v0_name for gpu in gpus]
    weighted = [name for name in names for _ in range(GPU_ODDS.get(name, 1))]
    nodes = []
    for site_index, (city, state, country) in enumerate(SITES):
        low, high = HOSTNODES_PER_SITE
        count = low + mix(seed, _SALT_SITE, site_index) % (high - low + 1)
        location = {
            "uuid": stable_uuid(seed, _SALT_SITE, site_index),
            "city": city,
            "stateprovince": state,
            "country": country,
            "tier": 1 if site_index == 0 else 1 + mix(seed, _SALT_SITE, site_index, 1) % 3,
            "has_network_storage": mix(seed, _SALT_SITE, site_index, 2) % 2 == 0,
            "network_speed_gbps": _pick((1, 10, 25), seed, _SALT_SITE, site_index, 3),
            "network_speed_upload_gbps": _pick((1, 10), seed, _SALT_SITE, site_index, 4),
            "organization": stable_uuid(seed, _SALT_SITE, site_index, 5),
            "organizationName": f"Sandbox Hosting {site_index + 1:02d}",
        }
        for node_index in range(count):
            key = (seed, _SALT_NODE, site_index, node_index)
            model_count = 1 + mix(*key) % GPU_MODELS_PER_HOSTNODE[1]
            models = tuple(
                dict.fromkeys(_pick(tuple(weighted), *key, m) for m in range(model_count))
            )
            spec = (
                models,
                _pick(VCPUS, *key, 1),
                _pick(RAM_GB, *key, 2),
                _pick(STORAGE_GB, *key, 3),
                _pick(GPUS_PER_HOSTNODE, *key, 4),
            )
            if site_index == 0 and node_index == 0 and SAMPLE_SITE_SPEC[0][0] in names:
                spec = SAMPLE_SITE_SPEC
            nodes.append({"id": stable_uuid(*key), "key": key, "spec": spec, "location": location})
    return nodes


def _factor(data: MarketData, v0_name: str, tick: int) -> float:
    series = data.factors.get(DRIFT_VARIANT.get(v0_name, ""), data.mean_factor)
    return 1.0 + (series[tick % data.snapshot_count] - 1.0) * DRIFT_DAMPING


def _stock_and_price(
    data: MarketData, gpu: TensorDockGpu, key: tuple[int, ...], capacity: int, tick: int
) -> tuple[int, float]:
    low, high = STOCK_EPOCH_TICKS
    period = low + mix(*key, _SALT_STOCK, 1) % (high - low + 1)
    phase = mix(*key, _SALT_STOCK) % period
    epoch = (tick + phase) // period
    epoch_start = max(epoch * period - phase, 0)
    roll = unit(*key, _SALT_STOCK, epoch)
    available = 0 if roll < SOLD_OUT_SHARE else 1 + mix(*key, _SALT_STOCK, epoch, 2) % capacity
    level = gpu.price_low + (gpu.price_high - gpu.price_low) * unit(*key, _SALT_PRICE)
    jitter = 1.0 + (2.0 * unit(*key, _SALT_PRICE, epoch) - 1.0) * PRICE_JITTER
    return available, round(level * jitter * _factor(data, gpu.v0_name, epoch_start), 4)


def build_hostnodes(seed: int, data: MarketData, tick: int) -> list[dict[str, Any]]:
    """v2 `/hostnodes` items (providers.md §2.5) at `tick`."""
    by_name = {gpu.v0_name: gpu for gpu in data.tensordock_gpus}
    items = []
    for node in _hostnode_specs(seed, data.tensordock_gpus):
        models, vcpus, ram_gb, storage_gb, capacity = node["spec"]
        gpus = []
        for model_index, name in enumerate(models):
            key = (*node["key"], model_index)
            available, price = _stock_and_price(data, by_name[name], key, capacity, tick)
            if available:
                gpus.append({"v0Name": name, "availableCount": available, "price_per_hr": price})
        first_port = PORT_BASE + mix(*node["key"], _SALT_PORT) % PORT_SPAN
        items.append(
            {
                "id": node["id"],
                "location_id": node["location"]["uuid"],
                "engine": "kvm",
                "uptime_percentage": round(97.0 + 3.0 * unit(*node["key"], 9), 2),
                "available_resources": {
                    "gpus": gpus,
                    "vcpu_count": vcpus,
                    "ram_gb": ram_gb,
                    "storage_gb": storage_gb,
                    "max_vcpus_per_gpu": vcpus // capacity,
                    "max_ram_per_gpu": ram_gb // capacity,
                    "max_vcpus": vcpus,
                    "max_ram_gb": ram_gb,
                    "max_storage_gb": storage_gb,
                    "available_ports": list(range(first_port, first_port + PORTS_LISTED)),
                    "has_public_ip_available": mix(*node["key"], 10) % 3 != 0,
                },
                "pricing": _pricing(),
                "location": dict(node["location"]),
            }
        )
    return items


def _pricing() -> dict[str, float]:
    return {
        "per_vcpu_hr": PER_VCPU_HR,
        "per_gb_ram_hr": PER_GB_RAM_HR,
        "per_gb_storage_hr": PER_GB_STORAGE_HR,
    }


def build_locations(data: MarketData, hostnodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """v2 `/locations` items (providers.md §2.4), summarising `hostnodes`."""
    display = {gpu.v0_name: gpu.display_name for gpu in data.tensordock_gpus}
    locations: dict[str, dict[str, Any]] = {}
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for node in hostnodes:
        place = node["location"]
        location = locations.setdefault(
            place["uuid"],
            {
                "id": place["uuid"],
                "city": place["city"],
                "stateprovince": place["stateprovince"],
                "country": place["country"],
                "tier": place["tier"],
                "gpus": [],
            },
        )
        resources = node["available_resources"]
        for gpu in resources["gpus"]:
            entry = best.get((place["uuid"], gpu["v0Name"]))
            if entry is None:
                entry = {
                    "v0Name": gpu["v0Name"],
                    "displayName": display[gpu["v0Name"]],
                    "max_count": 0,
                    "price_per_hr": gpu["price_per_hr"],
                    "resources": {},
                    "pricing": _pricing(),
                    "network_features": {
                        "dedicated_ip_available": resources["has_public_ip_available"],
                        "port_forwarding_available": True,
                        "network_storage_available": place["has_network_storage"],
                    },
                }
                best[(place["uuid"], gpu["v0Name"])] = entry
                location["gpus"].append(entry)
            entry["price_per_hr"] = min(entry["price_per_hr"], gpu["price_per_hr"])
            if gpu["availableCount"] > entry["max_count"]:
                entry["max_count"] = gpu["availableCount"]
                entry["resources"] = {
                    "max_vcpus": resources["max_vcpus"],
                    "max_ram_gb": resources["max_ram_gb"],
                    "max_storage_gb": resources["max_storage_gb"],
                }
    return list(locations.values())
