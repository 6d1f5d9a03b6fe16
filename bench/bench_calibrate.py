"""Calibration wall time on a 60 s recording, and what it buys.

The recording is made without ROS by the emulated physical robot (default: profile
``default``, motion ``tour``, 500 Hz; digital_twin_gz.recording.emulated). Then what
``digital-twin-gz calibrate`` does with its default budget: the first 70 % replayed
through each candidate model, differential evolution with restarts, candidates evaluated
by a pool of processes; then the gap of the nominal and the fitted model on the last 30 %.
Printed: wall time, evaluations per second (all workers together) and per worker, the
fitted values next to the profile's, and the held-out gap before and after. The profile's
values are the emulated robot's, not necessarily the twin's best: fed the measured
efforts, the twin needs actuator_gain 1 whatever the robot's, and ``default`` also has
per-link masses, per-joint gains and joint friction that the parameters do not cover.
The machine is shared and noisy: read evaluations/s with the load average printed.
Usage: MUJOCO_GL=egl .venv/bin/python bench/bench_calibrate.py [--seconds 60] [--recording FILE.mcap]
  [--params mass_scale,foot_friction,joint_damping,actuator_gain,latency] [--restarts 3] [--generations 10]
  [--population 5] [--workers N]
(--recording: reuse that file if it exists, else write it there; default: a temporary file.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from digital_twin_gz.calibration import Budget, Calibration, parse_params
from digital_twin_gz.emulator import load_profile
from digital_twin_gz.recording import read_physical, record_emulated
from digital_twin_gz.robot import load_description, load_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated recording")
    parser.add_argument("--recording", type=Path, help="MCAP file to reuse or to write")
    parser.add_argument("--profile", default="default", help="profile of the emulated physical robot")
    parser.add_argument("--motion", default="tour")
    parser.add_argument("--params", default="mass_scale,foot_friction,joint_damping,actuator_gain,latency")
    defaults = Budget()
    parser.add_argument("--restarts", type=int, default=defaults.restarts)
    parser.add_argument("--generations", type=int, default=defaults.generations)
    parser.add_argument("--population", type=int, default=defaults.population)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    names = parse_params(args.params)
    budget = Budget(args.restarts, args.generations, args.population, args.workers)
    description, world, profile = load_description(), load_world(), load_profile(args.profile)
    with tempfile.TemporaryDirectory() as scratch:
        path = args.recording or Path(scratch) / "bench.mcap"
        if not path.is_file():
            start = time.perf_counter()
            count = record_emulated(path, description, world, profile, args.motion, args.seconds)
            print(f"generated {path}: {count} joint samples ({args.seconds:g} s, profile {args.profile}, motion "
                  f"{args.motion}) in {time.perf_counter() - start:.1f} s")
        recording = read_physical(path, description)
        start = time.perf_counter()
        with Calibration(recording, description, world, names, budget=budget) as calibration:
            calibration.run(Path(scratch) / "out")
        wall = time.perf_counter() - start
    report = calibration.report()
    search = report["search"]
    print(f"calibrated {', '.join(names)} on {calibration.cut_s:.1f} s of a {recording.duration:.1f} s recording: "
          f"{budget.restarts} restarts x {budget.generations} generations x population {budget.population}, "
          f"{budget.workers} workers, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"wall time {wall:.0f} s (search {search['wall_s']:.0f} s); {search['evaluations']} evaluations, "
          f"{search['evaluations_per_s']:.2f}/s, {search['evaluations_per_s'] / budget.workers:.2f}/s per worker; "
          f"one evaluation replays {calibration.cut_s:.0f} s at "
          f"{calibration.cut_s * search['evaluations_per_s'] / budget.workers:.0f}x real time per worker")
    injected = {**dict(vars(profile.physics).items()), "latency": 0.0}
    print(f"{'parameter':<15} {'fitted':>9} {'spread':>9} {'profile':>9}")
    for name, p in report["parameters"].items():
        truth = injected.get(name)
        spread = "-" if p["spread"] is None else f"{p['spread']:.3g}"
        print(f"{name:<15} {p['value']:9.4g} {spread:>9} {'-' if truth is None else f'{truth:.4g}':>9}")
    for name, r in report["ratios"].items():
        spread = "-" if r["spread"] is None else f"{r['spread']:.3g}"
        print(f"{name} {r['value']:.4g} (spread {spread}): the combination a replay determines")
    gap = report["gap"]["holdout"]
    print(f"held-out gap (key links, RMS): {gap['nominal']['key_link_mm']:.2f} mm nominal -> "
          f"{gap['calibrated']['key_link_mm']:.2f} mm calibrated ({report['gap']['holdout_reduction']:.0%} smaller); "
          f"base position {gap['nominal']['base_position_mm']:.2f} -> {gap['calibrated']['base_position_mm']:.2f} mm")


if __name__ == "__main__":
    main()
