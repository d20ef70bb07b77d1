"""The summary as a notebook cell shows it (`hpsearch.Result._repr_html_`): each comparison's and
each sweep's verdict, budget and table, as on the report's page but without its figures."""

from __future__ import annotations

from hpsearch.report.documents.comparison_page import comparison_table, repeated_table
from hpsearch.report.documents.html import esc
from hpsearch.report.documents.page import study_table
from hpsearch.report.figures.plotting import colours
from hpsearch.report.summaries.collect import Report
from hpsearch.report.summaries.scale import scale_lines

# Scoped to the result, so that the notebook's own style is left alone.
STYLE = ("<style>.hpsearch-result .swatch { display: inline-block; width: 10px; height: 10px; "
         "border-radius: 2px; margin-right: 6px; } .hpsearch-result td.num { text-align: right; }"
         "</style>")


def summary_html(report: Report) -> str:
    palette = colours(report.optimizer_order)
    parts = []
    for g in report.repeated:
        table = (repeated_table(g, palette) if len(g.studies) > 1
                 else comparison_table(g.studies[0], palette))
        decided = f"<p><b>{esc(g.decision.text)}</b></p>" if g.decision else ""
        parts.append(f"<h4>{esc(g.name)} <small>comparison on task {esc(g.task)}, "
                     f"{len(g.studies)} studies</small></h4>{decided}<p>{esc(g.verdict)}</p>{table}")
    for s in report.studies:
        parts.append(f"<h4>{esc(s.study)} <small>task {esc(s.task)}, {esc(s.metric)} "
                     f"({esc(s.direction)}), {s.provenance.finished} trials, "
                     f"{esc(s.provenance.budget())}</small></h4><p>{esc(s.verdict)}</p>"
                     f"{study_table(s, palette)}")
    for scale in report.scales:
        parts.append(f"<h4>{esc(scale.study)} <small>scale sweep</small></h4>"
                     f"<pre>{esc(chr(10).join(scale_lines(scale)))}</pre>")
    body = "".join(parts) or "<p>no finished trials yet</p>"
    return f'{STYLE}<div class="hpsearch-result">{body}</div>'
