"""Where the server is: Ollama's OLLAMA_HOST conventions and OpenAI base URLs."""

from benchmark_scripts.urls import ollama_base_url, openai_base_url, same_ollama_model


def test_ollama_host_conventions():
    assert ollama_base_url(None) == "http://127.0.0.1:11434"
    assert ollama_base_url("0.0.0.0") == "http://127.0.0.1:11434"
    assert ollama_base_url("0.0.0.0:8080") == "http://127.0.0.1:8080"
    assert ollama_base_url(":9999") == "http://127.0.0.1:9999"
    assert ollama_base_url("http://localhost") == "http://localhost:80"
    assert ollama_base_url("https://ollama.internal/") == "https://ollama.internal:443"
    assert ollama_base_url("[::1]:11434") == "http://[::1]:11434"
    assert openai_base_url(None) == "http://127.0.0.1:8000/v1"
    assert openai_base_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/v1"
    assert openai_base_url("http://127.0.0.1:8000/v1/") == "http://127.0.0.1:8000/v1"


def test_same_ollama_model_reads_no_tag_as_latest():
    assert same_ollama_model("llama3.1", "llama3.1:latest")
    assert same_ollama_model("llama3.1:8b", "llama3.1:8b")
    assert not same_ollama_model("llama3.1:8b", "llama3.1:70b")
    assert same_ollama_model("registry.local:5000/m", "registry.local:5000/m:latest")
