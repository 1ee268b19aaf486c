"""report.html: the headline numbers, the figures with a few words each, the provenance.

Plain string templates and ``html.escape``: the page needs no template engine, and it renders
the little Markdown of the tuning table (docs/validation.md) itself.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from .figures import _Figure

_STYLE = """
body { font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto;
       padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } .lead { color: #555; margin-top: 0; }
.big { font-size: 2.2rem; font-weight: 600; }
table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
td, th { border: 1px solid #ccc; padding: 0.2rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1.5rem 0; } img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #444; max-width: 45rem; } code { background: #f3f3f3; padding: 0 0.2rem; }
"""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *, escape: bool = True) -> str:
    """An HTML table; ``escape=False`` for cells that already are HTML."""

    def cell(value: Any) -> str:
        return html.escape(str(value)) if escape else str(value)

    head = "".join(f"<th>{cell(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _markdown_html(markdown: str) -> str:
    """The little Markdown the tuning table uses: headings, paragraphs, pipe tables, `code`."""

    def inline(text: str) -> str:
        text = html.escape(text)
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
        return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)

    parts = []
    for block in re.split(r"\n\s*\n", markdown.strip()):
        lines = block.strip().splitlines()
        if lines[0].startswith("#"):
            parts.append(f"<h3>{inline(lines[0].lstrip('#').strip())}</h3>")
            lines = lines[1:]
        if lines and all(line.startswith("|") for line in lines):
            rows = [
                [inline(cell.strip()) for cell in line.strip().strip("|").split("|")]
                for line in lines
                if not re.fullmatch(r"[|\s:-]+", line)  # the |---|---| separator
            ]
            parts.append(_table(rows[0], rows[1:], escape=False))
        elif lines:
            parts.append(f"<p>{inline(' '.join(lines))}</p>")
    return "\n".join(parts)


def _html(metrics: dict[str, Any], figures: Sequence[_Figure]) -> str:
    """report.html: the headline numbers, the figures with a few words each, the provenance.

    Images are referenced by file name, next to the page: the folder is the report.
    """
    timings, chosen = metrics["timings"], metrics["validation"]["chosen"]
    per_class = metrics["per_class"]
    params = ", ".join(
        f"{name}={value}"
        for name, value in metrics["params"].items()
        if name not in ("name", "description")  # already the page's heading
    )
    subset = "" if metrics["limit"] is None else " (the first ones only: a partial run)"
    chosen_error = (
        f"{100 * chosen['error']:.2f} %" if chosen["error"] is not None else "not measured"
    )
    class_rows = [
        (d, s, f"{100 * p:.1f}", f"{100 * r:.1f}", f"{100 * f:.1f}")
        for d, s, p, r, f in zip(
            per_class["digit"],
            per_class["support"],
            per_class["precision"],
            per_class["recall"],
            per_class["f1"],
            strict=True,
        )
    ]
    figure_html = "".join(
        f'<figure><h3>{html.escape(f.title)}</h3><img src="{html.escape(f.filename)}" '
        f'alt="{html.escape(f.title)}"><figcaption>{html.escape(f.explanation)}</figcaption>'
        "</figure>"
        for f in figures
    )
    environment = metrics["versions"] | {"cores": metrics["machine"]["cpu_count"]}
    table = metrics["validation"]["tuning_table"]
    tuning = (
        ""
        if table is None
        else f"<p>The grid search that chose them ({html.escape(table['source'])}):</p>"
        + _markdown_html(table["markdown"])
    )
    esc = html.escape
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>knn-digits report: {esc(metrics["preset"])}</title>
<style>{_STYLE}</style></head>
<body>
<h1>knn-digits: preset <code>{esc(metrics["preset"])}</code></h1>
<p class="lead">{esc(metrics["description"])}</p>
<p><span class="big">{100 * metrics["error_rate"]:.2f} %</span> test error:
{metrics["n_errors"]:,} of {metrics["n_test"]:,} MNIST test digits wrong{esc(subset)}.</p>
<p>Fitted on {metrics["data"]["n_train"]:,} training digits in {timings["fit_seconds"]:.2f} s;
classified the test digits in {timings["predict_seconds"]:.2f} s
({timings["predict_ms_per_image"]:.2f} ms per digit, {timings["images_per_second"]:,.0f}/s).</p>

<h2>The parameters, on validation</h2>
<p>Parameters: <code>{esc(params)}</code>. Parameters are judged on a validation split of the
training set, never on the test set: fit on {esc(metrics["validation"]["split"]["fit"])},
measure on {esc(metrics["validation"]["split"]["validate"])}. There this preset's k and
distance give {chosen_error} error ({chosen["n_validation"]:,} validation digits); the best k
for its distance is {chosen["best_k"]} ({100 * chosen["best_k_error"]:.2f} %). The test error
above is measured once, by the model fitted on all training digits.</p>
{tuning}

<h2>Per digit</h2>
<p>Precision: of the digits predicted as this class, the share that were. Recall: of the digits
of this class, the share found. F1 is their harmonic mean.</p>
{_table(("digit", "test digits", "precision %", "recall %", "F1 %"), class_rows)}

<h2>Figures</h2>
{figure_html}

<h2>Provenance</h2>
<p>All numbers are in <a href="metrics.json">metrics.json</a>. Data checksum
<code>{esc(metrics["data"]["checksum"])}</code> ({esc(metrics["data"]["source"])} MNIST files);
written {esc(metrics["created"])}.</p>
{_table(("", "version"), sorted(environment.items()))}
</body></html>
"""
