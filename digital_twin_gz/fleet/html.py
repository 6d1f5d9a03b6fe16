"""``fleet.html``: a fleet's recordings on one self-contained page, in ``report.html``'s style.

Robots at a glance (recordings, medians, drift per week), every recording in a table that sorts by
any column (click its header; ``fleet.html#sort=KEY`` or ``#sort=-KEY`` opens it sorted, as a link to
share), each row linking to its recording's own report; the distribution of each plotted metric per
robot, and each against the recordings' dates per robot: drift over weeks. Inline SVG, CSS and a few
lines of script, nothing fetched: it opens offline.
"""

from __future__ import annotations

import html
import math
from datetime import datetime, timezone
from statistics import median

from digital_twin_gz.gap.html import CSS, ERROR_COLOR, LINK_COLORS, STATUS_COLORS, WARN_COLOR, plot_frame, ticks

ROW_COLORS = {"done": STATUS_COLORS["OK"], "failed": ERROR_COLOR, "interrupted": WARN_COLOR}
LINKED = ("report.html", "calibration.html", "calibration.json")  # what a row links to, the first it has

FLEET_CSS = CSS + """
body { max-width: 1200px; }
th[data-key] { cursor: pointer; user-select: none; }
th[data-key]:hover { background: #f2f2f2; }
td.reason { text-align: left; color: #a33; max-width: 380px; font-size: 12px; }
.legend span { display: inline-block; margin-right: 14px; font-size: 13px; }
.legend i { display: inline-block; width: 11px; height: 11px; border-radius: 6px; margin-right: 4px; }
"""

# Sorting: numbers as numbers, empty cells last; ``#sort=KEY`` / ``#sort=-KEY`` on load.
SCRIPT = """
function sortBy(table, key, descending) {
  const head = table.tHead.rows[0];
  const column = [...head.cells].findIndex(c => c.dataset.key === key);
  if (column < 0) return;
  const rows = [...table.tBodies[0].rows];
  const value = r => {
    const cell = r.cells[column];
    return cell.dataset.sort === undefined ? cell.textContent : cell.dataset.sort;
  };
  rows.sort((a, b) => {
    const x = value(a), y = value(b);
    if (x === '' || y === '') return (x === '') - (y === '');
    const nx = Number(x), ny = Number(y);
    const order = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return descending ? -order : order;
  });
  rows.forEach(r => table.tBodies[0].appendChild(r));
  [...head.cells].forEach(c => c.removeAttribute('aria-sort'));
  head.cells[column].setAttribute('aria-sort', descending ? 'descending' : 'ascending');
}
document.querySelectorAll('table.sortable').forEach(table => {
  [...table.tHead.rows[0].cells].forEach(cell => {
    if (!cell.dataset.key) return;
    const ascending = () => cell.getAttribute('aria-sort') === 'ascending';
    cell.addEventListener('click', () => sortBy(table, cell.dataset.key, ascending()));
  });
  const wanted = /sort=(-?)([\\w.-]+)/.exec(location.hash);
  if (wanted) sortBy(table, wanted[2], wanted[1] === '-');
});
"""


def _esc(value: object) -> str:
    return html.escape(str(value))


def _fmt(value: float | None, digits: int) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{round(value, digits) + 0.0:.{digits}f}"


def robot_colors(robots: list[str]) -> dict[str, str]:
    return {robot: LINK_COLORS[k % len(LINK_COLORS)] for k, robot in enumerate(robots)}


def _legend(colors: dict[str, str]) -> str:
    return "<p class='legend'>" + "".join(f"<span><i style='background:{c}'></i>{_esc(r)}</span>"
                                          for r, c in colors.items()) + "</p>"


def _date_label(seconds: float, span: float) -> str:
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%m-%d %H:%M" if span < 2 * 86400 else "%Y-%m-%d")


