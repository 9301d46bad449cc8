"""This deployment's identity: its id (in every instance label) and its monitor key.

The deployment id keeps two deployments sharing a provider account from destroying each
other's instances. The monitor key is the service's own SSH identity, authorised on
every instance next to the renter's key, so the service can check readiness, sample GPU
utilisation for the idle timeout and re-key an instance after the renter's private key
(which the service never keeps) is lost. It lives in a 0600 file beside the warehouse,
never in the warehouse or logs.
"""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from shopper_pipelines import providers
from shopper_pipelines.errors import ProviderAuthError
from shopper_pipelines.providers.base import InstanceProvider
from shopper_pipelines.settings import Settings
from shopper_pipelines.ssh.keys import KeyPair, generate_key_pair

_ID_FILE = "deployment-id"
_KEY_DIR = "keys"
_MONITOR_KEY = "monitor_ed25519"


def _data_dir(settings: Settings) -> Path:
    return settings.database_path.resolve().parent


def deployment_id(settings: Settings) -> str:
    """DEPLOYMENT_ID, or an id made once for this data folder and kept beside it."""
    if settings.deployment_id:
        return settings.deployment_id
    path = _data_dir(settings) / _ID_FILE
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    made = f"d{secrets.token_hex(4)}"
    path.write_text(made + "\n")
    return made


@dataclass(frozen=True)
class MonitorKey:
    private_openssh: str
    public_openssh: str

    def __repr__(self) -> str:
        return "MonitorKey(<private>)"


def monitor_key(settings: Settings) -> MonitorKey:
    """The deployment's monitor key pair, created with 0600 permissions on first use."""
    folder = _data_dir(settings) / _KEY_DIR
    private_path = folder / _MONITOR_KEY
    public_path = folder / f"{_MONITOR_KEY}.pub"
    if not private_path.is_file():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        pair: KeyPair = generate_key_pair(f"gpu-shopper-monitor@{deployment_id(settings)}")
        descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(pair.private_openssh)
        public_path.write_text(pair.public_openssh + "\n")
    return MonitorKey(private_path.read_text(), public_path.read_text().strip())


def instance_provider(settings: Settings, provider: str) -> InstanceProvider:
    """The instance-side client of one provider (the sandbox without keys)."""
    endpoint = next((e for e in settings.provider_endpoints() if e.name == provider), None)
    if endpoint is None:
        raise ProviderAuthError(provider, "no credentials set; cannot manage its instances")
    return providers.instance_provider(endpoint, settings)
