"""Calibration wall time on a 60 s recording against one replay of it, side by side, and what it finds.

The recording is made without ROS by the emulated physical robot (default: profile ``lab``, whose
physics the calibration can express exactly, so every parameter has a truth; motion ``tour``,
500 Hz; digital_twin_gz.recording.emulated). Then, in this one run: one ``replay`` of it (what
``digital-twin-gz replay`` does, report and pictures included) and one ``calibrate`` with the
default parameters (config/calibration.yaml). Printed: both wall times and their ratio, the fitted
values with their intervals next to the truth, and the held-out key-link gap before and after.
The machine is shared and noisy: compare the ratio, not the seconds, across days.
Usage: MUJOCO_GL=egl .venv/bin/python bench/bench_calibrate.py [--seconds 60] [--profile lab]
  [--motion tour] [--params ...] [--threads N] [--recording FILE.mcap]
(--recording: reuse that file if it exists, else write it there; default: a temporary file.)
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from digital_twin_gz.calibration import Calibration, load_settings, parse_params
from digital_twin_gz.emulator import load_profile
from digital_twin_gz.recording import read_physical, record_emulated
from digital_twin_gz.replay import replay_file
from digital_twin_gz.robot import load_description, load_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated recording")
    parser.add_argument("--recording", type=Path, help="MCAP file to reuse or to write")
    parser.add_argument("--profile", default="lab", help="profile of the emulated physical robot")
    parser.add_argument("--motion", default="tour")
    parser.add_argument("--params", help="parameters to fit (default: config/calibration.yaml's)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    settings = load_settings()
    names = parse_params(args.params, settings.catalogue) if args.params else settings.params
    description, world, profile = load_description(), load_world(), load_profile(args.profile)
    with tempfile.TemporaryDirectory() as scratch:
        path = args.recording or Path(scratch) / "bench.mcap"
        if not path.is_file():
            start = time.perf_counter()
            count = record_emulated(path, description, world, profile, args.motion, args.seconds)
            print(f"generated {path}: {count} joint samples ({args.seconds:g} s, profile {args.profile}, motion "
                  f"{args.motion}) in {time.perf_counter() - start:.1f} s")
        load = os.getloadavg()[0]
        start = time.perf_counter()
        replay_file(path, description, world, Path(scratch) / "replay")
        replay_s = time.perf_counter() - start
        start = time.perf_counter()
        recording = read_physical(path, description)
        calibration = Calibration(recording, description, world, names, threads=args.threads, settings=settings)
        calibration.run(Path(scratch) / "calibration")
        calibrate_s = time.perf_counter() - start
    report = calibration.report()
    fit, gap = report["fit"], report["gap"]
    print(f"one replay of the {recording.duration:.0f} s recording: {replay_s:.1f} s; calibrate ({', '.join(names)}): "
          f"{calibrate_s:.1f} s = {calibrate_s / replay_s:.1f} replays (fit {fit['wall_s']:.0f} s: "
          f"{fit['iterations']} iterations, {fit['evaluations']} candidate models of {fit['segments']} segments, "
          f"{args.threads} threads); load average {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'parameter':<16} {'fitted':>10} {'±':>9} {'truth':>9} {'error':>8}  interval")
    rows = {}
    for name, p in report["parameters"].items():
        truth, width = p["truth"], p["half_width"]
        error = None if truth in (None, 0) else (p["fitted"] - truth) / truth
        inside = None if truth is None or width is None else abs(p["fitted"] - truth) <= width
        rows[name] = {"fitted": p["fitted"], "half_width": width, "truth": truth, "determined": p["determined"],
                      "relative_error": error, "truth_inside": inside}
        print(f"{name:<16} {p['fitted']:10.5g} {'-' if width is None else f'{width:.2g}':>9} "
              f"{'-' if truth is None else f'{truth:.4g}':>9} {'-' if error is None else f'{100 * error:+.2f}%':>8}  "
              f"{'not determined' if not p['determined'] else 'truth inside' if inside else 'truth outside'}")
    for combination in report["identification"]["undetermined"]:
        print(f"not determined apart: {', '.join(combination['parameters'])}"
              + (f"; {combination['determined']} = {combination['value']:.4g} ± {combination['half_width']:.2g}"
                 if combination["determined"] else ""))
    holdout = gap["holdout"]
    print(f"held-out key-link gap (RMS): {holdout['nominal']['key_link_mm']:.2f} mm nominal -> "
          f"{holdout['calibrated']['key_link_mm']:.2f} mm calibrated ({gap['holdout_reduction']:.0%} smaller)")
    print(json.dumps({"bench": "calibrate", "recording_s": recording.duration, "profile": args.profile,
                      "motion": args.motion, "params": list(names), "threads": args.threads, "load_average": load,
                      "replay_s": replay_s, "calibrate_s": calibrate_s, "replays": calibrate_s / replay_s,
                      "fit": {k: fit[k] for k in ("iterations", "evaluations", "segments", "wall_s", "stopped")},
                      "parameters": rows, "holdout_key_link_mm": {k: holdout[k]["key_link_mm"] for k in holdout},
                      "holdout_reduction": gap["holdout_reduction"]}))


if __name__ == "__main__":
    main()
