"""A report as a list of blocks, rendered once to Markdown and once to HTML.

Building the content once keeps the two files saying the same thing. Every piece of text
inserted into the HTML is escaped here (consumer ids, GPU names and alert reasons come
from users and providers); Markdown table cells have their pipes escaped.
"""

import html
from dataclasses import dataclass, field

import altair as alt


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]
    empty: str = "Nothing to show."


@dataclass(frozen=True)
class Chart:
    """An Altair chart rendered to `<name>.png` beside the report."""

    name: str
    title: str
    chart: alt.TopLevelMixin


Block = Heading | Text | Table | Chart


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    @property
    def charts(self) -> list[Chart]:
        return [block for block in self.blocks if isinstance(block, Chart)]


def _md_cell(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def to_markdown(document: Document) -> str:
    lines = [f"# {document.title}", ""]
    for block in document.blocks:
        if isinstance(block, Heading):
            lines += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Text):
            lines += [block.text, ""]
        elif isinstance(block, Table):
            if not block.rows:
                lines += [f"_{block.empty}_", ""]
                continue
            lines.append("| " + " | ".join(_md_cell(c) for c in block.columns) + " |")
            lines.append("|" + "|".join(" --- " for _ in block.columns) + "|")
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            lines.append("")
        else:
            lines += [f"![{block.title}]({block.name}.png)", ""]
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;color:#222}"
    "table{border-collapse:collapse;margin:.5rem 0 1.5rem}"
    "th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}"
    "th{background:#f3f3f3}img{max-width:100%}.empty{color:#666;font-style:italic}"
)


def to_html(document: Document) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(document.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(document.title)}</h1>",
    ]
    for block in document.blocks:
        if isinstance(block, Heading):
            level = min(max(block.level, 2), 6)
            parts.append(f"<h{level}>{esc(block.text)}</h{level}>")
        elif isinstance(block, Text):
            parts.append(f"<p>{esc(block.text)}</p>")
        elif isinstance(block, Table):
            if not block.rows:
                parts.append(f'<p class="empty">{esc(block.empty)}</p>')
                continue
            head = "".join(f"<th>{esc(c)}</th>" for c in block.columns)
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in block.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        else:
            src = esc(f"{block.name}.png", quote=True)
            parts.append(f'<figure><img src="{src}" alt="{esc(block.title, quote=True)}"></figure>')
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
