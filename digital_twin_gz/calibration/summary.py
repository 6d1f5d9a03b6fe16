"""The calibration's summary on the terminal."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table


def print_summary(report: dict, paths: list[Path], console: Console) -> None:
    """The fitted values with their spread, the gaps before and after, and how to use the files."""
    table = Table(title=f"Calibrated: {report['robot']} from {Path(report['recording']).name}", title_justify="left")
    for column in ("parameter", "fitted", "spread (restarts)", "nominal", "bounds"):
        table.add_column(column, justify="left" if column == "parameter" else "right")
    for name, p in report["parameters"].items():
        unit = f" {p['unit']}" if p["unit"] else ""
        bound = f" (at {p['at_bound']} bound)" if p["at_bound"] else ""
        spread = "-" if p["spread"] is None else f"{p['spread']:.3g}"
        table.add_row(name, f"{p['value']:.4g}{unit}{bound}", spread, f"{p['nominal']:.4g}",
                      f"{p['lower']:g} .. {p['upper']:g}")
    for name, r in report["ratios"].items():
        table.add_row(f"{name} (determined)", f"{r['value']:.4g}", "-" if r["spread"] is None else f"{r['spread']:.3g}",
                      "1", "")
    console.print(table)
    if report["gap"]:
        gaps = Table(title="Reality gap, RMS (nominal -> calibrated)", title_justify="left")
        for column in ("part", "key links (mm)", "base position (mm)", "base orientation (mrad)", "joints (mrad)"):
            gaps.add_column(column, justify="left" if column == "part" else "right")
        for part, label in (("train", "training"), ("holdout", "held-out")):
            before, after = report["gap"][part]["nominal"], report["gap"][part]["calibrated"]
            gaps.add_row(label, *(f"{before[k]:.3g} -> {after[k]:.3g}" for k in
                                  ("key_link_mm", "base_position_mm", "base_orientation_mrad", "joint_mrad")))
        console.print(gaps)
    search = report["search"]
    console.print(f"{search['evaluations']} evaluations in {search['wall_s']:.0f} s "
                  f"({search['evaluations_per_s']:.2g}/s)", highlight=False)
    if report["outputs"]["xacro_args"]:
        console.print("xacro arguments (PID gains): " + " ".join(
            f"{k}:={v}" for k, v in report["outputs"]["xacro_args"].items()), highlight=False, soft_wrap=True)
    console.print(f"wrote {', '.join(str(p) for p in paths)}\nuse it: digital-twin-gz replay RECORDING "
                  f"--virtual-profile {paths[0]}; Gazebo: {paths[1]}", highlight=False, soft_wrap=True)
