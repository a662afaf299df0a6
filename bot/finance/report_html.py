"""The board report as ONE self-contained HTML file: it opens from a mail attachment or a
file share with no server and no network.

Everything is inside the file: the CSS in a ``<style>`` element, the charts as base64
``data:`` URIs; there is no link, script, font or image from anywhere else (a test checks
that no ``http://`` or ``https://`` appears). Every string that came from a person or a tag
(project names, playbook answers, runbook text) goes through ``html.escape``, so a
``<script>`` typed into "what changed" prints as text. The same file is what Chromium prints
to PDF, so its CSS carries the page size and keeps table rows whole across pages.
"""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

from bot.chat.text import money
from bot.finance.report_story import month_name

if TYPE_CHECKING:
    from bot.finance.report import BoardReport

__all__ = ["render_html"]

_CSS = """
@page { size: A4 landscape; margin: 12mm; }
* { box-sizing: border-box; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #222;
       margin: 24px auto; max-width: 1180px; padding: 0 16px; font-size: 14px;
       line-height: 1.45; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; color: #1f4e79; }
h2 { font-size: 19px; margin: 28px 0 8px; color: #1f4e79; border-bottom: 2px solid #1f4e79;
     padding-bottom: 3px; }
p.meta { color: #555; margin: 0 0 16px; }
.story p { margin: 0 0 10px; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 13px; }
th, td { border: 1px solid #c8d3df; padding: 5px 7px; vertical-align: top; text-align: left; }
th { background: #e8eef5; }
td.num, th.num { text-align: right; white-space: nowrap; }
tr { break-inside: avoid; }
tr.total td { font-weight: bold; background: #f4f6f9; }
td.over { color: #b00020; font-weight: bold; }
figure { margin: 10px 0 18px; break-inside: avoid; }
figure img { width: 100%; height: auto; border: 1px solid #e0e0e0; }
figcaption { color: #555; font-size: 12px; }
p.note { color: #555; font-size: 12px; }
"""


def _m(report: BoardReport, amount: float | None) -> str:
    return "" if amount is None else money(amount, currency=report.currency)


def _time(moment: datetime | None) -> str:
    return "" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}%"


def render_html(report: BoardReport) -> str:
    """The whole report as one HTML document."""
    name = escape(month_name(report.period))
    state = "the month is over" if report.complete else "month to date, with forecasts"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Spend report {escape(report.period)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Spend and anomaly report: {name}</h1>",
        f'<p class="meta">Generated {escape(_time(report.generated_at))} ({escape(state)}); '
        f"amounts in {escape(report.currency)}, effective cost.</p>",
        "<h2>The month in brief</h2>",
        '<div class="story">' + "".join(f"<p>{escape(p)}</p>" for p in report.story)
        + "</div>",
        _register(report),
        _spend(report),
        _budgets(report),
        _charts(report),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _register(report: BoardReport) -> str:
    head = ("<h2>Anomaly register</h2>"
            f"<p>{len(report.register)} anomal{'y' if len(report.register) == 1 else 'ies'} "
            f"detected in {escape(month_name(report.period))}.</p>")
    if not report.register:
        return head
    rows = "".join(
        f'<tr id="anomaly-{r.id}"><td class="num">{r.id}</td><td>{escape(r.workload)}</td>'
        f"<td>{escape(_time(r.detected))}</td><td>{escape(_time(r.acknowledged))}</td>"
        f"<td>{escape(_time(r.resolved))}</td>"
        f'<td class="num">{escape(_m(report, r.impact))}</td>'
        f"<td>{escape(r.what_changed)}</td><td>{escape(r.resolution)}</td></tr>"
        for r in report.register)
    return (head + "<table><thead><tr><th class=\"num\">id</th><th>workload</th>"
            "<th>detected</th><th>acknowledged</th><th>resolved</th>"
            '<th class="num">impact</th><th>what changed</th><th>resolution</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>")


def _spend(report: BoardReport) -> str:
    rows = []
    for p in report.projects:
        over = p.percent_of_budget is not None and p.percent_of_budget > 100
        rows.append(
            f"<tr><td>{escape(p.project)}</td>"
            f'<td class="num">{escape(_m(report, p.direct))}</td>'
            f'<td class="num">{escape(_m(report, p.shared))}</td>'
            f'<td class="num">{escape(_m(report, p.total))}</td>'
            f'<td class="num">{escape(_m(report, p.previous))}</td>'
            f'<td class="num">{escape(_m(report, p.budget))}</td>'
            f'<td class="num">{escape(_m(report, p.budget_spent))}</td>'
            f'<td class="num{" over" if over else ""}">{_pct(p.percent_of_budget)}</td>'
            f'<td class="num">{escape(_m(report, p.forecast))}</td></tr>')
    rows.append(
        f'<tr class="total"><td>total</td><td class="num">{escape(_m(report, report.direct))}'
        f'</td><td class="num">{escape(_m(report, report.shared))}</td>'
        f'<td class="num">{escape(_m(report, report.total))}</td>'
        f'<td class="num">{escape(_m(report, report.previous))}</td>'
        "<td></td><td></td><td></td><td></td></tr>")
    notes = "".join(f'<p class="note">{escape(pool.name)}: {escape(pool.note)}</p>'
                    for pool in report.pools if pool.note)
    return ("<h2>Spend against budget per project</h2>"
            "<table><thead><tr><th>project</th>"
            '<th class="num">direct</th><th class="num">shared</th><th class="num">total</th>'
            f'<th class="num">{escape(report.previous_period)}</th>'
            '<th class="num">budget</th><th class="num">counted by budget</th>'
            '<th class="num">% of budget</th><th class="num">forecast</th></tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
            '<p class="note">Direct and shared spend come from showback (shared pools split to '
            "the cent); a budget counts every line tagged to its project, shared or not, as the "
            "budget alerts in chat do.</p>" + notes)


def _budgets(report: BoardReport) -> str:
    if not report.budgets:
        return "<h2>Budgets</h2><p>No budgets apply to this month.</p>"
    rows = "".join(
        f"<tr><td>{escape(b.budget.label)}</td>"
        f'<td class="num">{escape(_m(report, b.budget.amount))}</td>'
        f'<td class="num">{escape(_m(report, b.spent))}</td>'
        f'<td class="num{" over" if b.percent_spent > 100 else ""}">{_pct(b.percent_spent)}'
        f'</td><td class="num">{escape(_m(report, b.forecast))}</td>'
        f'<td class="num">{_pct(b.percent_forecast)}</td>'
        f"<td>{escape(b.budget.set_by or 'config')}</td></tr>" for b in report.budgets)
    return ("<h2>Budgets</h2><table><thead><tr><th>budget</th><th class=\"num\">amount</th>"
            '<th class="num">spent</th><th class="num">% spent</th>'
            '<th class="num">forecast</th><th class="num">% forecast</th><th>set by</th>'
            f"</tr></thead><tbody>{rows}</tbody></table>")


def _charts(report: BoardReport) -> str:
    figures = "".join(
        f'<figure><img src="data:image/png;base64,{base64.b64encode(c.png).decode("ascii")}"'
        f' alt="{escape(c.alt)}"><figcaption>{escape(c.title)}: {escape(c.alt)}</figcaption>'
        "</figure>" for c in report.charts)
    return "<h2>Charts</h2>" + figures
