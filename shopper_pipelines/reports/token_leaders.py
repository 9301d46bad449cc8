"""The $/M-token leaders of the weekly report, from the benchmarks capability's analytics.

Per benchmarked model, the result with the lowest $ per million output tokens; measured
results win over the published reference rows, and the table says which it is.
"""

from typing import Any

from shopper_pipelines.benchmarks import analytics
from shopper_pipelines.reports.document import Document, Heading, Table, Text
from shopper_pipelines.settings import Settings

NO_DATA = "No benchmark data yet: run `gpu-shopper benchmarks run` or `benchmarks load`."


def add_section(doc: Document, settings: Settings) -> dict[str, Any]:
    doc.add(Heading("Cheapest per million tokens, per benchmarked model"))
    rows = []
    for model in analytics.stored_models(settings.database_path):
        top = analytics.cheapest(settings.database_path, model)
        if top is None:
            continue
        evidence = "measured" if top["source"] == "measured" else "published (reference)"
        rows.append([
            model, str(top["gpu_model"]), f"${top['dollars_per_m_tokens']:.2f}",
            f"{top['tokens_per_second']:.1f}", f"${top['price_per_hour']:.3f}", evidence,
        ])  # fmt: skip
    if not rows:
        doc.add(Text(NO_DATA))
    else:
        doc.add(Table(["Model", "GPU", "$ / M tokens", "Tokens/s", "$/h", "Evidence"], rows))
    measured = sum(1 for row in rows if row[-1] == "measured")
    return {"benchmarked_models": len(rows), "measured_models": measured}
