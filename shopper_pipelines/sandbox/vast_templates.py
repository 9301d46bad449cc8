"""Vast's built-in templates in the sandbox, and the `select_filters` both lists accept.

`select_filters` is a JSON object of field -> {op: value} with ops eq, neq, in, notin,
gt, gte, lt, lte (a bare value means eq), as `GET /api/v0/template/` and
`GET /api/v1/instances/` take it (providers.md §1.9, §1.11).
"""

import operator
from collections.abc import Callable
from typing import Any

SANDBOX_CREATOR_ID = 62_897
TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "id": 220_101,
        "hash_id": "8f1c2a7e5b3d4c6f9a0e1b2c3d4e5f60",
        "name": "Ollama",
        "image": "vastai/ollama",
        "tag": "0.12.3",
        "default_tag": "0.12.3",
        "env": "-p 11434:11434 -e OLLAMA_HOST=0.0.0.0:11434 -e OLLAMA_MODELS=/workspace/models",
        "onstart": "ollama serve > /var/log/ollama.log 2>&1 &",
        "runtype": "ssh_direc ssh_proxy",
        "args_str": "",
        "use_ssh": True,
        "ssh_direct": True,
        "jup_direct": False,
        "use_jupyter_lab": False,
        "recommended": True,
        "recommended_disk_space": 40,
        "extra_filters": {"cuda_max_good": {"gte": 12.1}},
        "private": False,
        "creator_id": SANDBOX_CREATOR_ID,
        "created_at": 1_775_000_000.0,
        "count_created": 5_212,
        "desc": "Ollama server with SSH (sandbox copy)",
    },
    {
        "id": 220_102,
        "hash_id": "3b7d9e1f2a4c6e8d0b1a3c5e7f9d2b40",
        "name": "PyTorch (CUDA)",
        "image": "vastai/pytorch",
        "tag": "2.8.0-cuda-12.8.1-py312",
        "default_tag": "2.8.0-cuda-12.8.1-py312",
        "env": "-e DATA_DIRECTORY=/workspace/",
        "onstart": "",
        "runtype": "ssh_direc ssh_proxy",
        "args_str": "",
        "use_ssh": True,
        "ssh_direct": True,
        "jup_direct": False,
        "use_jupyter_lab": False,
        "recommended": True,
        "recommended_disk_space": 32,
        "extra_filters": {"cuda_max_good": {"gte": 12.8}},
        "private": False,
        "creator_id": SANDBOX_CREATOR_ID,
        "created_at": 1_774_000_000.0,
        "count_created": 18_430,
        "desc": "PyTorch with CUDA and SSH (sandbox copy)",
    },
    {
        "id": 220_103,
        "hash_id": "c0ffee5a1d2b3c4d5e6f708192a3b4c5",
        "name": "Ubuntu 22.04 (SSH)",
        "image": "vastai/base-image",
        "tag": "cuda-12.4.1-auto",
        "default_tag": "cuda-12.4.1-auto",
        "env": "",
        "onstart": "",
        "runtype": "ssh_direc ssh_proxy",
        "args_str": "",
        "use_ssh": True,
        "ssh_direct": True,
        "jup_direct": False,
        "use_jupyter_lab": False,
        "recommended": False,
        "recommended_disk_space": 16,
        "extra_filters": {},
        "private": False,
        "creator_id": SANDBOX_CREATOR_ID,
        "created_at": 1_773_000_000.0,
        "count_created": 902,
        "desc": "Plain base image with SSH (sandbox copy)",
    },
)

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "in": lambda value, options: value in options,
    "notin": lambda value, options: value not in options,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


class FilterError(ValueError):
    """A `select_filters` value the sandbox cannot apply."""


def check_filters(filters: object) -> dict[str, dict[str, Any]]:
    """Normalise `select_filters` to field -> {op: value}; FilterError when malformed."""
    if not isinstance(filters, dict):
        raise FilterError(f"select_filters must be a JSON object, got {filters!r}")
    normal: dict[str, dict[str, Any]] = {}
    for name, condition in filters.items():
        condition = condition if isinstance(condition, dict) else {"eq": condition}
        for op, value in condition.items():
            if op not in _OPS:
                raise FilterError(f"unknown operator {op!r} for {name}; known: {sorted(_OPS)}")
            if op in ("in", "notin") and not isinstance(value, list):
                raise FilterError(f"{name} {op} needs a list, got {value!r}")
        normal[str(name)] = condition
    return normal


def matches(record: dict[str, Any], filters: dict[str, dict[str, Any]]) -> bool:
    """Does `record` pass every condition? Comparisons with null never pass."""
    for name, condition in filters.items():
        value = record.get(name)
        for op, wanted in condition.items():
            try:
                if not _OPS[op](value, wanted):
                    return False
            except TypeError:
                return False
    return True


def find_template(hash_id: str) -> dict[str, Any] | None:
    return next((t for t in TEMPLATES if t["hash_id"] == hash_id), None)


def template_env(template: dict[str, Any]) -> dict[str, str]:
    """`-e KEY=value -p 8000:8000` -> {"KEY": "value", "-p 8000:8000": "1"}."""
    env: dict[str, str] = {}
    words = str(template.get("env") or "").split()
    for flag, value in zip(words[::2], words[1::2], strict=False):
        if flag == "-e" and "=" in value:
            key, _, text = value.partition("=")
            env[key] = text
        elif flag == "-p":
            env[f"-p {value}"] = "1"
    return env