def strip_plot(rows: list[dict], key: str, label: str, colors: dict[str, str], width: int = 1100) -> str:
    """The values of one metric, a row of dots per robot that has any, its median a bar: the distribution."""
    left, right, top, row_h = 170, 20, 10, 28
    values = {r: [row["values"][key] for row in rows if row["robot"] == r and row["values"].get(key) is not None]
              for r in colors}
    robots = [r for r in colors if values[r]]
    height = top + row_h * len(robots) + 36
    high = max([v for vs in values.values() for v in vs] + [1e-9])
    low = min([v for vs in values.values() for v in vs] + [0.0])
    xticks = ticks(low, high * 1.05)
    x0, x1 = min(xticks[0], low), max(xticks[-1], high * 1.05)
    w = width - left - right

    def x(v: float) -> float:
        return left + (v - x0) / (x1 - x0 or 1.0) * w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    bottom = top + row_h * len(robots)
    for v in xticks:
        parts.append(f'<line x1="{x(v):.1f}" x2="{x(v):.1f}" y1="{top}" y2="{bottom}" stroke="#e4e4e4"/>'
                     f'<text x="{x(v):.1f}" y="{bottom + 14}" text-anchor="middle">{v:g}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{height - 4}" text-anchor="middle">{_esc(label)}</text>')
    for k, robot in enumerate(robots):
        y = top + row_h * k + row_h / 2
        parts.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{_esc(robot)}</text>')
        for j, v in enumerate(values[robot]):
            jitter = ((j * 7) % 5 - 2) * 2.5
            parts.append(f'<circle cx="{x(v):.1f}" cy="{y + jitter:.1f}" r="4" fill="{colors[robot]}" '
                         f'fill-opacity="0.75"/>')
        m = median(values[robot])
        parts.append(f'<line x1="{x(m):.1f}" x2="{x(m):.1f}" y1="{y - 10:.1f}" y2="{y + 10:.1f}" '
                     f'stroke="#222" stroke-width="2"/>')
    parts.append("</svg>")
    return "".join(parts)


def date_plot(rows: list[dict], key: str, label: str, colors: dict[str, str], width: int = 1100,
              height: int = 260) -> str:
    """One metric against the recordings' dates, a line per robot: how its gap drifts over weeks."""
    points = {r: sorted((datetime.fromisoformat(row["date"]).timestamp(), row["values"][key]) for row in rows
                        if row["robot"] == r and row["date"] and row["values"].get(key) is not None)
              for r in colors}
    every = [p for ps in points.values() for p in ps]
    if not every:
        return "<p class='meta'>no dated recording with this value</p>"
    t0, t1 = min(t for t, _ in every), max(t for t, _ in every)
    if t1 - t0 < 60:
        t0, t1 = t0 - 3600, t1 + 3600
    high = max([v for _, v in every] + [1e-9])
    yticks = ticks(0.0, high * 1.05)
    day = 86400.0
    xticks = [(t0 + d * day, _date_label(t0 + d * day, t1 - t0)) for d in ticks(0.0, (t1 - t0) / day, 6)]
    parts, x, y = plot_frame(width, height, (t0, t1), max(yticks[-1], high * 1.05), xticks, yticks,
                             "recording date (UTC)", label)
    for robot, series in points.items():
        if len(series) > 1:
            line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in series)
            parts.append(f'<polyline fill="none" stroke="{colors[robot]}" stroke-width="2" points="{line}"/>')
        parts += [f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="4" fill="{colors[robot]}"/>' for t, v in series]
    parts.append("</svg>")
    return "".join(parts)


def _link(row: dict) -> str | None:
    for name in LINKED:
        for path in row["files"]:
            if path.endswith("/" + name):
                return path
    return None


def _recordings_table(report: dict) -> str:
    metrics = report["metrics"]
    head = [("robot", "robot"), ("recording", "recording"), ("date", "date (UTC)"), ("status", "status"),
            *((m["key"], m["label"]) for m in metrics)]
    verdicts = report["command"] == "fleet replay"
    head += [("verdict", "gap status")] if verdicts else []
    head += [("host", "host"), ("wall_s", "wall (s)"), ("reason", "reason / warnings")]
    out = ["<table class='sortable'><thead><tr>",
           *(f"<th data-key='{_esc(k)}'>{_esc(label)}</th>" for k, label in head), "</tr></thead><tbody>"]
    for row in report["recordings"]:
        link = _link(row)
        name = _esc(row["folder"])
        cells = [f"<td>{_esc(row['robot'])}</td>",
                 f"<td data-sort='{name}'>" + (f"<a href='{_esc(link)}'>{name}</a>" if link else name) + "</td>",
                 f"<td data-sort='{_esc(row['date'] or '')}'>{_esc((row['date'] or '-')[:16].replace('T', ' '))}</td>",
                 f"<td style='color:{ROW_COLORS.get(row['status'], '#555')};font-weight:bold'>"
                 f"{_esc(row['status'])}</td>"]
        for m in metrics:
            value = row["values"].get(m["key"])
            sort = "" if value is None or not math.isfinite(value) else repr(float(value))
            cells.append(f"<td data-sort='{sort}'>{_fmt(value, m['digits'])}</td>")
        if verdicts:
            verdict = row["verdict"] or "-"
            cells.append(f"<td style='color:{STATUS_COLORS.get(verdict, '#555')}'>{_esc(verdict)}</td>")
        notes = "; ".join(([row["reason"]] if row["reason"] else []) + row["warnings"])
        cells += [f"<td>{_esc(row['host'] or '-')}</td>", f"<td>{_fmt(row['wall_s'], 1)}</td>",
                  f"<td class='reason'>{_esc(notes)}</td>"]
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _robots_table(report: dict, plotted: list[dict]) -> str:
    head = ["robot", "recordings", "done", "failed", "first", "last",
            *(f"median {m['label']}" for m in plotted), *(f"drift per week, {m['label']}" for m in plotted)]
    rows = []
    for robot, s in report["robots"].items():
        rows.append([robot, s["recordings"], s["done"], s["failed"], (s["first"] or "-")[:10], (s["last"] or "-")[:10],
                     *(_fmt(s["median"][m["key"]], m["digits"]) for m in plotted),
                     *(_fmt(s["drift_per_week"][m["key"]], m["digits"] + 1) for m in plotted)])
    return ("<table><thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join("<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in r) + "</tr>" for r in rows)
            + "</tbody></table>")


