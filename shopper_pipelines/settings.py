"""All configuration, read once from the environment and `.env`, typed and validated.

Invalid values fail at start-up with a message naming the variable and the value;
provider secrets are `SecretStr` so they never print.
"""

import ipaddress
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlparse

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shopper_pipelines.errors import SettingsError

VASTAI = "vastai"
TENSORDOCK = "tensordock"
PROVIDERS = (VASTAI, TENSORDOCK)

# The workspace folder (where pyproject.toml and workspace.yaml live): `.env` is read
# from here, and relative paths in settings are resolved against it, whatever the
# current directory is.
PROJECT_ROOT = Path(__file__).resolve().parents[1]

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h)?\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
# A webhook URL often carries its own token (Slack, Discord...): it is a secret too.
_SECRET_FIELDS = {"vastai_api_key", "tensordock_api_token", "alert_webhook_url"}


def parse_duration(text: str) -> int:
    """'90s', '5m', '2h' or bare seconds -> seconds. Raises ValueError on anything else."""
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"expected a duration such as 30s, 5m or 1h, got {text!r}")
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
    if seconds <= 0:
        raise ValueError(f"duration must be positive, got {text!r}")
    return seconds


def interval_to_cron(seconds: int) -> str:
    """A cron string for an interval that divides an hour or a day evenly."""
    if seconds % 60:
        raise ValueError(f"interval must be whole minutes, got {seconds}s")
    minutes = seconds // 60
    if minutes < 60 and 60 % minutes == 0:
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    if minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        hours = minutes // 60
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    raise ValueError(f"interval must divide an hour or a day evenly, got {minutes} minutes")


Port = Annotated[int, Field(ge=1, le=65535)]


