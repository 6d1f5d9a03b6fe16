"""The same nominal demo on an idle machine and beside ``stress-ng --cpu 2``, side by side in one run.

Lockstep's promise is that the answer does not depend on the load: a busy machine makes the
twin lag, it does not make it drop samples or change its result. For each condition the
bench runs ``digital-twin-gz demo --profile nominal`` (the same physics on both sides, so the
gap is the twin's own artefact) and reads its report.json: the share of virtual samples paired,
the base RMS gap, the measurement's lag behind the physical clock, the holes in the streams;
and from each node's log the CPU time it used, per physical sample. "idle" is whatever else
runs on this shared machine; the stress condition adds two CPU hogs (Debian's stress-ng).
Usage: .venv/bin/python bench/bench_load.py [--duration 20] [--repeat 1]
The last line is one JSON object: condition -> figures.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from rich.console import Console

from digital_twin_gz.nodes.common import CPU_LOG
from digital_twin_gz.run import TwinOptions, run_demo

CONDITIONS = ("idle", "stress-ng --cpu 2")
NODES = ("physical_emulator", "embedded_sim", "twin_sync", "gap_monitor")


def _cpu_seconds(log: Path) -> float | None:
    found = re.findall(rf"{re.escape(CPU_LOG)} ([0-9.]+) s", log.read_text(errors="replace"))
    return float(found[-1]) if found else None


def _demo(out: Path, duration: float, console: Console) -> dict:
    result = run_demo(TwinOptions(profile="nominal", motion="tour", out_dir=str(out)), duration, console)
    report = result.report
    samples, transport = report["samples"], report["transport"]
    physical = max(samples["physical_joints"], 1)
    cpu = {name: _cpu_seconds(result.logs[name]) for name in NODES}
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
    stress = shutil.which("stress-ng")
    if stress is None:
        raise SystemExit("stress-ng is not installed: apt-get install stress-ng (bash .ci/setup --test does)")
    console = Console(stderr=True, quiet=True)
    results: dict[str, list[dict]] = {c: [] for c in CONDITIONS}
    with tempfile.TemporaryDirectory(prefix="bench_load-") as scratch:
        for round_ in range(args.repeat):
            for condition in CONDITIONS:
                hog = None
                if condition != "idle":
                    hog = subprocess.Popen([stress, "--cpu", "2", "--timeout", f"{int(args.duration * 10)}s"],
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    out = Path(scratch) / f"{round_}-{condition.split()[0]}"
                    results[condition].append(_demo(out, args.duration, console))
                finally:
                    if hog is not None:
                        hog.terminate()
                        hog.wait()
    print(f"{'condition':<18} {'paired %':>8} {'rms mm':>7} {'lag p95 s':>9} {'missing p/v':>11}  CPU us/sample "
          f"({', '.join(NODES)})")
    for condition, runs in results.items():
        for r in runs:
            lag = r["lag_s"]["p95"] if r["lag_s"] else float("nan")
            missing = f"{r['missing']['physical_joints']}/{r['missing']['virtual_joints']}"
            cpu = ", ".join("-" if v is None else f"{v:.0f}" for v in r["cpu_us_per_sample"].values())
            print(f"{condition:<18} {r['paired_pct']:8.2f} {r['base_rms_mm']:7.3f} {lag:9.2f} {missing:>11}  {cpu}")
    print(json.dumps({"bench": "bench_load", "duration_s": args.duration, "conditions": results}))


if __name__ == "__main__":
    main()
