"""``report.html``: the reality gap of a run on one self-contained page.

Everything is inline (SVG plots, base64 PNG pictures, CSS), so the file can be mailed or
attached to a ticket and opens offline. Plots are drawn here as SVG from the per-sample
errors, decimated to a min/max envelope per pixel column so peaks survive.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from digital_twin_gz.gap.metrics import GapSamples
from digital_twin_gz.gap.pictures import Picture
from digital_twin_gz.gap.report import robot_label

# Plot colours (the screenshot test looks for them).
POSITION_COLOR = "#1f6fd1"
ORIENTATION_COLOR = "#8e44ad"
BAR_COLOR = "#16a085"
WARN_COLOR = "#e69a00"
ERROR_COLOR = "#d62728"
LINK_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
STATUS_COLORS = {"OK": "#2e8b57", "WARN": WARN_COLOR, "ERROR": ERROR_COLOR}

CSS = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; background: #fff; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; }
.meta { color: #555; font-size: 13px; }
.status { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff; font-weight: bold; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th:first-child, td:first-child { text-align: left; }
figure { margin: 12px 0; } figcaption { font-size: 13px; color: #444; }
img { max-width: 100%; border: 1px solid #ccc; }
svg text { font-family: system-ui, sans-serif; font-size: 11px; fill: #333; }
"""


def escape(value: object) -> str:
    return html.escape(str(value))


def _fmt(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None else f"{value * scale:.{digits}f}"


def ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering [low, high]."""
    span = high - low if high > low else 1.0
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + k * step for k in range(int((high - first) / step + 1e-9) + 1)]


def _envelope(t: np.ndarray, y: np.ndarray, columns: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ~2 points per pixel column: the min and max of each, in time order."""
    if len(t) <= 2 * columns:
        return t, y
    bins = np.minimum(((t - t[0]) / (t[-1] - t[0]) * columns).astype(int), columns - 1)
    starts = np.flatnonzero(np.r_[True, bins[1:] != bins[:-1]])
    keep = []
    for a, b in zip(starts, np.r_[starts[1:], len(t)]):
        lo, hi = a + int(np.argmin(y[a:b])), a + int(np.argmax(y[a:b]))
        keep += sorted({lo, hi})
    keep = np.array(keep)
    return t[keep], y[keep]


def plot_frame(width: int, height: int, x_range: tuple[float, float], y_max: float,
               x_ticks: Sequence[tuple[float, str]], y_ticks: Sequence[float], x_label: str,
               y_label: str) -> tuple[list[str], Callable, Callable]:
    """The opening of an SVG plot (background, grid, tick labels, axis labels) and the maps from
    data to pixels: x over ``x_range``, y from 0 to ``y_max``."""
    left, right, top, bottom = 60, 12, 12, 36
    w, h = width - left - right, height - top - bottom
    t0, t1 = x_range

    def x(v):
        return left + (np.asarray(v) - t0) / (t1 - t0) * w

    def y(v):
        return top + h - np.asarray(v) / y_max * h

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">',
             f'<rect x="{left}" y="{top}" width="{w}" height="{h}" fill="#fafafa" stroke="#bbb"/>']
    for v in y_ticks:
        parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e4e4e4"/>'
                     f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v:g}</text>')
    for v, text in x_ticks:
        parts.append(f'<text x="{x(v):.1f}" y="{top + h + 16}" text-anchor="middle">{escape(text)}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{height - 4}" text-anchor="middle">{escape(x_label)}</text>'
                 f'<text x="14" y="{top + h / 2}" transform="rotate(-90 14 {top + h / 2})" '
                 f'text-anchor="middle">{escape(y_label)}</text>')
    return parts, x, y


