"""The same nominal demo on an idle machine and beside ``stress-ng --cpu 2``, with the twin's nodes in
separate processes and in one (``--one-process``), side by side in one run.

Lockstep's promise is that the answer does not depend on the load: a busy machine makes the
twin lag, it does not make it drop samples or change its result. For each condition the
bench runs ``digital-twin-gz demo --profile nominal`` (the same physics on both sides, so the
gap is the twin's own artefact) and reads its report.json: the share of virtual samples paired,
the base RMS gap, the measurement's lag behind the physical clock, the holes in the streams;
and from each node's log the CPU time it used, per physical sample. "idle" is whatever else
runs on this shared machine; the stress condition adds two CPU hogs (Debian's stress-ng). In one
process (twin_container) the CPU is the container's, all three nodes; "total" sums every process.
Usage: .venv/bin/python bench/bench_load.py [--duration 20] [--repeat 1]
The last line is one JSON object: "condition, layout" -> figures.
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

CONDITIONS = ("idle", "stress-ng --cpu 2")
LAYOUTS = ("separate", "one process")


def _cpu_seconds(log: Path) -> float | None:
    found = re.findall(rf"{re.escape(CPU_LOG)} ([0-9.]+) s", log.read_text(errors="replace"))
    return float(found[-1]) if found else None


def _demo(out: Path, duration: float, one_process: bool, console: Console) -> dict:
    options = TwinOptions(profile="nominal", motion="tour", out_dir=str(out), one_process=one_process)
    (result,) = run_demo([options], duration, console).robots
    report = result.report
    samples, transport = report["samples"], report["transport"]
    physical = max(samples["physical_joints"], 1)
    cpu = {name: _cpu_seconds(log) for name, log in result.logs.items()}
    cpu["total"] = sum(v for v in cpu.values() if v is not None)
    return {
        "duration_s": report["duration_s"],
        "paired_pct": 100.0 * samples["paired"] / max(samples["virtual_joints"], 1),
        "physical_samples": samples["physical_joints"],
        "missing": transport["missing"],
        "base_rms_mm": 1e3 * report["base_position_error_m"]["rms"],
        "lag_s": transport["lag_s"],
        "cpu_us_per_sample": {n: None if s is None else 1e6 * s / physical for n, s in cpu.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of each demo")
    parser.add_argument("--repeat", type=int, default=1, help="alternating rounds of both conditions")
    args = parser.parse_args()
    stress_ng()
    console = Console(stderr=True, quiet=True)
    results: dict[str, list[dict]] = {f"{c}, {layout}": [] for c in CONDITIONS for layout in LAYOUTS}
    with tempfile.TemporaryDirectory(prefix="bench_load-") as scratch:
        for round_ in range(args.repeat):
            for condition in CONDITIONS:
                with under(condition, args.duration * 20):
                    for layout in LAYOUTS:
                        out = Path(scratch) / f"{round_}-{condition.split()[0]}-{layout.split()[0]}"
                        results[f"{condition}, {layout}"].append(
                            _demo(out, args.duration, layout == "one process", console))
    print(f"{'condition, layout':<32} {'paired %':>8} {'rms mm':>7} {'lag p95 s':>9} {'missing p/v':>11}  "
          "CPU us/sample")
    for condition, runs in results.items():
        for r in runs:
            lag = r["lag_s"]["p95"] if r["lag_s"] else float("nan")
            missing = f"{r['missing']['physical_joints']}/{r['missing']['virtual_joints']}"
            cpu = ", ".join(f"{n} {'-' if v is None else f'{v:.0f}'}" for n, v in r["cpu_us_per_sample"].items())
            print(f"{condition:<32} {r['paired_pct']:8.2f} {r['base_rms_mm']:7.3f} {lag:9.2f} {missing:>11}  {cpu}")
    print(json.dumps({"bench": "bench_load", "duration_s": args.duration, "conditions": results}))


if __name__ == "__main__":
    main()
