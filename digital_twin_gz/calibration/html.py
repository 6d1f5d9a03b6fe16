"""``calibration.html``: the calibration on one self-contained page, in ``report.html``'s style.

The parameters with their intervals (and the truth, where the recording knows it), what the
recording left open, the correlation matrix of the estimates, the gap of the nominal and the
calibrated twin on both parts with plots of the held-out part, and how the fit went.
"""

from __future__ import annotations

from pathlib import Path

from digital_twin_gz.gap import CSS, ERROR_COLOR, GapSamples, escape, line_plot, mpjpe, table

CALIBRATED_COLOR = "#2e8b57"
HTML_FILE = "calibration.html"


def _value(entry: dict) -> str:
    if entry.get("determined") is False:
        return "not determined"
    value = entry.get("value", entry["fitted"])
    width = entry.get("half_width")
    return f"{value:.5g}" + (f" ± {width:.2g}" if width is not None else "")


def _truth(entry: dict) -> str:
    truth, width = entry["truth"], entry.get("half_width")
    if truth is None:
        return "-"
    if entry.get("determined") is False or width is None:
        return f"{truth:.5g}"
    inside = abs(entry["fitted"] - truth) <= width
    error = (entry["fitted"] - truth) / truth if truth else None
    return (f"{truth:.5g} ({'inside' if inside else 'outside'} the interval"
            + (f", {100 * error:+.2f} %)" if error is not None else ")"))


def _correlation(names: list[str], matrix: list[list[float]]) -> str:
    """The correlation matrix as a table whose cells are tinted red (+1) to blue (-1)."""
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    rows = []
    for name, row in zip(names, matrix):
        cells = []
        for value in row:
            red, blue = (255, int(255 * (1 - value))) if value >= 0 else (int(255 * (1 + value)), 255)
            green = min(red, blue)
            cells.append(f"<td style='background:rgb({red},{green},{blue})'>{value:+.2f}</td>")
        rows.append(f"<tr><td>{escape(name)}</td>{''.join(cells)}</tr>")
    return f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_html(report: dict, samples: dict[str, GapSamples]) -> str:
    fit, parameters = report["fit"], report["parameters"]
    out = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Calibration: {escape(report['robot'])}"
           f"</title><style>{CSS}</style></head><body>",
           f"<h1>Calibration: {escape(report['robot'])}</h1>",
           f"<p class='meta'>recording {escape(report['recording'])} · {report['duration_s']:.1f} s, fitted on "
           f"{report['parts']['train_s'][1]:.1f} s ({fit['segments']} segments of {fit['segment_s']:g} s), held out "
           f"from {report['parts']['holdout_s'][0]:.1f} s · {fit['iterations']} iterations, {fit['evaluations']} "
           f"candidate models, {fit['wall_s']:.0f} s, stopped: {escape(fit['stopped'])} · written "
           f"{escape(report['written_at'])}</p>",
           "<h2>Parameters</h2>",
           table(["parameter", "value", "nominal", "bounds", "unit", "truth"],
                 [[name, _value(e), f"{e['nominal']:.4g}", f"{e['lower']:g} .. {e['upper']:g}"
                   + (f" (at {e['at_bound']})" if e["at_bound"] else ""), e["unit"] or "-", _truth(e)]
                  for name, e in parameters.items()])]
    ident = report["identification"]
    if ident is not None:
        out.append(f"<p class='meta'>± : {100 * ident['confidence']:g} % interval (the wider of the residual's, "
                   f"its correlation over {ident['correlation_time_instants']:.0f} compared instants counted, and the "
                   f"segments' spread); a parameter is determined when its half-width is below "
                   f"{ident['determined_below_scales']:g} of its scale. Residual RMS {ident['residual_rms_mm']:.3g} mm "
                   f"(key links in mm, joints in mrad x {report['fit']['joint_lever_m']:g} m).</p>")
        out.append("<h2>What the recording leaves open</h2>")
        out.append(table(["parameters", "direction (per scale)", "determined", "value"],
                         [[", ".join(c["parameters"]), ", ".join(f"{k} {v:+.2f}" for k, v in c["direction"].items()),
                           c["determined"] or "-",
                           "-" if c["value"] is None else f"{c['value']:.5g} ± {c['half_width']:.2g}"]
                          for c in ident["undetermined"]])
                   if ident["undetermined"] else "<p class='meta'>nothing: every parameter is determined</p>")
        out += ["<h2>Correlation of the estimates</h2>",
                _correlation(ident["correlation"]["parameters"], ident["correlation"]["matrix"])]
    gaps = report["gap"]
    if gaps is not None:
        rows = []
        for part, label in (("train", "training"), ("holdout", "held-out")):
            before, after = gaps[part]["nominal"], gaps[part]["calibrated"]
            rows.append([label, *(f"{before[k]:.3g} → {after[k]:.3g}" for k in
                                  ("key_link_mm", "base_position_mm", "base_orientation_mrad", "joint_mrad"))])
        out += ["<h2>Reality gap, RMS: nominal → calibrated</h2>",
                table(["part", "key links (mm)", "base position (mm)", "base orientation (mrad)", "joints (mrad)"],
                      rows)]
        if gaps["holdout_reduction"] is not None:
            out.append(f"<p class='meta'>held-out gap {100 * gaps['holdout_reduction']:.0f} % smaller</p>")
        cut = report["parts"]["holdout_s"][0]
        held = {name: s.times >= cut for name, s in samples.items()}
        if samples and all(mask.any() for mask in held.values()):
            t = samples["nominal"].times[held["nominal"]]
            series = [("nominal", ERROR_COLOR, "nominal"), ("calibrated", CALIBRATED_COLOR, "calibrated")]
            common = min(int(held[name].sum()) for name in samples)
            out += ["<h2>Held-out part: key-link error (MPJPE)</h2>",
                    line_plot(t[:common], [(label, color, mpjpe(samples[name].link_mm[held[name]])[:common])
                                           for name, color, label in series], "error (mm)"),
                    "<h2>Held-out part: base position error</h2>",
                    line_plot(t[:common], [(label, color, 1e3 * samples[name].base_position_m[held[name]][:common])
                                           for name, color, label in series], "error (mm)")]
    out += ["<h2>Fit</h2>", f"<p class='meta'>{escape(fit['method'])}</p>",
            table(["iteration", "cost (half the sum of squares, mm²)"],
                  [[str(k), f"{c:.6g}"] for k, c in enumerate(fit["cost_per_iteration_mm2"])]),
            "<h2>Outputs</h2>", "<ul>" + "".join(f"<li>{escape(n)}</li>" for n in report["outputs"]["notes"]) + "</ul>",
            "</body></html>\n"]
    return "\n".join(out)


def write_html(out_dir: Path, report: dict, samples: dict[str, GapSamples]) -> Path:
    path = Path(out_dir) / HTML_FILE
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(render_html(report, samples))
    tmp.replace(path)
    return path

