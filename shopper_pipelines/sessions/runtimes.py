"""What an instance needs at boot for its workload: the image and the start-up command.

An LLM session must come up with its inference server running, so the benchmark runner
(and a renter) can talk to it at once. Ollama: the provider's CUDA base image, and a
start-up command that installs Ollama when the image lacks it and starts `ollama serve`
on 127.0.0.1:11434 (Vast runs it as `onstart`, TensorDock as a cloud-init `runcmd`).
vLLM serves one model chosen at start, so only its image is set (Vast's `vllm-openai`):
whoever uses the session starts `vllm serve MODEL`. Other workloads keep each provider's
default image. The sandbox accepts all of these and always serves its stand-ins.
"""

from dataclasses import dataclass

from shopper_pipelines.sessions.models import Workload

OLLAMA_START = (
    "command -v ollama >/dev/null 2>&1 || (curl -fsSL https://ollama.com/install.sh | sh);"
    " (OLLAMA_HOST=127.0.0.1:11434 nohup ollama serve >/var/log/ollama.log 2>&1 &)"
)
VLLM_IMAGE = {"vastai": "vllm/vllm-openai:latest"}


@dataclass(frozen=True)
class BootSetup:
    image: str | None = None  # None: the provider client's default image
    onstart: str | None = None


def boot_setup(workload: str, provider: str) -> BootSetup:
    """The image and start-up command for a workload on a provider."""
    if workload == Workload.LLM:
        return BootSetup(onstart=OLLAMA_START)
    if workload == Workload.LLM_VLLM:
        return BootSetup(image=VLLM_IMAGE.get(provider))
    return BootSetup()
