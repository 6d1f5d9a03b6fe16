"""Trajectory-controller gains for a robot whose description declares none.

The rule (``config/derived_gains.yaml``) makes each joint as stiff as its effort limit
allows, but no stiffer than a bandwidth its moving mass can follow, and damps it by a
fixed ratio, on the velocity error (``velocity_p_gain``: the velocity target is the physical
robot's measured velocity, so the damping does not hold the motion back).

The moving mass of a leg joint is not what hangs below it: standing, the foot is on the
ground and the joint carries the rest of the robot. Joints with a foot below them are
therefore rated for the larger of the two sides, and made stiffer than the body above them
topples them (``standing_margin`` times its weight times the height of its centre of mass
above the joint, in the zero pose): an inverted pendulum falls against any softer spring.
Their damping is rated for the geometric mean of the two sides' inertias: damping critical
for the body above pinned OP3's 70 g feet to its shanks and bounced it off the ground (in the
air one step in ten), damping critical for the foot left NAO's body to sway over.

gz-sim applies the damping explicitly over each physics step of length dt, which oscillates
once the largest eigenvalue of dt (M + dt B)^-1 K_v passes 2 (M the joint-space inertia, B
the joints' own damping, integrated implicitly). M is smallest with the robot in the air, so
it is taken floating, in the zero pose: each joint's damping stays under its share of the
limit (``explicit_damping_margin`` of 2 / dt times 1 / (M + dt B)^-1_jj), and if the coupled
eigenvalue still passes the margin's share of 2, all are scaled down to it.
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


def floating_inertia(description: RobotDescription) -> np.ndarray:
    """Joint-space inertia (6 + n, 6 + n) of the robot floating in its zero pose: base linear and
    angular velocity (world frame, about the root link's origin), then the actuated joints in
    the description's order. The sum over links of m J_c^T J_c + J_w^T I J_w."""
    frames = zero_pose_frames(description)
    root = frames[description.root_link][0]
    names = description.joint_names
    n = 6 + len(names)
    inertia = np.zeros((n, n))
    for name, link in description.links.items():
        position, rotation = frames[name]
        com = position + rotation @ link.com
        linear, angular = np.zeros((3, n)), np.zeros((3, n))
        linear[:, :3] = np.eye(3)
        angular[:, 3:6] = np.eye(3)
        linear[:, 3:6] = -_skew(com - root)
        for k, joint_name in enumerate(names):
            joint = description.joints[joint_name]
            if name not in description.below(joint.child):
                continue
            origin, frame = frames[joint.child]
            axis = frame @ joint.axis
            if joint.type == "prismatic":
                linear[:, 6 + k] = axis
            else:
                angular[:, 6 + k] = axis
                linear[:, 6 + k] = np.cross(axis, com - origin)
        world_inertia = rotation @ link.inertia @ rotation.T
        inertia += link.mass * linear.T @ linear + angular.T @ world_inertia @ angular
    return inertia


def _skew(v: np.ndarray) -> np.ndarray:
    return np.array([[0.0, -v[2], v[1]], [v[2], 0.0, -v[0]], [-v[1], v[0], 0.0]])


def explicit_damping_eigenvalue(description: RobotDescription, damping: np.ndarray, step: float) -> float:
    """Largest eigenvalue of dt (M + dt B)^-1 K for joint damping gains ``damping`` applied
    explicitly (stable below 2), with the robot floating in its zero pose."""
    mobility = np.linalg.inv(_implicit_inertia(description, step))
    gains = np.zeros(len(mobility))
    gains[6:] = damping
    return float(np.max(np.abs(np.linalg.eigvals(step * mobility * gains[None, :]))))


def _implicit_inertia(description: RobotDescription, step: float) -> np.ndarray:
    """M + dt B: the joints' own damping is integrated implicitly (DART, MuJoCo's Euler)."""
    inertia = floating_inertia(description)
    own = np.array([description.joints[n].damping for n in description.joint_names])
    inertia[6:, 6:] += step * np.diag(own)
    return inertia


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
    """kp, kv, effort and initial position for every actuated joint that takes commands."""
    rules = _rules(config)
    overrides = rules.get("overrides") or {}
    omega = 2.0 * np.pi * float(rules["max_bandwidth_hz"])
    step, margin = float(rules["physics_step_s"]), float(rules["explicit_damping_margin"])
    # Each joint's effective inertia with everything else free: 1 / (M + dt B)^-1_jj.
    effective = 1.0 / np.diag(np.linalg.inv(_implicit_inertia(description, step)))[6:]
    index = {name: k for k, name in enumerate(description.joint_names)}
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
        kv = min(2.0 * float(rules["damping_ratio"]) * float(np.sqrt(kp * damped)),
                 margin * 2.0 * float(effective[index[name]]) / step)
        result[name] = {"kp": kp, "kv": kv, "effort": effort, "initial": float(np.clip(0.0, joint.lower, joint.upper))}
    damping = np.array([result[name]["kv"] if name in result else 0.0 for name in description.joint_names])
    coupled = explicit_damping_eigenvalue(description, damping, step)
    for name in result:
        if coupled > 2.0 * margin:
            result[name]["kv"] *= float(2.0 * margin / coupled)
        result[name].update({k: float(v) for k, v in (overrides.get(name) or {}).items()})
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
