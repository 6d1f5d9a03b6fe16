"""How soon the emulated robot holds a mirrored command once the commands stop (teleop killed).

For each joint and profile: the whole pose is commanded at the mirror's rate with that joint moving
at teleop's speed, then the commands stop; printed is how long after the last command the joint
is still more than ``--tolerance`` from it, and how far it is after a second. Physics only (no ROS,
no wall clock): the figures do not depend on the machine's load.
Usage: .venv/bin/python bench/bench_hold.py [--profiles nominal default] [--joints l_shoulder_roll ...]
       [--urdf FILE --package NAME=DIR ...] (another robot: its arm joints that take commands)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from digital_twin_gz.cli.common import parse_packages
from digital_twin_gz.emulator import Motion, PhysicalRobot, load_profile
from digital_twin_gz.robot import RobotDescription, load_description, load_roles, load_world
from digital_twin_gz.robot.groups import joint_groups
from digital_twin_gz.teleop import joint_speeds


def hold(description: RobotDescription, profile: str, joint: str, rate: float, moving: float,
         tolerance: float) -> dict:
    roles = load_roles(description)
    robot = PhysicalRobot(description, load_world(), load_profile(profile), Motion("stand", description, roles), roles)
    j, period = description.index(joint), 1.0 / rate
    commanded = np.array([description.index(name) for name in description.commanded_joints])
    command = robot.sim.state().joint_positions
    room_up = description.upper[j] - command[j] > command[j] - description.lower[j]
    speed = joint_speeds(description, 0.25)[j] * (1 if room_up else -1)
    for k in range(1, int(moving * rate) + 1):
        command[j] += speed * period
        robot.command(commanded, command[commanded])
        robot.advance(k * period)
    stopped, outside = robot.sim.time, 0.0
    while robot.sim.time < stopped + 1.0:
        robot.advance(robot.sim.time + robot.CONTROL_PERIOD)
        if abs(robot.sim.state().joint_positions[j] - command[j]) > tolerance:
            outside = robot.sim.time - stopped
    error = float(robot.sim.state().joint_positions[j] - command[j])
    return {"settled_s": round(outside, 3), "error_after_1s_rad": error}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", default=["nominal", "default"])
    parser.add_argument("--joints", nargs="+", help="default: the arm joints that take commands (the ones servoed)")
    parser.add_argument("--urdf", type=Path, help="a robot of your own instead of the bundled humanoid")
    parser.add_argument("--package", action="append", default=[], help="NAME=DIR, repeatable")
    parser.add_argument("--rate", type=float, default=50.0, help="Hz of the mirrored commands")
    parser.add_argument("--moving", type=float, default=0.3, help="s of motion before the commands stop")
    parser.add_argument("--tolerance", type=float, default=0.005, help="rad")
    args = parser.parse_args()
    description = load_description(args.urdf, packages=parse_packages(args.package))
    groups = joint_groups(description, load_roles(description))
    joints = args.joints or [n for n, g in zip(description.joint_names, groups, strict=True)
                             if g == "arms" and n in description.commanded_joints]
    results = {}
    for profile in args.profiles:
        for joint in joints:
            result = results.setdefault(profile, {})[joint] = hold(description, profile, joint, args.rate,
                                                                   args.moving, args.tolerance)
            print(f"{profile:>8} {joint:<18} within {1e3 * args.tolerance:g} mrad after {result['settled_s']:.3f} s, "
                  f"{1e3 * result['error_after_1s_rad']:+.2f} mrad after 1 s", flush=True)
    print(json.dumps({"bench": "hold", "robot": description.name, "tolerance_rad": args.tolerance, "results": results}))


if __name__ == "__main__":
    main()
