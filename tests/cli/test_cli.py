"""The `gpu-shopper` command as a user runs it: a real process, a real warehouse."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "shopper_pipelines.cli.main", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory, sandbox_url) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_API_TOKEN"))}
    env["DATABASE_PATH"] = str(tmp_path_factory.mktemp("cli") / "w.duckdb")
    env["SANDBOX_URL"] = sandbox_url
    run_cli("ingest", env=env)
    return env


def _inventory(env, *args):
    return json.loads(run_cli("inventory", *args, "-o", "json", env=env).stdout)


def test_inventory_rtx_4090_under_half_a_dollar(cli_env):
    result = _inventory(cli_env, "-g", "RTX 4090", "--max-price", "0.5", "--limit", "500")
    assert result["total"] == len(result["offers"]) > 0
    for offer in result["offers"]:
        assert offer["gpu_model"] == "RTX 4090"
        assert offer["price_per_hour"] <= 0.5
        for key in ("id", "provider", "gpu_count", "vram_gb", "total_vram_gb", "country",
                    "location", "reliability", "cuda"):  # fmt: skip
            assert key in offer
    prices = [offer["price_per_hour"] for offer in result["offers"]]
    assert prices == sorted(prices)


def test_inventory_gpu_spellings_return_the_same_offers(cli_env):
    ids = [
        [o["id"] for o in _inventory(cli_env, "-g", spelling, "--max-price", "0.5")["offers"]]
        for spelling in ("RTX 4090", "rtx_4090", "GeForce RTX 4090")
    ]
    assert ids[0] and ids[0] == ids[1] == ids[2]


def test_inventory_filters_combine(cli_env):
    result = _inventory(
        cli_env, "--min-gpus", "2", "--min-total-vram", "96", "-p", "vastai", "--sort", "vram"
    )
    assert result["offers"]
    for offer in result["offers"]:
        assert offer["gpu_count"] >= 2 and offer["total_vram_gb"] >= 96
        assert offer["provider"] == "vastai"
    vram = [offer["total_vram_gb"] for offer in result["offers"]]
    assert vram == sorted(vram, reverse=True)


def test_inventory_interruptible_only_lists_offers_with_that_price(cli_env):
    result = _inventory(cli_env, "--interruptible", "--limit", "20")
    assert result["offers"]
    assert all(o["interruptible_price_per_hour"] is not None for o in result["offers"])


def test_inventory_get_returns_raw_record(cli_env):
    first = _inventory(cli_env, "--limit", "1")["offers"][0]
    shown = json.loads(run_cli("inventory", "get", first["id"], "-o", "json", env=cli_env).stdout)
    assert shown["offer"]["id"] == first["id"]
    assert isinstance(shown["offer"]["raw"], dict)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("inventory", "--country", "USA"), "--country takes 2-letter country codes"),
        (("inventory", "--min-reliability", "2"), "--min-reliability must be between 0 and 1"),
        (("inventory", "-p", "aws"), "--provider must be one of vastai, tensordock, got 'aws'"),
        (("inventory", "get", "vastai:0"), "no current offer with id 'vastai:0'"),
        (("prices", "-g", "RTX 4090", "--since", "lately"), "--since takes a window"),
        (("import-history", "missing.csv"), "FILE missing.csv does not exist"),
        (("inventory", "-g", "foo"), "--gpu 'foo' is not a GPU model we know"),
        (("inventory", "-g", "RTX 4909"), "did you mean 'RTX 4090'"),
        (("inventory", "--max-price", "nan"), "--max-price must be a finite number"),
        (("prices", "-g", "H100", "--since", "99999999d"), "--since is at most 3650 days"),
        (("import-history", "uv.lock.missing"), "does not exist"),
        (("sandbox", "--port", "1", "--fault", "vastai.offers=abc"), "--fault:"),
    ],
)
def test_cli_bad_input_names_flag_and_value(cli_env, args, message):
    result = run_cli(*args, env=cli_env, check=False)
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr


def test_import_history_of_a_binary_file_is_refused(cli_env, tmp_path):
    # Regression: random bytes raised UnicodeDecodeError with a traceback.
    binary = tmp_path / "bin.csv"
    binary.write_bytes(bytes(range(256)) * 8)
    result = run_cli("import-history", str(binary), env=cli_env, check=False)
    assert result.returncode == 2
    assert "is not a CSV text file" in result.stderr
    assert "Traceback" not in result.stderr


def test_database_path_that_is_not_duckdb_is_a_clear_error(cli_env, tmp_path):
    # Regression: a non-DuckDB file gave a traceback, and snapshots were written beside it.
    other = tmp_path / "notes.txt"
    other.write_text("not a database\n")
    result = run_cli("ingest", env={**cli_env, "DATABASE_PATH": str(other)}, check=False)
    assert result.returncode == 1
    assert f"DATABASE_PATH={other}: cannot open the warehouse" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "snapshots").exists()
    assert other.read_text() == "not a database\n"


def test_cli_bad_setting_fails_at_start_naming_variable(cli_env):
    result = run_cli("inventory", env={**cli_env, "INVENTORY_INTERVAL": "7x"}, check=False)
    assert result.returncode == 1
    assert "INVENTORY_INTERVAL='7x'" in result.stderr


def test_import_history_then_prices(cli_env):
    history = REPO / "data" / "market" / "neocloud_gpu_price_history.csv"
    out = run_cli("import-history", str(history), env=cli_env).stdout
    assert "Imported 6494 price points (neocloud, 2025-10-19 to 2025-11-16)" in " ".join(
        out.split()
    )
    points = json.loads(
        run_cli("prices", "-g", "H100", "--since", "all", "-o", "json", env=cli_env).stdout
    )["points"]
    days = {p["bucket"][:10] for p in points if p["source"] == "import:neocloud"}
    assert len(days) == 29
    assert all(0 < p["min_price"] <= p["median_price"] for p in points)


def test_inventory_does_not_import_dagster(cli_env):
    probe = (
        "import sys\n"
        "sys.argv = ['gpu-shopper', 'inventory', '--limit', '1', '-o', 'json']\n"
        "from shopper_pipelines.cli.main import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('DAGSTER' if 'dagster' in sys.modules else 'NO-DAGSTER', file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=cli_env, capture_output=True, text=True
    )
    assert result.stderr.strip().endswith("NO-DAGSTER"), result.stderr