def render_html(report: dict) -> str:
    counts, ray = report["counts"], report["ray"]
    rows = report["recordings"]
    plotted = [m for m in report["metrics"] if m["plotted"]]
    colors = robot_colors(list(report["robots"]))
    title = f"{report['command'].capitalize()}: {counts['recordings']} recordings, {len(report['robots'])} robots"
    badges = "".join(f" <span class='status' style='background:{ROW_COLORS[s]}'>{counts[s]} {s}</span>"
                     for s in ("done", "failed", "interrupted") if counts[s])
    state = ("interrupted: the recordings that finished are reported" if report["interrupted"] else
             "running: the recordings finished so far" if report["partial"] else "complete")
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_esc(title)}</title>"
           f"<style>{FLEET_CSS}</style></head><body>",
           f"<h1>{_esc(title)}{badges}</h1>",
           f"<p class='meta'>{_esc(state)} · Ray {_esc(ray['version'])} at {_esc(ray['address'])}, {ray['nodes']} "
           f"node(s), {ray['cpus']:g} CPUs, started in {ray['start_s']:.1f} s · {report['wall_s']:.1f} s in all · "
           f"written {_esc(report['written_at'])}</p>",
           "<h2>Robots</h2>", _robots_table(report, plotted),
           "<p class='meta'>drift per week: the least-squares slope of the value over the recordings' dates</p>",
           "<h2>Recordings</h2><p class='meta'>click a column's header to sort by it; a recording's name opens its "
           "own report</p>", _recordings_table(report)]
    failed = [row for row in rows if row["status"] != "done"]
    if failed:
        out.append("<h2>Not done</h2><ul>" + "".join(
            f"<li>{_esc(row['folder'])} ({_esc(row['recording'])}): {_esc(row['status'])}: {_esc(row['reason'])}</li>"
            for row in failed) + "</ul>")
    if plotted and rows:
        out += ["<h2>Distributions</h2>", _legend(colors)]
        out += [strip_plot(rows, m["key"], m["label"], colors) for m in plotted]
        out += ["<h2>Against the recording date</h2>", _legend(colors)]
        for m in plotted:
            out += [f"<h3>{_esc(m['label'])}</h3>", date_plot(rows, m["key"], m["label"], colors)]
    out.append(f"<script>{SCRIPT}</script></body></html>\n")
    return "\n".join(out)
