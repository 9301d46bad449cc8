"""What Dagster shows per GPU x model partition: a summary of the stored results, and a
fingerprint per pair so the sensor knows when new results arrived.

$/M tokens = price per hour / (tokens/s x 3600) x 1,000,000; e.g. 44 tokens/s at $0.44/h
is 0.44 / 158,400 x 1e6 = $2.78 per million tokens. Measured results count only when
valid; published reference rows are counted separately and always labelled as such.
"""

from pathlib import Path
from typing import Any

from shopper_pipelines.warehouse import connect

_SUMMARY = """
SELECT
    count(*) FILTER (WHERE source = 'measured' AND valid) AS measured,
    count(*) FILTER (WHERE source = 'measured' AND NOT valid) AS measured_invalid,
    count(*) FILTER (WHERE source = 'published') AS published,
    median(tokens_per_second) FILTER (WHERE source = 'measured' AND valid) AS measured_tps,
    median(tokens_per_second) FILTER (WHERE source = 'published') AS published_tps,
    median(price_per_hour / (tokens_per_second * 3600) * 1000000)
        FILTER (WHERE source = 'measured' AND valid AND tokens_per_second > 0)
        AS measured_usd_per_m,
    median(price_per_hour / (tokens_per_second * 3600) * 1000000)
        FILTER (WHERE source = 'published' AND tokens_per_second > 0) AS published_usd_per_m,
    median(ttft_ms_p50) FILTER (WHERE source = 'measured' AND valid) AS ttft_ms_p50,
    max(measured_at) AS latest_measured_at,
    string_agg(DISTINCT provider, ', ' ORDER BY provider)
        FILTER (WHERE source = 'measured' AND valid) AS providers
FROM benchmark_results
WHERE gpu_model = ? AND model = ?
"""


def summarise_pair(db_path: Path, gpu_model: str, model: str) -> dict[str, Any]:
    """Counts by source, median TPS and $/M tokens (measured, and published reference)."""
    with connect(db_path, read_only=True) as con:
        cursor = con.execute(_SUMMARY, [gpu_model, model])
        names = [column[0] for column in cursor.description]
        row = cursor.fetchone()
    summary: dict[str, Any] = dict(zip(names, row or (None,) * len(names), strict=True))
    for key, value in summary.items():
        if value is not None and key not in ("providers", "latest_measured_at"):
            summary[key] = float(value) if not isinstance(value, int) else value
    return summary


def pair_fingerprints(db_path: Path) -> dict[str, str]:
    """'gpu|model' -> count and newest load of its measured results (changes when a new
    result is stored)."""
    if not db_path.is_file():
        return {}
    with connect(db_path, read_only=True) as con:
        rows = con.execute(
            "SELECT gpu_model, model, count(*), max(loaded_at) FROM benchmark_results"
            " WHERE source = 'measured' GROUP BY ALL"
        ).fetchall()
    return {f"{gpu}|{model}": f"{count}@{loaded.isoformat()}" for gpu, model, count, loaded in rows}
