"""What the sandbox's stand-in model says: token counts, quality answers and filler text.

A token here is a word with its leading space (real tokenisers split finer; the counts
only need to be consistent). Prompts are counted at one token per four characters plus
the chat template's few tokens, as Llama-style tokenisers roughly do for English.

Quality prompts (`benchmark_scripts/prompts.py`, an entry with `expect`) are answered
with an expected string, except for `round((1 - accuracy) x n)` of the n quality prompts,
picked per model by a hash, so a run's match rate is as close to `accuracy(model)` as n
allows: 85 % for the smallest models up to 100 % at 70B parameters, like real match rates.
Every other prompt gets deterministic filler prose whose natural length is 400-1000
tokens, so a 500-token limit usually ends it ("length").
"""

import importlib.util
import logging
import math
import zlib
from functools import lru_cache
from pathlib import Path
from types import ModuleType

from shopper_pipelines.benchmarks.llm_models import LlmModel, lookup
from shopper_pipelines.sandbox.hashing import rng, unit

logger = logging.getLogger(__name__)

PROMPTS_FILE = Path(__file__).resolve().parents[2] / "benchmark_scripts" / "prompts.py"
CHARS_PER_TOKEN = 4
TEMPLATE_TOKENS = 10  # what a chat template adds around a prompt
MESSAGE_TOKENS = 4  # per chat message
MIN_ACCURACY, MAX_ACCURACY, FULL_ACCURACY_PARAMS_B = 0.85, 1.0, 70.0
FILLER_LENGTH = (400, 1000)
SENTENCE_WORDS = (8, 18)
_SALT_ANSWER, _SALT_FILLER = 301, 302
_WORD_TEXT = (
    "the model GPU memory token throughput latency cache batch kernel layer tensor weight "
    "answer result system request value signal network data stream window context engine "
    "compute bandwidth power cluster node market price offer session report sample measure "
    "quickly carefully steadily often rarely clearly simply again together always never "
    "builds reads writes keeps moves finds shows runs holds takes gives makes needs uses "
    "large small fast slow bright quiet stable early late warm cold simple careful useful"
)
_WORDS = _WORD_TEXT.split()
WRONG_ANSWERS = ("I am not sure.", "I do not know the answer to that.", "Unclear.")


def count_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def prompt_tokens(texts: list[str]) -> int:
    """Tokens of a prompt (one text) or a chat (one text per message), template included."""
    if len(texts) == 1:
        return count_tokens(texts[0]) + TEMPLATE_TOKENS
    return sum(count_tokens(text) + MESSAGE_TOKENS for text in texts) + TEMPLATE_TOKENS


def accuracy(model: LlmModel) -> float:
    """Share of quality prompts `model` answers correctly (85-100 %, by parameter count)."""
    share = min(model.params_b, FULL_ACCURACY_PARAMS_B) / FULL_ACCURACY_PARAMS_B
    return round(MIN_ACCURACY + (MAX_ACCURACY - MIN_ACCURACY) * share, 4)


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


@lru_cache(maxsize=1)
def _prompts_module() -> ModuleType | None:
    spec = importlib.util.spec_from_file_location("_sandbox_bench_prompts", PROMPTS_FILE)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (OSError, SyntaxError, ImportError) as error:
        logger.warning("sandbox inference: no quality prompts (%s)", error)
        return None
    return module


@lru_cache(maxsize=64)
def missed(model_name: str) -> frozenset[str]:
    """Ids of the quality prompts this model answers wrongly (deterministic)."""
    model = lookup(model_name)
    ids = sorted({prompt_id for prompt_id, _ in quality_prompts().values()})
    if model is None or not ids:
        return frozenset()
    wrong = round((1 - accuracy(model)) * len(ids))
    ranked = sorted(ids, key=lambda i: (unit(_SALT_ANSWER, _crc(model.name), _crc(i)), i))
    return frozenset(ranked[:wrong])


def quality_prompts() -> dict[str, tuple[str, list[str]]]:
    """Prompt text (stripped) -> (prompt id, expected strings) for every quality prompt."""
    module = _prompts_module()
    found: dict[str, tuple[str, list[str]]] = {}
    for entry in getattr(module, "PROMPTS", None) or []:
        expect = entry.get("expect") if isinstance(entry, dict) else None
        if isinstance(expect, list) and expect and isinstance(entry.get("prompt"), str):
            found[entry["prompt"].strip()] = (str(entry.get("id", "")), [str(e) for e in expect])
    return found


def _wrong_answer(expect: list[str]) -> str:
    lowered = [e.lower() for e in expect]
    for answer in WRONG_ANSWERS:
        if not any(e in answer.lower() for e in lowered):
            return answer
    return "No."


def tokenize(text: str) -> list[str]:
    """Split into word tokens, each keeping its leading space."""
    words = text.split(" ")
    return [words[0], *(f" {word}" for word in words[1:])] if text else []


def answer_tokens(model: LlmModel, prompt: str) -> list[str]:
    """The whole answer `model` gives to `prompt`, as tokens (before any max-token cut)."""
    quality = quality_prompts().get(prompt.strip())
    if quality is not None:
        prompt_id, expect = quality
        wrong = prompt_id in missed(model.name)
        return tokenize(_wrong_answer(expect) if wrong else expect[0])
    draw = rng(_SALT_FILLER, _crc(model.name), _crc(prompt))
    length = draw.randint(*FILLER_LENGTH)
    tokens: list[str] = []
    while len(tokens) < length:
        words = [draw.choice(_WORDS) for _ in range(draw.randint(*SENTENCE_WORDS))]
        words[0] = words[0].capitalize()
        words[-1] += "."
        tokens.extend(f" {word}" for word in words)
    tokens = tokens[:length]
    tokens[0] = tokens[0].lstrip()
    return tokens
