"""Trajectory-controller gains for a robot whose description declares none.

The rule (``config/derived_gains.yaml``) makes each joint as stiff as its effort limit
allows, but no stiffer than a bandwidth its moving mass can follow, and damps it by a
fixed ratio, on the velocity error (``velocity_p_gain``: the velocity target is the physical
robot's measured velocity, so the damping does not hold the motion back).

The moving mass of a leg joint is not what hangs below it: standing, the foot is on the
ground and the joint carries the rest of the robot. Joints with a foot below them are
therefore rated for the larger of the two sides. gz-sim applies the damping explicitly over
each physics step, which oscillates once it passes 2 I / dt for the smallest inertia I the
joint moves: the two sides' inertias in series, as when the robot is in the air. The damping
stays under ``explicit_damping_margin`` of that limit.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import yaml

from digital_twin_gz.robot.kinematics import zero_pose_frames
from digital_twin_gz.robot.share import share_dir

if TYPE_CHECKING:
    from digital_twin_gz.robot.description import RobotDescription


def default_config() -> Path:
    return share_dir() / "config" / "derived_gains.yaml"


def feet(description: RobotDescription, tolerance: float = 0.03) -> set[str]:
    """Links whose centre of mass is lowest in the zero pose (within ``tolerance`` m): the soles."""
    frames = zero_pose_frames(description)
    heights = {name: (frames[name][0] + frames[name][1] @ link.com)[2]
               for name, link in description.links.items() if link.mass > 0}
    lowest = min(heights.values())
    return {name for name, z in heights.items() if z <= lowest + tolerance}


def axis_inertia(description: RobotDescription, joint_name: str, links: list[str] | set[str] | None = None) -> float:
    """Inertia (kg m^2) about ``joint_name``'s axis, in the zero pose, of ``links`` (default:
    the links beyond the joint)."""
    frames = zero_pose_frames(description)
    joint = description.joints[joint_name]
    origin, rotation = frames[joint.child]
    axis = rotation @ joint.axis
    total = 0.0
    for name in description.below(joint.child) if links is None else links:
        link = description.links[name]
        position, orientation = frames[name]
        com = position + orientation @ link.com - origin
        perpendicular = com - axis * (com @ axis)
        total += link.mass * perpendicular @ perpendicular
        total += axis @ orientation @ link.inertia @ orientation.T @ axis
    return float(total)


def derive(description: RobotDescription, config: Path | None = None) -> dict[str, dict[str, float]]:
    """kp, kv, effort and initial position for every actuated joint."""
    rules = yaml.safe_load((config or default_config()).read_text()) or {}
    overrides = rules.get("overrides") or {}
    omega = 2.0 * np.pi * float(rules["max_bandwidth_hz"])
    step = float(rules["physics_step_s"])
    soles = feet(description)
    result = {}
    for name in description.joint_names:
        joint = description.joints[name]
        below = set(description.below(joint.child))
        distal = max(axis_inertia(description, name), 1e-6)
        proximal = max(axis_inertia(description, name, set(description.links) - below), 1e-6)
        rated = max(distal, proximal) if below & soles else distal
        rated = max(rated, 1e-4)
        smallest = distal * proximal / (distal + proximal) + step * joint.damping
        effort = joint.effort if np.isfinite(joint.effort) else 100.0
        kp = max(min(effort / float(rules["saturation_error_rad"]), rated * omega**2), float(rules["min_kp"]))
        kv = min(2.0 * float(rules["damping_ratio"]) * float(np.sqrt(kp * rated)),
                 float(rules["explicit_damping_margin"]) * 2.0 * smallest / step)
        gains = {"kp": kp, "kv": kv, "effort": effort, "initial": float(np.clip(0.0, joint.lower, joint.upper))}
        gains.update({k: float(v) for k, v in (overrides.get(name) or {}).items()})
        result[name] = gains
    return result
