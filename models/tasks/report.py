"""Evaluation reports: one JSON file for machines and one self-contained HTML page for people."""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path

from ..about import created_by
from ..output_files import REPORT_SUFFIXES, check_output_file, write_text_atomically


@dataclass
class Table:
    """A titled table: a header row, data rows, and an optional note under it."""

    title: str
    header: list[str]
    rows: list[list]
    note: str = ""
    #: per column: True = higher is better, False = lower is better, None = not ranked
    higher_is_better: list[bool | None] = field(default_factory=list)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def _best_rows(table: Table) -> dict[int, int]:
    """Column index -> row index of the best value, for ranked numeric columns."""
    best = {}
    for column, higher in enumerate(table.higher_is_better):
        values = [(row[column], index) for index, row in enumerate(table.rows)
                  if column < len(row) and isinstance(row[column], (int, float))]
        if higher is not None and len(values) > 1:
            best[column] = (max if higher else min)(values)[1]
    return best


def render_html(title: str, summary: list[str], tables: list[Table]) -> str:
    """A small standalone HTML page with the summary lines and tables (best values in bold)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
             "margin:1em 0}td,th{border:1px solid #bbb;padding:4px 8px;text-align:right}"
             "th{background:#eee}td:first-child{text-align:left}.note{color:#555}</style></head>",
             f"<body><h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in summary]
    for table in tables:
        best = _best_rows(table)
        parts.append(f"<h2>{html.escape(table.title)}</h2><table><tr>"
                     + "".join(f"<th>{html.escape(h)}</th>" for h in table.header) + "</tr>")
        for index, row in enumerate(table.rows):
            cells = [f"<b>{_cell(v)}</b>" if best.get(c) == index else _cell(v) for c, v in enumerate(row)]
            parts.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
        parts.append("</table>")
        if table.note:
            parts.append(f"<p class='note'>{html.escape(table.note)}</p>")
    parts.append(f"<p class='note'>{html.escape(created_by())}</p></body></html>")
    return "\n".join(parts)


def write_report(html_path: str | Path, title: str, summary: list[str], tables: list[Table],
                 data: dict) -> tuple[Path, Path]:
    """Write `<name>.html` and `<name>.json` (the `data` dict) side by side, each complete or
    not at all; return both paths. The name must end in .html (see `check_report_path`)."""
    html_path = check_report_path(html_path)
    json_path = html_path.with_suffix(".json")
    write_text_atomically(json_path, json.dumps({"title": title, "created_by": created_by(), **data},
                                                indent=2, sort_keys=True))
    try:
        write_text_atomically(html_path, render_html(title, summary, tables))
    except BaseException:
        json_path.unlink(missing_ok=True)  # the numbers without their page would look finished
        raise
    return html_path, json_path


def check_report_path(html_path: str | Path) -> Path:
    """The report path, checked before any work: an .html name in a folder that takes files
    (the JSON goes beside it under the same name)."""
    return check_output_file(html_path, REPORT_SUFFIXES, "report")