def line_plot(t: np.ndarray, lines: list[tuple[str, str, np.ndarray]], ylabel: str,
              levels: Sequence[tuple[str, str, float]] = (), width: int = 960, height: int = 260) -> str:
    """An SVG plot of ``lines`` (label, colour, values) over ``t`` seconds, with dashed
    horizontal ``levels`` (label, colour, value)."""
    left, top = 60, 12
    w = width - left - 12
    finite = [y[np.isfinite(y)] for _, _, y in lines]
    high = max([float(v.max()) for v in finite if len(v)] + [v for _, _, v in levels] + [1e-9])
    yticks = ticks(0.0, high * 1.05)
    ymax = max(yticks[-1], high * 1.05)
    t0, t1 = (float(t[0]), float(t[-1])) if len(t) and t[-1] > t[0] else (0.0, 1.0)
    parts, x, y = plot_frame(width, height, (t0, t1), ymax, [(v, f"{v:g}") for v in ticks(t0, t1, 8)], yticks,
                             "time (s)", ylabel)
    for label, color, value in levels:
        if value <= ymax:
            parts.append(f'<line x1="{left}" x2="{left + w}" y1="{y(value):.1f}" y2="{y(value):.1f}" stroke="{color}" '
                         f'stroke-dasharray="6 4" stroke-width="1.5"/><text x="{left + w - 4}" y="{y(value) - 4:.1f}" '
                         f'text-anchor="end" fill="{color}">{escape(label)}</text>')
    for k, (label, color, values) in enumerate(lines):
        ok = np.isfinite(values)
        tt, vv = _envelope(t[ok], values[ok], w)
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x(tt), y(vv)))
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{points}"/>')
        if len(lines) > 1:
            lx = left + 10 + (k % 4) * 200
            ly = top + 14 + (k // 4) * 14
            parts.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{ly - 4}" y2="{ly - 4}" stroke="{color}" '
                         f'stroke-width="3"/><text x="{lx + 22}" y="{ly}">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(rows: list[tuple[str, float, float]], unit: str, width: int = 960) -> str:
    """Horizontal bars: RMS solid, max as a light bar behind it, one row per (name, rms, max)."""
    left, right, row = 190, 70, 16
    height = row * len(rows) + 30
    w = width - left - right
    top = max([m for _, _, m in rows if np.isfinite(m)] + [1e-9])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img">']
    for k, (name, rms, peak) in enumerate(rows):
        yy = 6 + k * row
        rms_w = 0.0 if not np.isfinite(rms) else rms / top * w
        peak_w = 0.0 if not np.isfinite(peak) else peak / top * w
        parts.append(f'<text x="{left - 6}" y="{yy + 11}" text-anchor="end">{escape(name)}</text>'
                     f'<rect x="{left}" y="{yy + 1}" width="{peak_w:.1f}" height="{row - 4}" fill="#cfe9e2"/>'
                     f'<rect x="{left}" y="{yy + 1}" width="{rms_w:.1f}" height="{row - 4}" fill="{BAR_COLOR}"/>'
                     f'<text x="{left + peak_w + 4:.1f}" y="{yy + 11}">{_fmt(rms)} / {_fmt(peak)}</text>')
    parts.append(f'<text x="{left}" y="{height - 6}">{escape(unit)}: RMS (dark) and max (light)</text></svg>')
    return "".join(parts)


def table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _event_value(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _stat_row(label: str, s: dict, scale: float) -> list[str]:
    return [label, *(_fmt(s[k], scale) for k in ("mean", "rms", "p95", "max"))]


def render_html(report: dict, samples: GapSamples, pictures: list[Picture], picture_note: str = "") -> str:
    """The page; ``picture_note`` says why there are no pictures when there are none."""
    deg = float(np.degrees(1.0))
    t = samples.times - samples.times[0] if len(samples) else samples.times
    th = report["thresholds"]
    status = report["status"]
    stats = ["metric", "mean", "rms", "p95", "max"]
    summary = [_stat_row("base position (mm)", report["base_position_error_m"], 1e3),
               _stat_row("base orientation (deg)", report["base_orientation_error_rad"], deg),
               _stat_row("key links MPJPE (mm)", report["mpjpe_mm"], 1.0)]
    samples_info = report["samples"]
    robot = escape(robot_label(report))
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Reality gap: {robot}"
           f"</title><style>{CSS}</style></head><body>",
           f"<h1>Reality gap: {robot} <span class='status' "
           f"style='background:{STATUS_COLORS.get(status, '#555')}'>{escape(status)}</span></h1>",
           f"<p class='meta'>profile {escape(report['profile'])} · motion {escape(report['motion'])} · simulator "
           f"{escape(report['simulator'])} · source {escape(report['source'])} · {report['duration_s']:.1f} s, "
           f"{samples_info['paired']} paired samples ({samples_info['unpaired']} unpaired) · written "
           f"{escape(report['written_at'])}</p>",
           "<h2>Summary</h2>", table(stats, summary),
           f"<p class='meta'>drift rate {_fmt(report['drift_rate_m_per_s'], 1e3)} mm/s · status from the RMS against "
           f"WARN {th['base_position_warn_m'] * 1e3:g} / ERROR {th['base_position_error_m'] * 1e3:g} mm and "
           f"{th['base_orientation_warn_rad'] * deg:.1f} / {th['base_orientation_error_rad'] * deg:.1f} deg</p>"]
    if len(samples):
        out += ["<h2>Base position error</h2>",
                line_plot(t, [("base position", POSITION_COLOR, samples.base_position_m * 1e3)], "error (mm)",
                          [("WARN", WARN_COLOR, th["base_position_warn_m"] * 1e3),
                           ("ERROR", ERROR_COLOR, th["base_position_error_m"] * 1e3)]),
                "<h2>Base orientation error</h2>",
                line_plot(t, [("base orientation", ORIENTATION_COLOR, np.degrees(samples.base_orientation_rad))],
                          "error (deg)", [("WARN", WARN_COLOR, th["base_orientation_warn_rad"] * deg),
                                          ("ERROR", ERROR_COLOR, th["base_orientation_error_rad"] * deg)])]
        links = list(report["key_link_position_error_mm"])
        if links:
            out += ["<h2>Key-link position errors</h2>",
                    line_plot(t, [(link, LINK_COLORS[k % len(LINK_COLORS)], samples.link_mm[:, k])
                                  for k, link in enumerate(links)], "error (mm)"),
                    table(["link (mm)", "mean", "rms", "p95", "max"],
                           [_stat_row(link, s, 1.0) for link, s in report["key_link_position_error_mm"].items()])]
    joints = sorted(report["per_joint_position_error_rad"].items(), key=lambda kv: -(kv[1]["rms"] or 0.0))
    out += ["<h2>Per-joint position error</h2>",
            bar_chart([(name, (s["rms"] or math.nan) * deg, (s["max"] or math.nan) * deg) for name, s in joints],
                      "deg"),
            table(["joint (deg)", "mean", "rms", "p95", "max"], [_stat_row(name, s, deg) for name, s in joints])]
    crossings = report["threshold_crossings"]
    out.append("<h2>Threshold crossings (base position)</h2>")
    out.append(table(["time (s)", "level", "", "error (mm)"],
                      [[f"{c['time_s']:.3f}", c["level"], "entered" if c["entered"] else "left",
                        f"{c['base_position_error_m'] * 1e3:.1f}"] for c in crossings])
               if crossings else "<p class='meta'>none: the base position error never crossed WARN or ERROR</p>")
    events = report.get("events", [])
    out.append("<h2>Events (holes, clock jumps, resyncs)</h2>")
    out.append(table(["time (s)", "event", "what"],
                      [[f"{e['time_s']:.3f}", e["kind"], ", ".join(f"{k} {_event_value(v)}" for k, v in e.items()
                                                                   if k not in ("time_s", "kind"))]
                       for e in events])
               if events else "<p class='meta'>none: no stream had a hole, no clock jumped, no resync</p>")
    out.append("<h2>Largest gaps, pictured</h2><p class='meta'>solid: the physical robot; orange ghost: the twin. "
               "Left: front camera, right: side camera.</p>")
    for picture in pictures:
        data = base64.b64encode(picture.png).decode()
        out.append(f"<figure><img alt='{escape(picture.caption)}' src='data:image/png;base64,{data}'>"
                   f"<figcaption>t = {picture.time_s:.2f} s: {escape(picture.caption)}</figcaption></figure>")
    if not pictures:
        out.append(f"<p class='meta'>no pictures: {escape(picture_note or 'no paired samples')}</p>")
    out.append("</body></html>\n")
    return "\n".join(out)


def write_html(out_dir: Path, report: dict, samples: GapSamples, pictures: list[Picture],
               picture_note: str = "") -> Path:
    path = out_dir / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(report, samples, pictures, picture_note))
    tmp.replace(path)
    return path
