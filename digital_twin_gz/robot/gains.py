"""Trajectory-controller gains for a robot whose description declares none.

The rule (``config/derived_gains.yaml``) makes each joint as stiff as its effort limit
allows, but no stiffer than a bandwidth its moving mass can follow, and damps it by a
fixed ratio, so a user's humanoid gets usable gains without hand tuning.

The moving mass of a leg joint is not what hangs below it: standing, the foot is on the
ground and the joint carries the rest of the robot. Joints with a foot below them are
therefore rated for the larger of the two sides, and made stiffer than the body above them
topples them (``standing_margin`` times its weight times the height of its centre of mass
above the joint, in the zero pose): an inverted pendulum falls against any softer spring.
Their damping is rated for the geometric mean of the two sides' inertias: damping critical
for the body above pinned OP3's 70 g feet to its shanks and bounced it off the ground (in the
air one step in ten), damping critical for the foot left NAO's body to sway over.
Mimic joints get no gains: the simulator holds them to the joint they follow.
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


def _rules(config: Path | None) -> dict:
    return yaml.safe_load((config or default_config()).read_text()) or {}


def toppling_stiffness(description: RobotDescription, joint_name: str, links: set[str]) -> float:
    """m g h (N m/rad) of ``links`` about the joint in the zero pose: how fast gravity's torque
    grows as they tip over it (h: height of their centre of mass above the joint)."""
    frames = zero_pose_frames(description)
    masses = np.array([description.links[n].mass for n in links])
    if masses.sum() <= 0:
        return 0.0
    coms = np.array([frames[n][0] + frames[n][1] @ description.links[n].com for n in links])
    height = float(masses @ coms[:, 2] / masses.sum() - frames[description.joints[joint_name].child][0][2])
    return 9.81 * float(masses.sum()) * max(height, 0.0)


def derive(description: RobotDescription, config: Path | None = None) -> dict[str, dict[str, float]]:
    """kp, kd, effort and initial position for every actuated joint that takes commands."""
    rules = _rules(config)
    overrides = rules.get("overrides") or {}
    omega = 2.0 * np.pi * float(rules["max_bandwidth_hz"])
    soles = feet(description)
    result = {}
    for name in description.commanded_joints:
        joint = description.joints[name]
        below = set(description.below(joint.child))
        inertia = damped = max(axis_inertia(description, name), 1e-4)
        standing = 0.0
        if below & soles:
            above = set(description.links) - below
            carried = max(inertia, axis_inertia(description, name, above))
            standing = float(rules["standing_margin"]) * toppling_stiffness(description, name, above)
            inertia, damped = carried, float(np.sqrt(inertia * carried))
        effort = joint.effort if np.isfinite(joint.effort) else float(rules["default_effort"])
        kp = max(min(effort / float(rules["saturation_error_rad"]), inertia * omega**2), standing,
                 float(rules["min_kp"]))
        kd = 2.0 * float(rules["damping_ratio"]) * float(np.sqrt(kp * damped))
        gains = {"kp": kp, "kd": kd, "effort": effort,
                 "initial": float(np.clip(0.0, joint.lower, joint.upper))}
        gains.update({k: float(v) for k, v in (overrides.get(name) or {}).items()})
        result[name] = gains
    return result


def limit_notes(description: RobotDescription, config: Path | None = None) -> tuple[str, ...]:
    """What the twin assumes for joints whose ``<limit>`` gives no effort or velocity."""
    notes = []
    for field, what in (("effort", "effort"), ("velocity", "velocity")):
        names = [n for n in description.commanded_joints if not np.isfinite(getattr(description.joints[n], field))]
        if not names:
            continue
        assumed = (f"derived gains rate them for {float(_rules(config)['default_effort']):g} N m (default_effort in "
                   "config/derived_gains.yaml)" if field == "effort"
                   else "twin_sync passes their velocities on unclamped, teleop moves them at its fallback speed")
        notes.append(f"{len(names)} joint(s) without a {what} limit (no <limit {field}=>): {', '.join(names)}; "
                     f"Gazebo applies none, {assumed}")
    return tuple(notes)
