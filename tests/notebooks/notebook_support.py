"""Run a notebook top to bottom with nbclient against a given warehouse, and read its output.

The kernel is this test run's own interpreter: the `python3` kernelspec says `python`, which
jupyter_client replaces with `sys.executable`, so the notebook imports the project from this
virtual environment. Its connection file, IPython history and Jupyter runtime files go under
`workdir`, never the user's home, and the kernel gets the test's environment minus any
GPU Shopper setting, plus `DATABASE_PATH`.
"""

import os
import sys
from pathlib import Path

import nbformat
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO_ROOT / "notebooks"
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 180
# Settings a developer's environment may carry; the notebook must see only the test's.
_DROPPED = ("DATABASE_PATH", "REPORTS_DIR", "VASTAI_API_KEY", "TENSORDOCK_API_TOKEN",
            "SANDBOX_URL", "DEPLOYMENT_ID")  # fmt: skip


def execute_notebook(
    name: str, db_path: Path, workdir: Path, env: dict[str, str] | None = None
) -> nbformat.NotebookNode:
    """Execute `notebooks/<name>` in a fresh kernel with cwd `workdir`; return it with its
    outputs (the file on disk is not touched). A failing cell raises CellExecutionError."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    workdir.mkdir(parents=True, exist_ok=True)
    kernel_env = {key: value for key, value in os.environ.items() if key not in _DROPPED}
    kernel_env.update({
        "DATABASE_PATH": str(db_path),
        "GPU_SHOPPER_DOTENV": "0",
        "IPYTHONDIR": str(workdir / "ipython"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "runtime"),
        "MPLCONFIGDIR": str(workdir / "mpl"),
        "PYTHONPATH": str(REPO_ROOT),
        **(env or {}),
    })  # fmt: skip
    manager = KernelManager(
        kernel_name=KERNEL_NAME, connection_file=str(workdir / "kernel-connection.json")
    )
    client = NotebookClient(
        notebook,
        km=manager,
        kernel_name=KERNEL_NAME,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute(env=kernel_env)
    problems = [text for cell in notebook.cells for text in _failures(cell)]
    assert not problems, f"{name} showed errors:\n" + "\n".join(problems)
    return notebook


def _failures(cell: nbformat.NotebookNode) -> list[str]:
    """Tracebacks that IPython printed instead of raising (a failing chart repr, say)."""
    found = []
    for output in cell.get("outputs", []):
        text = output.get("text", "") if output.get("output_type") == "stream" else ""
        if output.get("output_type") == "error" or "Traceback" in text:
            found.append(text or f"{output.get('ename')}: {output.get('evalue')}")
    return found


def tagged(notebook: nbformat.NotebookNode, tag: str) -> nbformat.NotebookNode:
    """The one code cell carrying `tag` in its metadata."""
    [cell] = [c for c in notebook.cells if tag in c.get("metadata", {}).get("tags", [])]
    return cell


def output_text(cell: nbformat.NotebookNode) -> str:
    """Everything a cell printed or showed as text (stream and text/plain outputs)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output and "text/plain" in output["data"]:
            parts.append(output["data"]["text/plain"])
    return "".join(parts)


def mimetypes(cell: nbformat.NotebookNode) -> set[str]:
    """The rich output types of a cell (e.g. an Altair chart's Vega-Lite spec)."""
    return {mime for output in cell.get("outputs", []) for mime in output.get("data", {})}


def kernel_python() -> str:
    """The interpreter the notebooks run on (this process's)."""
    return sys.executable