class Settings(BaseSettings):
    """GPU Shopper's settings. Environment variables are the field names in upper case."""

    model_config = SettingsConfigDict(
        env_file=PROJECT_ROOT / ".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    vastai_api_key: SecretStr | None = None
    tensordock_api_token: SecretStr | None = None
    database_path: Path = Path("data/gpu-shopper.duckdb")
    dagster_home: Path = Path("data/dagster_home")
    reports_dir: Path = Path("data/reports")
    benchmark_results_dir: Path = Path("data/benchmarks")
    sandbox_url: str = "http://127.0.0.1:8787"
    vastai_url: str = "https://console.vast.ai"
    tensordock_url: str = "https://dashboard.tensordock.com/api/v2"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    inventory_interval: str = "5m"
    offer_disk_gb: Annotated[int, Field(ge=10, le=10_000)] = 100
    http_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    http_max_attempts: Annotated[int, Field(ge=1, le=10)] = 4
    warehouse_lock_timeout_s: Annotated[float, Field(gt=0, le=600)] = 15.0
    deployment_id: str | None = None
    hard_max_hours: Annotated[int, Field(ge=1, le=168)] = 12
    orphan_grace: str = "15m"
    reconcile_interval: str = "5m"
    lifecycle_interval: str = "1m"
    readiness_timeout: str | None = None  # overrides the per-workload defaults
    ssh_poll_interval_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    destroy_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    destroy_backoff_s: Annotated[float, Field(ge=0, le=300)] = 2.0
    max_offer_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    # Budget alerts: optional JSON POST, retried with backoff on 5xx, 429 and timeouts.
    alert_webhook_url: SecretStr | None = None
    alert_webhook_attempts: Annotated[int, Field(ge=1, le=10)] = 3
    alert_webhook_backoff_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    alert_webhook_timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    app_host: str = "127.0.0.1"
    app_port: Port = 8501
    dagster_host: str = "127.0.0.1"
    dagster_port: Port = 3000

    @field_validator("vastai_api_key", "tensordock_api_token", "alert_webhook_url", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value.get_secret_value()):
            raise ValueError("expected an http(s) URL")  # the value itself is not repeated
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("inventory_interval", "reconcile_interval", "lifecycle_interval")
    @classmethod
    def _valid_interval(cls, value: str) -> str:
        interval_to_cron(parse_duration(value))
        return value

    @field_validator("orphan_grace", "readiness_timeout")
    @classmethod
    def _valid_duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @field_validator("deployment_id")
    @classmethod
    def _valid_deployment(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,23}", value):
            raise ValueError(f"expected 1-24 lower-case letters, digits or '-', got {value!r}")
        return value

    @field_validator("sandbox_url", "vastai_url", "tensordock_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @field_validator("sandbox_url")
    @classmethod
    def _sandbox_on_loopback(cls, value: str) -> str:
        host = urlparse(value).hostname or ""
        if not _is_loopback(host):
            raise ValueError(f"the sandbox runs on loopback only, got host {host!r}")
        return value

    @field_validator("database_path", "dagster_home", "reports_dir", "benchmark_results_dir")
    @classmethod
    def _anchored_path(cls, value: Path) -> Path:
        if not str(value).strip() or str(value) == ".":
            raise ValueError("must name a file or folder, got an empty value")
        return value if value.is_absolute() else PROJECT_ROOT / value

    @field_validator("database_path")
    @classmethod
    def _not_a_folder(cls, value: Path) -> Path:
        if value.is_dir():
            raise ValueError(f"{str(value)!r} is a folder; name the warehouse file inside it")
        return value

    @field_validator("app_host", "dagster_host")
    @classmethod
    def _loopback_only(cls, value: str) -> str:
        # The app has no authentication yet, so it may only listen on loopback.
        host = "127.0.0.1" if value == "localhost" else value
        if not _is_loopback(host):
            raise ValueError(f"must be a loopback address (no authentication yet), got {value!r}")
        return host

    @property
    def inventory_interval_s(self) -> int:
        return parse_duration(self.inventory_interval)

    @property
    def inventory_cron(self) -> str:
        return interval_to_cron(self.inventory_interval_s)

    @property
    def reconcile_cron(self) -> str:
        return interval_to_cron(parse_duration(self.reconcile_interval))

    @property
    def lifecycle_cron(self) -> str:
        return interval_to_cron(parse_duration(self.lifecycle_interval))

    @property
    def sandbox_mode(self) -> bool:
        """No provider credentials at all: every provider talks to the sandbox."""
        return self.vastai_api_key is None and self.tensordock_api_token is None

    def provider_endpoints(self) -> list["ProviderEndpoint"]:
        """The providers to talk to, each with its base URL and key.

        With no credentials at all, both point at the sandbox. With some, a provider
        lacking credentials is skipped with one log line.
        """
        if self.sandbox_mode:
            return [
                ProviderEndpoint(VASTAI, self.sandbox_url, None, sandbox=True),
                ProviderEndpoint(TENSORDOCK, f"{self.sandbox_url}/api/v2", None, sandbox=True),
            ]
        endpoints = []
        for name, url, key in (
            (VASTAI, self.vastai_url, self.vastai_api_key),
            (TENSORDOCK, self.tensordock_url, self.tensordock_api_token),
        ):
            if key is None:  # skipped; the ingest says so once, in its log and snapshot row
                continue
            endpoints.append(ProviderEndpoint(name, url, key, sandbox=False))
        return endpoints


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ProviderEndpoint:
    name: str
    base_url: str
    api_key: SecretStr | None
    sandbox: bool


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        shown = "<hidden>" if field in _SECRET_FIELDS else repr(item.get("input"))
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{field.upper()}={shown}: {message}")
    return "invalid settings: " + "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise SettingsError naming each bad variable.

    `GPU_SHOPPER_DOTENV=0` in the environment skips `.env` (the test suite sets it, so a
    developer's real keys never reach a test's subprocesses).
    """
    if os.environ.get("GPU_SHOPPER_DOTENV") == "0" and "_env_file" not in overrides:
        overrides["_env_file"] = None
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except UnicodeDecodeError:
        raise SettingsError(f"{PROJECT_ROOT / '.env'} is not UTF-8 text") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, validated on first use."""
    return load_settings()
