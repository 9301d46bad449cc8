"""The prompt set, and the folder's promise to run on a bare node: standard library only,
syntax and runtime generics that Python 3.8 accepts."""

import ast
import sys
from pathlib import Path

import pytest

from benchmark_scripts.prompts import (
    CATEGORIES,
    PROMPT_SET,
    PROMPTS,
    matches,
    prompt_for_text,
    quality_prompts,
)

SCRIPTS = Path(__file__).resolve().parents[2] / "benchmark_scripts"
MODULES = sorted(SCRIPTS.glob("*.py"))
# Subscripting these at run time (outside annotations) fails before Python 3.9.
RUNTIME_GENERICS = {"list", "dict", "tuple", "set", "frozenset", "type"}


def test_prompt_set_shape():
    assert PROMPT_SET == "standard-v1"
    assert len(PROMPTS) >= 10
    assert len({p["id"] for p in PROMPTS}) == len(PROMPTS)
    assert {p["category"] for p in PROMPTS} == set(CATEGORIES)
    for prompt in PROMPTS:
        assert set(prompt) == {"id", "category", "prompt", "expect"}
        assert prompt["prompt"].strip() == prompt["prompt"]
        if prompt["category"] == "throughput":
            assert prompt["expect"] is None
    assert len(quality_prompts()) >= 5
    assert all(p["expect"] and all(p["expect"]) for p in quality_prompts())


@pytest.mark.parametrize(
    ("answer", "expect", "result"),
    [
        ("17 × 23 = 391.", ["391"], True),
        ("The capital is canberra", ["Canberra"], True),
        ("Sydney", ["Canberra"], False),
        ("2,3,5,7,11", ["2, 3, 5, 7, 11", "2,3,5,7,11"], True),
        ("anything", None, None),
    ],
)
def test_matches(answer: str, expect: list[str] | None, result: bool | None):
    assert matches(answer, expect) is result


def test_prompt_for_text():
    first = PROMPTS[0]
    assert prompt_for_text(f"  {first['prompt']}\n") is first
    assert prompt_for_text("something else") is None


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_uses_only_the_standard_library(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top == "benchmark_scripts", (path, name)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_runs_on_python_3_8(path: Path):
    """Parses with 3.8's grammar; annotations stay unevaluated (PEP 563) and no built-in
    generic is subscripted at run time (`list[str]` outside an annotation)."""
    source = path.read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    if path.name != "__init__.py":
        assert "from __future__ import annotations" in source
    in_annotations: set[int] = set()
    for node in ast.walk(tree):
        annotations = []
        if isinstance(node, ast.arg | ast.AnnAssign) and node.annotation is not None:
            annotations.append(node.annotation)
        if isinstance(node, ast.FunctionDef) and node.returns is not None:
            annotations.append(node.returns)
        for annotation in annotations:
            in_annotations.update(id(child) for child in ast.walk(annotation))
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and id(node) not in in_annotations:
            value = node.value
            name = value.id if isinstance(value, ast.Name) else None
            assert name not in RUNTIME_GENERICS, f"{path.name}:{node.lineno}"
            assert name not in {"Callable", "Iterable", "Iterator"}, f"{path.name}:{node.lineno}"
