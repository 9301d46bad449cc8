"""The LLM models we know how to benchmark: size on disk and the VRAM they need.

Sizes are the default (Q4_K_M) Ollama builds as their library pages list them; the VRAM
need adds the KV cache and CUDA context for a 4k context at concurrency 1 (about 20 % over
the weights, and at least 1.5 GB). Used to refuse offers a model cannot fit, to rank
recommendations, and by the sandbox's stand-in server to fail a model that does not fit
with an out-of-memory error, as the real server would.
"""

from dataclasses import dataclass

from shopper_pipelines.errors import InvalidInputError

KV_OVERHEAD = 0.2
MIN_OVERHEAD_GB = 1.5


@dataclass(frozen=True)
class LlmModel:
    name: str  # Ollama tag, e.g. "llama3.1:8b"
    params_b: float  # parameters, billions
    size_gb: float  # weights on disk (quantised)

    @property
    def min_vram_gb(self) -> float:
        return round(self.size_gb + max(self.size_gb * KV_OVERHEAD, MIN_OVERHEAD_GB), 1)


LLM_MODELS: dict[str, LlmModel] = {
    model.name: model
    for model in (
        LlmModel("llama3.1:8b", 8.0, 4.9),
        LlmModel("llama3.2:3b", 3.2, 2.0),
        LlmModel("mistral:7b", 7.2, 4.1),
        LlmModel("qwen2:7b", 7.6, 4.4),
        LlmModel("qwen2.5:14b", 14.8, 9.0),
        LlmModel("gemma2:9b", 9.2, 5.4),
        LlmModel("phi3:14b", 14.0, 7.9),
        LlmModel("deepseek-r1:7b", 7.6, 4.7),
        LlmModel("deepseek-r1:14b", 14.8, 9.0),
        LlmModel("deepseek-r1:32b", 32.8, 19.0),
        LlmModel("llama3.1:70b", 70.6, 43.0),
        LlmModel("deepseek-r1:70b", 70.6, 43.0),
    )
}


def lookup(name: str) -> LlmModel | None:
    """The model for an Ollama tag; a bare name means its `:latest`-less default tag."""
    return LLM_MODELS.get(name.strip().lower())


def require(name: str, field: str = "--model") -> LlmModel:
    model = lookup(name)
    if model is None:
        known = ", ".join(sorted(LLM_MODELS))
        raise InvalidInputError(f"{field} {name!r} is not a model we know; known: {known}")
    return model
