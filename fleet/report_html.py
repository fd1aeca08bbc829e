"""The monthly report as one printable HTML page (no scripts, no external assets)."""

from __future__ import annotations

from html import escape
from typing import Any


def _pct(v: float | None) -> str:
    return "&ndash;" if v is None else f"{v * 100:.2f}%"


def render(doc: dict[str, Any]) -> str:
    rows = []
    for t in doc["terminals"]:
        ag = t.get("agreement") or {}
        cls = "bad" if t["met"] is False else ""
        rows.append(
            f"<tr class='{cls}'><td>{escape(t['terminal_id'])}</td><td>{escape(str(t['site'] or ''))}</td>"
            f"<td>{escape(str(t['site_class'] or ''))}</td><td>{_pct(t['availability'])}</td>"
            f"<td>{_pct(t['terminal_reported_availability'])}</td>"
            f"<td>{escape(str(ag.get('why') or ('agrees' if ag.get('agrees') else '')))}</td>"
            f"<td>{len(t['incidents'])}</td><td>{t['repeat_faults']}</td>"
            f"<td>{_pct(t['transactions']['success_rate'])}</td></tr>")
    incs = []
    for t in doc["terminals"]:
        for i in t["incidents"]:
            met = i.get("response_met")
            incs.append(
                f"<tr><td>{escape(i['terminal_id'])}</td><td>{escape(i['device'])}</td><td>{escape(i['fault'])}</td>"
                f"<td>{escape(str(i['action']))}</td><td>{escape(i['opened'])}</td>"
                f"<td>{escape(str(i['closed'] or 'open'))}</td>"
                f"<td>{i['response_s'] if i['response_s'] is not None else '&ndash;'}</td>"
                f"<td>{i['repair_s'] if i['repair_s'] is not None else '&ndash;'}</td>"
                f"<td>{'' if met is None else ('met' if met else 'missed')}</td>"
                f"<td>{'repeat' if i['repeat'] else ''}</td></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Service report {escape(doc['month'])}</title>
<style>body{{font:13px sans-serif;margin:2em}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #999;padding:3px 6px;text-align:left}}tr.bad td{{background:#fdd}}</style></head>
<body><h1>Service report {escape(doc['month'])}</h1>
<p>Availability target {doc['target']:.0%}; figures to {escape(doc['window_end'])}.
Below target: {escape(', '.join(doc['below_target']) or 'none')}.</p>
<h2>Terminals</h2><table><tr><th>terminal</th><th>site</th><th>class</th><th>availability</th>
<th>terminal's own</th><th>agreement</th><th>incidents</th><th>repeat</th><th>txn success</th></tr>
{''.join(rows)}</table>
<h2>Incidents</h2><table><tr><th>terminal</th><th>device</th><th>fault</th><th>action</th><th>opened</th>
<th>closed</th><th>response s</th><th>repair s</th><th>response target</th><th></th></tr>
{''.join(incs)}</table></body></html>
"""
