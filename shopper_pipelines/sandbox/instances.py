"""Sandbox instances: what each rented machine is, its life, its keys and its files.

An instance is created by a provider route, shows as provisioning/loading for
`boot_seconds`, then starts its inference server (Ollama and OpenAI stand-ins, see
`inference_server`) and a real SSH server (see `ssh_server`) and shows as running with a
port. Its folder holds `home/` (cwd, HOME and SFTP root) and `bin/` (the `nvidia-smi`
stand-in and the `gpu.json` it reports). Destroying stops both servers and deletes the
folder; a crash stops both. All methods are safe to call from any thread.
"""

import asyncio
import contextlib
import itertools
import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncssh

from shopper_pipelines.sandbox.hashing import mix, stable_uuid
from shopper_pipelines.sandbox.inference_server import (
    InferenceServers,
    InstanceServer,
    inference_env,
)
from shopper_pipelines.sandbox.instance_files import atomic_write, shell_env, write_files
from shopper_pipelines.sandbox.ssh_server import InstanceSsh, SshHub

logger = logging.getLogger(__name__)
T = TypeVar("T")

VASTAI, TENSORDOCK = "vastai", "tensordock"
PROVIDERS = (VASTAI, TENSORDOCK)
DEFAULT_BOOT_SECONDS = 3.0
# Vast shows `actual_status: null` for this first share of the boot, then "loading".
PROVISIONING_SHARE = 0.25
VAST_ID_BASE, VAST_ID_SEED_STRIDE = 32_000_000, 100_000
HOST_KEY_TYPE = "ssh-ed25519"
_SALT_TENSORDOCK_ID, _SALT_GPU_UUID = 120, 121


@dataclass(frozen=True)
class GpuOffer:
    """The GPUs an instance was rented with, as its `nvidia-smi` reports them."""

    model: str  # the provider's own spelling ("RTX 4090", "geforcertx4090-pcie-24gb")
    driver_name: str  # as the driver prints it ("NVIDIA GeForce RTX 4090")
    count: int
    vram_mib: int
    cuda: str
    driver: str
    max_power_w: float
    price_per_hour: float


@dataclass
class Instance:
    """One sandbox instance; fields change under the registry's lock."""

    provider: str
    id: int | str
    label: str | None
    gpu: GpuOffer
    details: dict[str, Any]  # what create asked for, echoed in records
    users: frozenset[str]
    folder: Path
    host_key: asyncssh.SSHKey
    created_at: float  # epoch seconds on the app's clock
    created_mono: float
    boot_seconds: float
    stuck: bool = False
    refuse_ssh: bool = False
    offer_id: int | None = None
    location_id: str | None = None
    keys: list[tuple[bytes, float]] = field(default_factory=list)  # (key blob, usable from)
    port: int | None = None
    crashed: str | None = None
    destroyed: bool = False
    ssh: InstanceSsh | None = field(default=None, repr=False)
    inference: InstanceServer | None = field(default=None, repr=False)

    @property
    def inference_port(self) -> int | None:
        """The port of its Ollama/OpenAI stand-in while it runs and serves, else None."""
        server = self.inference
        return server.port if server is not None and server.serving else None

    @property
    def home(self) -> Path:
        return self.folder / "home"

    @property
    def bin_dir(self) -> Path:
        return self.folder / "bin"

    @property
    def host_key_line(self) -> str:
        """The server's public host key in OpenSSH form, for pinning."""
        return self.host_key.export_public_key("openssh").decode().strip()

    def phase(self, now: float | None = None) -> str:
        """destroyed, crashed, running, loading or provisioning."""
        if self.destroyed:
            return "destroyed"
        if self.crashed:
            return "crashed"
        if self.port is not None:
            return "running"
        elapsed = (time.monotonic() if now is None else now) - self.created_mono
        if not self.stuck and elapsed < self.boot_seconds * PROVISIONING_SHARE:
            return "provisioning"
        return "loading"


