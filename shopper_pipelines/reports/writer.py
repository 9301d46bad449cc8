"""Writing a report folder atomically: charts to PNG, then Markdown and HTML.

Everything is written into a hidden temporary folder beside the target, then renamed
into place, so a reader never sees a half-written report. Rebuilding a report moves the
old folder aside first (a rename), puts the new one in place, then deletes the old one.
"""

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import vl_convert

from shopper_pipelines.errors import ShopperError
from shopper_pipelines.reports.document import Document, to_html, to_markdown

logger = logging.getLogger(__name__)

PNG_SCALE = 2  # device pixels per CSS pixel: sharp on high-density screens
MARKDOWN_NAME = "report.md"
HTML_NAME = "report.html"


@dataclass(frozen=True)
class Report:
    """A written report: where its files are and its headline figures."""

    kind: str  # "daily" or "weekly"
    period: str  # "2026-12-03" or "2026-W49"
    folder: Path
    markdown_path: Path
    html_path: Path
    charts: tuple[Path, ...]
    headline: dict[str, Any]
    markdown: str
    duration_s: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "period": self.period,
            "folder": str(self.folder),
            "markdown": str(self.markdown_path),
            "html": str(self.html_path),
            "charts": [str(path) for path in self.charts],
            "headline": self.headline,
            "duration_s": round(self.duration_s, 3),
        }


def write_report(
    document: Document,
    target: Path,
    *,
    kind: str,
    period: str,
    headline: dict[str, Any],
    started: float,
) -> Report:
    """Render `document` into `target` (a folder), replacing any earlier build of it."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as error:
        raise ShopperError(f"REPORTS_DIR: cannot write under {target.parent}: {error}") from None
    try:
        charts = []
        for chart in document.charts:
            png = vl_convert.vegalite_to_png(chart.chart.to_json(), scale=PNG_SCALE)
            (staging / f"{chart.name}.png").write_bytes(png)
            charts.append(target / f"{chart.name}.png")
        markdown = to_markdown(document)
        (staging / MARKDOWN_NAME).write_text(markdown, encoding="utf-8")
        (staging / HTML_NAME).write_text(to_html(document), encoding="utf-8")
        staging.chmod(0o755)  # mkdtemp makes it 0700
        _swap_into_place(staging, target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise ShopperError(
            f"REPORTS_DIR: cannot write the report {target}: {error.strerror or error}"
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report = Report(
        kind=kind,
        period=period,
        folder=target,
        markdown_path=target / MARKDOWN_NAME,
        html_path=target / HTML_NAME,
        charts=tuple(charts),
        headline=headline,
        markdown=markdown,
        duration_s=time.perf_counter() - started,
    )
    logger.info("%s report %s written to %s", kind, period, target)
    return report


def _swap_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    retired = target.with_name(f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}")
    os.replace(target, retired)
    os.replace(staging, target)
    shutil.rmtree(retired, ignore_errors=True)
