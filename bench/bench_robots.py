"""How many robots' twins fit on this machine side by side: ``digital-twin-gz demo --robots N`` at
several measurement rates, idle and beside ``stress-ng --cpu 1``, in one run.

Each robot is the nominal profile (the same physics on both sides: the gap is the twin's own
artefact, so a twin that falls behind and drops or mispairs shows). For every robot of every run it
reads report.json: the share of virtual samples paired, the base RMS gap, the measurement's lag
behind the physical clock (p95 and at the end: a twin that does not keep up lags more the longer it
runs, so ``lag_last_s`` / ``duration_s`` is how many seconds it falls behind per second), the
holes in the streams; and from the logs each process's CPU per physical sample. "idle" is whatever
else runs on this shared machine.
Usage: .venv/bin/python bench/bench_robots.py [--robots 1,2,3] [--rates 500,250] [--duration 20]
The last line is one JSON object: "condition, robots x rate" -> one entry per robot.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from pathlib import Path

from conditions import stress_ng, under
from rich.console import Console

from digital_twin_gz.nodes.common import CPU_LOG
from digital_twin_gz.run import TwinOptions, run_demo

CONDITIONS = ("idle", "stress-ng --cpu 1")


def _cpu_seconds(log: Path) -> float | None:
    found = re.findall(rf"{re.escape(CPU_LOG)} ([0-9.]+) s", log.read_text(errors="replace"))
    return float(found[-1]) if found else None


def _demo(out: Path, robots: int, rate: float, duration: float, console: Console) -> list[dict]:
    options = [TwinOptions(profile="nominal", motion="tour", out_dir=str(out), rate=rate,
                           namespace=f"robot_{k}" if robots > 1 else "") for k in range(1, robots + 1)]
    figures = []
    for robot in run_demo(options, duration, console).robots:
        report = robot.report
        samples, transport = report["samples"], report["transport"]
        physical = max(samples["physical_joints"], 1)
        cpu = {name: _cpu_seconds(log) for name, log in robot.logs.items()}
        lag = transport["lag_s"] or {}
        figures.append({
            "namespace": report["namespace"],
            "duration_s": report["duration_s"],
            "paired_pct": 100.0 * samples["paired"] / max(samples["virtual_joints"], 1),
            "physical_samples": samples["physical_joints"],
            "missing": transport["missing"],
            "base_rms_mm": 1e3 * report["base_position_error_m"]["rms"],
            "lag_p95_s": lag.get("p95"),
            "lag_last_s": lag.get("last"),
            "cpu_us_per_sample": {n: None if s is None else 1e6 * s / physical for n, s in cpu.items()},
        })
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--robots", default="1,2,3", help="robot counts, separated by commas")
    parser.add_argument("--rates", default="500,250", help="Hz of the emulated robots, separated by commas")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each demo")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="idle and/or 'stress-ng --cpu 1'")
    args = parser.parse_args()
    counts = [int(n) for n in args.robots.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    conditions = args.conditions.split(",")
    if any(c != "idle" for c in conditions):
        stress_ng()
    console = Console(stderr=True, quiet=True)
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_robots-") as scratch:
        for condition in conditions:
            with under(condition, args.duration * 40):
                for rate in rates:
                    for robots in counts:
                        out = Path(scratch) / f"{condition.split()[0]}-{robots}-{rate:g}"
                        results[f"{condition}, {robots} x {rate:g} Hz"] = _demo(out, robots, rate, args.duration,
                                                                                console)
    print(f"{'condition, robots x rate':<34} {'robot':>9} {'paired %':>8} {'rms mm':>7} {'lag p95':>7} "
          f"{'lag end':>7} {'s/s':>5} {'missing p/v':>11}  CPU us/sample")
    for key, robots in results.items():
        for r in robots:
            behind = (r["lag_last_s"] or 0.0) / max(r["duration_s"], 1e-9)
            missing = f"{r['missing']['physical_joints']}/{r['missing']['virtual_joints']}"
            cpu = ", ".join(f"{n} {'-' if v is None else f'{v:.0f}'}" for n, v in r["cpu_us_per_sample"].items())
            print(f"{key:<34} {r['namespace'] or '/':>9} {r['paired_pct']:8.2f} {r['base_rms_mm']:7.3f} "
                  f"{r['lag_p95_s'] or float('nan'):7.2f} {r['lag_last_s'] or float('nan'):7.2f} {behind:5.2f} "
                  f"{missing:>11}  {cpu}")
    print(json.dumps({"bench": "bench_robots", "duration_s": args.duration, "runs": results}))


if __name__ == "__main__":
    main()