class InstanceRegistry:
    """Every instance of one sandbox app, and the SSH hub their servers run on."""

    def __init__(
        self,
        seed: int = 0,
        *,
        boot_seconds: float = DEFAULT_BOOT_SECONDS,
        key_delay_seconds: float = 0.0,
        workdir: Path | None = None,
        clock: Callable[[], float] = time.time,
        inference: InferenceServers | None = None,
    ) -> None:
        if boot_seconds < 0 or key_delay_seconds < 0:
            raise ValueError(
                f"boot_seconds and key_delay_seconds must be >= 0, got "
                f"{boot_seconds} and {key_delay_seconds}"
            )
        self.seed = seed
        self.boot_seconds = boot_seconds
        self.key_delay_seconds = key_delay_seconds
        self._workdir = workdir
        self._owns_workdir = workdir is None
        self._clock = clock
        self.inference = inference if inference is not None else InferenceServers()
        self._hub = SshHub()
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._instances: dict[tuple[str, str], Instance] = {}

    def _root(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="gpu-shopper-sandbox-"))
        return self._workdir

    def create(
        self,
        provider: str,
        label: str | None,
        gpu: GpuOffer,
        details: dict[str, Any],
        *,
        users: tuple[str, ...] = ("root",),
        stuck: bool = False,
        refuse_ssh: bool = False,
        offer_id: int | None = None,
        location_id: str | None = None,
    ) -> Instance:
        """Add an instance and schedule its boot (never, when `stuck`)."""
        with self._lock:
            number = next(self._counter)
            ident: int | str = (
                VAST_ID_BASE + (self.seed % 10) * VAST_ID_SEED_STRIDE + number
                if provider == VASTAI
                else stable_uuid(self.seed, _SALT_TENSORDOCK_ID, number)
            )
            folder = self._root() / f"{provider}-{ident}"
            instance = Instance(
                provider=provider,
                id=ident,
                label=label,
                gpu=gpu,
                details=details,
                users=frozenset(users),
                folder=folder,
                host_key=asyncssh.generate_private_key(HOST_KEY_TYPE),
                created_at=self._clock(),
                created_mono=time.monotonic(),
                boot_seconds=self.boot_seconds,
                stuck=stuck,
                refuse_ssh=refuse_ssh,
                offer_id=offer_id,
                location_id=location_id,
            )
            self._instances[(provider, str(ident))] = instance
        write_files(instance, mix(self.seed, _SALT_GPU_UUID, number))
        if not instance.stuck:
            self._hub.schedule(self.boot_seconds, lambda: self._boot(instance))
        logger.info("sandbox %s instance %s created (%s)", provider, ident, gpu.model)
        return instance

    async def _boot(self, instance: Instance) -> None:
        if instance.destroyed or instance.crashed:
            return
        server = self.inference.server_for(
            instance.gpu, lambda **readings: self.set_gpu(instance, **readings)
        )
        api_port = await server.start()
        box = InstanceSsh(
            instance.host_key,
            lambda user, blob: self.allows(instance, user, blob),
            instance.home,
            shell_env(instance, **_provider_env(instance), **inference_env(api_port)),
        )
        port = await box.start()
        with self._lock:
            keep = not (instance.destroyed or instance.crashed)
            if keep:
                instance.ssh, instance.port, instance.inference = box, port, server
        if not keep:
            await box.stop()
            await server.stop()
            return
        logger.info(
            "sandbox %s instance %s running, ssh on port %d, inference on port %d",
            *_name(instance),
            port,
            api_port,
        )

    def get(self, provider: str, ident: object) -> Instance | None:
        """A live (not destroyed) instance, or None."""
        instance = self.find(provider, ident)
        return None if instance is None or instance.destroyed else instance

    def find(self, provider: str, ident: object) -> Instance | None:
        """Any instance ever created here, destroyed ones included."""
        with self._lock:
            return self._instances.get((provider, str(ident)))

    def live(self, provider: str) -> list[Instance]:
        with self._lock:
            found = [i for i in self._instances.values() if i.provider == provider]
        return [instance for instance in found if not instance.destroyed]

    def everything(self) -> list[Instance]:
        with self._lock:
            return list(self._instances.values())

    def rented_offer_ids(self) -> set[int]:
        return {i.offer_id for i in self.live(VASTAI) if i.offer_id is not None}

    def rented_gpus(self, location_id: str, model: str) -> int:
        live = self.live(TENSORDOCK)
        return sum(
            i.gpu.count for i in live if (i.location_id, i.gpu.model) == (location_id, model)
        )

    def authorise(self, instance: Instance, blobs: list[bytes]) -> None:
        """Let these keys in; they work after `key_delay_seconds` (real Vast: 10-15 s)."""
        usable_from = time.monotonic() + self.key_delay_seconds
        with self._lock:
            known = {blob for blob, _ in instance.keys}
            instance.keys.extend((blob, usable_from) for blob in blobs if blob not in known)

    def allows(self, instance: Instance, username: str, blob: bytes) -> bool:
        if instance.refuse_ssh or instance.destroyed or username not in instance.users:
            return False
        now = time.monotonic()
        with self._lock:
            if any(key == blob and now >= start for key, start in instance.keys):
                return True
        # Like sshd, keys a session appended to ~/.ssh/authorized_keys count too.
        return blob in _authorized_file_keys(instance.home / ".ssh" / "authorized_keys")

    async def destroy(self, instance: Instance) -> None:
        """Stop its SSH server (the port closes) and delete its folder."""
        await self._halt(instance, destroyed=True)
        await asyncio.to_thread(shutil.rmtree, instance.folder, True)
        logger.info("sandbox %s instance %s destroyed", *_name(instance))

    async def crash(self, instance: Instance, status: str) -> None:
        """The machine dies: status `status` ("exited", "offline"...), SSH gone."""
        with self._lock:
            instance.crashed = status
        await self._halt(instance, destroyed=False)

    async def _halt(self, instance: Instance, *, destroyed: bool) -> None:
        with self._lock:
            instance.destroyed = instance.destroyed or destroyed
            box, instance.ssh, instance.port = instance.ssh, None, None
            server, instance.inference = instance.inference, None
        if server is not None:
            await asyncio.wrap_future(self._hub.submit(server.stop()))
        if box is not None:
            await asyncio.wrap_future(self._hub.submit(box.stop()))

    async def on_hub(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` on the loop the instance servers live on (from any other loop)."""
        return await asyncio.wrap_future(self._hub.submit(coro))

    def set_gpu(self, instance: Instance, **readings: float) -> dict[str, Any]:
        """Change what `nvidia-smi` reports (utilization, power_w, memory_used_mib,
        temperature_c); returns the whole GPU state."""
        path = instance.bin_dir / "gpu.json"
        with self._lock:
            state = json.loads(path.read_text(encoding="utf-8"))
            state.update(readings)
            atomic_write(path, json.dumps(state))
        return state

    def close(self) -> None:
        """Stop every SSH and inference server and the hub's thread; remove the workdir if it
        made it."""
        boxes: list[InstanceSsh | InstanceServer] = []
        with self._lock:
            for instance in self._instances.values():
                if instance.inference is not None:
                    boxes.append(instance.inference)
                if instance.ssh is not None:
                    boxes.append(instance.ssh)
                instance.ssh, instance.port, instance.inference = None, None, None
        for box in boxes:
            with contextlib.suppress(Exception):
                self._hub.submit(box.stop()).result(timeout=2.0)
        self._hub.close()
        if self._owns_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        logger.debug("sandbox instances closed (%d servers stopped)", len(boxes))


def _provider_env(instance: Instance) -> dict[str, str]:
    # Vast containers see their own id; the TensorDock VMs have nothing similar.
    return {"CONTAINER_ID": str(instance.id)} if instance.provider == VASTAI else {}


def _name(instance: Instance) -> tuple[str, str]:
    return instance.provider, str(instance.id)


def _authorized_file_keys(path: Path) -> set[bytes]:
    """Key blobs listed in an authorized_keys file; unreadable lines are ignored."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return set()
    blobs = set()
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            blobs.add(asyncssh.import_public_key(line.strip()).public_data)
        except (asyncssh.KeyImportError, ValueError):
            continue
    return blobs
