"""The calibration's summary on the terminal."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table


def print_summary(report: dict, paths: list[Path], console: Console) -> None:
    """The values with their intervals, what was left open, the gaps before and after, the files."""
    ident = report["identification"]
    title = f"Calibrated: {report['robot']} from {Path(report['recording']).name}"
    if ident is not None:
        title += f" ({100 * ident['confidence']:g} % intervals)"
    table = Table(title=title, title_justify="left")
    for column in ("parameter", "value", "nominal", "bounds", "truth"):
        table.add_column(column, justify="left" if column == "parameter" else "right")
    for name, p in report["parameters"].items():
        unit = f" {p['unit']}" if p["unit"] else ""
        if p.get("determined") is False:
            value = "not determined"
        else:
            width = p.get("half_width")
            value = f"{p['fitted']:.4g}" + (f" ± {width:.2g}" if width is not None else "") + unit
        bound = f" (at {p['at_bound']})" if p["at_bound"] else ""
        table.add_row(name, value + bound, f"{p['nominal']:.4g}", f"{p['lower']:g} .. {p['upper']:g}",
                      "-" if p["truth"] is None else f"{p['truth']:.4g}")
    console.print(table)
    for combination in (ident or {}).get("undetermined", []):
        known = (f": {combination['determined']} = {combination['value']:.4g} ± {combination['half_width']:.2g}"
                 if combination["determined"] else "")
        console.print(f"[yellow]not determined apart:[/] {', '.join(combination['parameters'])}{known} (written "
                      "at the nominal model along what is open)", highlight=False, soft_wrap=True)
    if report["gap"]:
        gaps = Table(title="Reality gap, RMS (nominal -> calibrated)", title_justify="left")
        for column in ("part", "key links (mm)", "base position (mm)", "base orientation (mrad)", "joints (mrad)"):
            gaps.add_column(column, justify="left" if column == "part" else "right")
        for part, label in (("train", "training"), ("holdout", "held-out")):
            before, after = report["gap"][part]["nominal"], report["gap"][part]["calibrated"]
            gaps.add_row(label, *(f"{before[k]:.3g} -> {after[k]:.3g}" for k in
                                  ("key_link_mm", "base_position_mm", "base_orientation_mrad", "joint_mrad")))
        console.print(gaps)
    fit = report["fit"]
    console.print(f"{fit['iterations']} iterations, {fit['evaluations']} candidate models over {fit['segments']} "
                  f"segments in {fit['wall_s']:.0f} s (stopped: {fit['stopped']})", highlight=False)
    if report["outputs"]["xacro_args"]:
        console.print("xacro arguments (PID gains): " + " ".join(
            f"{k}:={v}" for k, v in report["outputs"]["xacro_args"].items()), highlight=False, soft_wrap=True)
    console.print(f"wrote {', '.join(str(p) for p in paths)}\nuse it: digital-twin-gz replay RECORDING "
                  f"--virtual-profile {paths[0]}; Gazebo: {paths[1]}", highlight=False, soft_wrap=True)
