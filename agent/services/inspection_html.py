"""The inspection report as a self-contained HTML page (inline CSS, A4 print layout, 中文/English)."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any


def _pct(fig: dict[str, Any]) -> str:
    v = fig.get("value")
    if v is None:
        return "—"
    mark = "✔" if fig.get("met") else "✘"
    return f"{v * 100:.2f}% {mark}"


def _dur(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}h{(s % 3600) // 60:02d}m{s % 60:02d}s"


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows) or (
        f"<tr><td colspan='{len(head)}'>无 / none</td></tr>")
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


CSS = """
@page { size: A4; margin: 14mm; }
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", sans-serif; font-size: 10.5pt; color: #111; }
h1 { font-size: 16pt; margin: 0 0 4mm; } h2 { font-size: 12pt; margin: 6mm 0 2mm; border-bottom: 1px solid #444; }
table { border-collapse: collapse; width: 100%; page-break-inside: avoid; }
th, td { border: 1px solid #888; padding: 1.2mm 2mm; text-align: left; vertical-align: top; }
th { background: #eee; } .pass { color: #075; } .fail { color: #b00; font-weight: bold; } .skip { color: #666; }
.warn { color: #a60; }
.meta td { border: none; padding: 0.5mm 2mm; } .sign td { height: 16mm; width: 50%; }
"""


def render(report: dict[str, Any]) -> str:
    e = escape
    st = report["selftest"]
    selftest_rows = [[e(r["device"]), e(r.get("class") or "?"),
                      f"<span class='{e(r['result'])}'>{e(r['result'].upper())}</span>", e(r.get("reason", "")),
                      e(r.get("code", "")), e(r.get("action", "")), f"{r.get('duration_s', 0):.2f}s"]
                     for r in st.get("results", [])]
    av = report["availability"]
    def avail_row(label: str, this: dict[str, Any], last: dict[str, Any]) -> list[str]:
        return [label, _pct(this), _dur(this.get("down_s", 0)), _pct(last), _dur(last.get("down_s", 0))]
    avail_rows = [avail_row("<b>终端 Terminal</b>", av["this_month"]["terminal"], av["last_month"]["terminal"])]
    for name, fig in av["this_month"]["devices"].items():
        avail_rows.append(avail_row(e(name), fig, av["last_month"]["devices"].get(name, {})))
    fault_rows = [[e(code), str(v["episodes"]), _dur(v["total_s"]), _dur(v.get("longest_s", 0)),
                   e(", ".join(v["devices"])), e(v["action"])]
                  for code, v in report["faults_30d"]["by_class"].items()]
    q = report["queue"]
    o = report["outages_30d"]
    sysf = report["system"]
    counter_rows = [[e(dev), e(k), str(v)] for dev, cs in report["counters"].items() for k, v in cs.items()]
    sec = report.get("security") or {"ok": True, "checks": []}
    security_rows = [[e(c["check"]), f"<span class='{e(c['status'])}'>{e(c['status'].upper())}</span>",
                      e(c["detail"]), e(c["action"])] for c in sec["checks"]]
    check_rows = [[e(c["zh"]), e(c["en"]), "☑ 已确认 confirmed" if c["confirmed"] else "☐ 未确认 not confirmed"]
                  for c in report["checklist"]]
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>设备巡检单 Inspection report {e(report['terminal_id'])}</title>
<style>{CSS}</style></head><body>
<h1>自助终端设备巡检单 · Kiosk inspection report</h1>
<table class="meta">
<tr><td>终端 Terminal: <b>{e(report['terminal_id'])}</b></td><td>网点 Site: <b>{e(report['site'])}</b></td></tr>
<tr><td>日期 Date: {e(report['date'])}</td><td>巡检工程师 Engineer: {e(report['engineer'] or '—')}</td></tr>
<tr><td>软件版本 Agent: {e(report['version'])}</td>
<td>自检结论 Self-test: <span class="{'pass' if st.get('ok') else 'fail'}">{'全部通过 ALL PASS' if st.get('ok')
 else '存在故障 FAILURES'}</span></td></tr></table>
<h2>1. 部件自检 Component self-test ({e(st.get('level', ''))})</h2>
{_table(["设备 Device", "类别 Class", "结果 Result", "说明 Reason", "代码 Code", "处理 Action", "用时 Time"],
        selftest_rows)}
<h2>2. 可用率 Availability (目标 target ≥ {av['target'] * 100:.0f}%)</h2>
{_table(["", "本月 This month", "本月停机 Down", "上月 Last month", "上月停机 Down"], avail_rows)}
<h2>3. 近30天故障 Faults, last 30 days</h2>
{_table(["故障 Fault", "次数 Episodes", "累计时长 Total", "最长 Longest", "设备 Devices", "处理 Action"],
        fault_rows)}
<h2>4. 离线队列与断网 Offline queue and outages</h2>
{_table(["待发送 Pending", "最早 Oldest", "死信 Dead", "断网次数 Outages (30d)", "断网时长 Outage time"],
        [[str(q['pending']), _dur(q['oldest_age_s']), str(q['dead']), str(o['count']), _dur(o['total_s'])]])}
<h2>5. 系统 System</h2>
{_table(["磁盘可用 Disk free", "内存 Memory", "温度 Temperatures", "运行时间 Uptime"],
        [[f"{sysf.get('disk_free_mb', 0):.0f} MB", f"{sysf.get('mem_pct', 0)}%",
          e(", ".join(f"{k} {v}°C" for k, v in sysf.get('temps_c', {}).items()) or "—"),
          _dur(sysf.get('uptime_s', 0))]])}
<h2>6. 累计计数 Lifetime counters</h2>
{_table(["设备 Device", "计数 Counter", "数值 Value"], counter_rows)}
<h2>7. 安全检查 Security check ({'无失败 no failure' if sec.get('ok') else '存在失败 FAILURES'})</h2>
{_table(["检查 Check", "结果 Result", "说明 Detail", "处理 Action"], security_rows)}
<h2>8. 巡检项目 Checklist</h2>
{_table(["项目", "Item", "确认 Confirmed"], check_rows)}
<h2>9. 签字 Signatures</h2>
<table class="sign"><tr><td>巡检工程师 Engineer:</td><td>网点负责人 Site staff:</td></tr></table>
{_signature_block(report)}
</body></html>
"""


def _signature_block(report: Mapping[str, Any]) -> str:
    """The terminal's electronic signature: key fingerprint (in groups of four, to read aloud) and
    how to check the JSON file it came with."""
    sig = report.get("signature")
    if not isinstance(sig, Mapping):
        return "<p class=\"sig\">终端电子签名 Terminal signature: <b>none (unsigned report)</b></p>"
    fp = str(sig.get("fingerprint", ""))
    grouped = " ".join(fp[i:i + 4] for i in range(0, len(fp), 4))
    return (f"<p class=\"sig\">终端电子签名 Terminal signature ({escape(str(sig.get('alg', '')))}), "
            f"key fingerprint (SHA-256): <code>{escape(grouped)}</code><br>"
            f"核验 Verify the JSON report: <code>kiosk-agent inspect --verify REPORT.json</code></p>")
