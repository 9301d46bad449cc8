"""Where the inference server is: OLLAMA_HOST and OPENAI_BASE_URL conventions, model names.

The defaults point at this machine: the benchmark runs on the node beside the server.
"""

from __future__ import annotations

from urllib.parse import urlsplit

OLLAMA = "ollama"
OPENAI = "openai"
OLLAMA_DEFAULT_PORT = 11434
OPENAI_DEFAULT_URL = "http://127.0.0.1:8000/v1"


def ollama_base_url(value: str | None) -> str:
    """A base URL from OLLAMA_HOST conventions: "host", "host:port", ":port" or a URL.

    As Ollama's own client reads it: no scheme means http and port 11434; a bind-all
    address (0.0.0.0, ::) means this machine.
    """
    text = (value or "").strip().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "http", text
    if scheme not in ("http", "https"):
        raise ValueError(f"--server must be an http(s) URL or host:port, got {value!r}")
    hostport = rest.split("/", 1)[0]
    parts = urlsplit(f"{scheme}://{hostport}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"--server has a bad port: {value!r}") from None
    if port is None:
        port = OLLAMA_DEFAULT_PORT if not sep else (443 if scheme == "https" else 80)
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::"):  # noqa: S104 (a server's bind address, not ours)
        host = "127.0.0.1"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def openai_base_url(value: str | None) -> str:
    """The OpenAI-compatible base URL, ending in /v1 when no path was given."""
    text = (value or OPENAI_DEFAULT_URL).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--server must be an http(s) URL for openai, got {value!r}")
    return text if parts.path else text + "/v1"


def same_ollama_model(wanted: str, listed: str) -> bool:
    """Ollama names without a tag mean ":latest"."""

    def full(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else name + ":latest"

    return full(wanted) == full(listed)
