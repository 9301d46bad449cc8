import pytest

from shopper_pipelines.errors import SettingsError
from shopper_pipelines.settings import (
    PROJECT_ROOT,
    interval_to_cron,
    load_settings,
    parse_duration,
)


def test_settings_defaults_point_every_provider_at_the_sandbox():
    settings = load_settings()
    endpoints = settings.provider_endpoints()
    assert settings.sandbox_mode
    assert [(e.name, e.base_url, e.sandbox) for e in endpoints] == [
        ("vastai", "http://127.0.0.1:8787", True),
        ("tensordock", "http://127.0.0.1:8787/api/v2", True),
    ]
    assert settings.database_path == PROJECT_ROOT / "data" / "gpu-shopper.duckdb"
    assert settings.inventory_cron == "*/5 * * * *"


def test_settings_provider_without_key_is_left_out(monkeypatch):
    monkeypatch.setenv("VASTAI_API_KEY", "vast-secret-123")
    endpoints = load_settings().provider_endpoints()
    assert [e.name for e in endpoints] == ["vastai"]
    assert not endpoints[0].sandbox


def test_settings_relative_paths_are_anchored_to_the_project(monkeypatch, tmp_path):
    # Regression: run from another folder, a relative DATABASE_PATH made a second warehouse.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", "data/other.duckdb")
    assert load_settings().database_path == PROJECT_ROOT / "data" / "other.duckdb"


def test_settings_blank_key_counts_as_missing(monkeypatch):
    monkeypatch.setenv("VASTAI_API_KEY", "   ")
    assert load_settings().sandbox_mode


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("INVENTORY_INTERVAL", "7x", "INVENTORY_INTERVAL='7x'"),
        ("INVENTORY_INTERVAL", "7m", "divide an hour or a day"),
        ("APP_PORT", "99999", "APP_PORT='99999'"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD'"),
        ("SANDBOX_URL", "ftp://x", "SANDBOX_URL='ftp://x'"),
        ("APP_HOST", "0.0.0.0", "loopback"),
        ("OFFER_DISK_GB", "-5", "OFFER_DISK_GB='-5'"),
        ("SANDBOX_URL", "http://10.0.0.1:8787", "loopback only"),
        ("DATABASE_PATH", "/tmp", "is a folder"),
        ("DATABASE_PATH", "", "empty value"),
        ("DEPLOYMENT_ID", "Prod_1", "lower-case"),
        ("ORPHAN_GRACE", "soon", "ORPHAN_GRACE='soon'"),
    ],
)
def test_settings_invalid_value_names_variable_and_value(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert expected in str(raised.value)
    assert variable in str(raised.value)


def test_settings_error_never_echoes_a_secret(monkeypatch):
    monkeypatch.setenv("VASTAI_API_KEY", "vast-secret-123")
    monkeypatch.setenv("APP_PORT", "nope")
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "vast-secret-123" not in str(raised.value)
    assert "vast-secret-123" not in repr(load_settings(app_port=1).vastai_api_key)


def test_settings_dotenv_that_is_not_text_is_a_clear_error(tmp_path):
    bad = tmp_path / ".env"
    bad.write_bytes(b"\xff\xfeVASTAI_API_KEY=x\n")
    with pytest.raises(SettingsError, match="is not UTF-8 text"):
        load_settings(_env_file=bad)


def test_settings_read_dotenv_file(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("TENSORDOCK_API_TOKEN=td-token\nINVENTORY_INTERVAL=15m\n")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(_env_file=tmp_path / ".env")
    assert settings.tensordock_api_token is not None
    assert settings.tensordock_api_token.get_secret_value() == "td-token"
    assert settings.inventory_cron == "*/15 * * * *"


@pytest.mark.parametrize(
    ("text", "seconds", "cron"),
    [("5m", 300, "*/5 * * * *"), ("1h", 3600, "0 * * * *"), ("360m", 21600, "0 */6 * * *")],
)
def test_interval_to_cron_for_even_intervals(text, seconds, cron):
    assert parse_duration(text) == seconds
    assert interval_to_cron(seconds) == cron


def test_interval_to_cron_rejects_uneven_seconds():
    with pytest.raises(ValueError, match="whole minutes"):
        interval_to_cron(90)
