"""The fixed prompt set every benchmark run uses, so results compare across GPUs.

Quality prompts carry `expect`: short, unambiguous answers, and an answer matches when any
expected string appears in it, ignoring case. Throughput prompts (`expect` None) ask for
long answers so a request runs into the max-token limit and measures steady decoding.
The sandbox's stand-in model imports this module to answer the quality prompts.
Standard library only: it runs on the rented node too.
"""

from __future__ import annotations

PROMPT_SET = "standard-v1"
CATEGORIES = ("reasoning", "coding", "knowledge", "creative", "instruction", "throughput")

PROMPTS: list[dict] = [
    {
        "id": "reasoning-multiply",
        "category": "reasoning",
        "prompt": "What is 17 multiplied by 23? Answer with the number only.",
        "expect": ["391"],
    },
    {
        "id": "reasoning-journey",
        "category": "reasoning",
        "prompt": (
            "A train leaves at 14:10 and arrives at 16:45 on the same day. How many minutes "
            "does the journey take? Answer with the number only."
        ),
        "expect": ["155"],
    },
    {
        "id": "coding-output",
        "category": "coding",
        "prompt": (
            "What does this Python program print?\n\nprint(sum(range(1, 11)))\n\n"
            "Answer with the printed output only."
        ),
        "expect": ["55"],
    },
    {
        "id": "coding-function",
        "category": "coding",
        "prompt": (
            "Write a Python module with a function `is_prime(n: int) -> bool`, a function "
            "that returns the first N primes, docstrings, and pytest tests for both. "
            "Explain each part of the code after it."
        ),
        "expect": None,
    },
    {
        "id": "knowledge-capital",
        "category": "knowledge",
        "prompt": "What is the capital city of Australia? Answer with the city name only.",
        "expect": ["Canberra"],
    },
    {
        "id": "knowledge-element",
        "category": "knowledge",
        "prompt": (
            "Which chemical element has the symbol Fe? Answer with the element's English name only."
        ),
        "expect": ["iron"],
    },
    {
        "id": "creative-story",
        "category": "creative",
        "prompt": (
            "Write a short story of about 500 words about a lighthouse keeper who finds a "
            "message in a bottle that was written to her fifty years ago."
        ),
        "expect": None,
    },
    {
        "id": "instruction-uppercase",
        "category": "instruction",
        "prompt": "Reply with the word banana written in capital letters, and nothing else.",
        "expect": ["BANANA"],
    },
    {
        "id": "instruction-primes",
        "category": "instruction",
        "prompt": (
            "List the first five prime numbers in increasing order, separated by commas, "
            "and nothing else."
        ),
        "expect": ["2, 3, 5, 7, 11", "2,3,5,7,11"],
    },
    {
        "id": "throughput-gpu-matmul",
        "category": "throughput",
        "prompt": (
            "Explain in detail, in at least 800 words, how a GPU executes a large matrix "
            "multiplication: threads, warps, shared memory, tiling, tensor cores and memory "
            "bandwidth."
        ),
        "expect": None,
    },
    {
        "id": "throughput-printing-press",
        "category": "throughput",
        "prompt": (
            "Write a detailed history of the printing press in at least 800 words, from "
            "woodblock printing to Gutenberg and its effects on European society."
        ),
        "expect": None,
    },
    {
        "id": "throughput-garden-guide",
        "category": "throughput",
        "prompt": (
            "Write a thorough step-by-step guide of at least 800 words to starting a home "
            "vegetable garden: site, soil, what to plant each season, watering and pests."
        ),
        "expect": None,
    },
]


def quality_prompts() -> list[dict]:
    """The prompts with expected answers, in set order."""
    return [prompt for prompt in PROMPTS if prompt["expect"]]


def matches(answer: str, expect: list[str] | None) -> bool | None:
    """True when any expected string is in the answer (case-insensitive); None without one."""
    if not expect:
        return None
    folded = answer.casefold()
    return any(expected.casefold() in folded for expected in expect)


def prompt_for_text(text: str) -> dict | None:
    """The prompt whose text this is (surrounding whitespace ignored), else None."""
    wanted = text.strip()
    for prompt in PROMPTS:
        if prompt["prompt"] == wanted:
            return prompt
    return None
