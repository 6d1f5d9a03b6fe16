"""Joint roles (left knee, right shoulder roll, waist yaw, ...) of any humanoid.

Motions and teleop groups are written against roles, not joint names. Roles come from a
map in config (``config/joint_roles.yaml`` style: role -> joint name) or are inferred
from common naming conventions (``l_knee_pitch``, ``left_knee``, ``LKneePitch``, ...).

Each role also carries the sign that turns a joint angle into a rotation about the world
axis the role is about (pitch: +y, roll: +x, yaw: +z) in the zero pose, so the same motion
moves every robot the same way whatever its axis conventions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from digital_twin_gz.robot.description import RobotDescription
from digital_twin_gz.robot.kinematics import zero_pose_frames

SIDES = ("left", "right")
LIMB_ROLES = ("hip_yaw", "hip_roll", "hip_pitch", "knee", "ankle_pitch", "ankle_roll",
              "shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist")
CENTRE_ROLES = ("waist_yaw", "waist_roll", "waist_pitch", "neck_yaw", "neck_pitch")
ALL_ROLES = tuple(f"{side}_{role}" for side in SIDES for role in LIMB_ROLES) + CENTRE_ROLES
WORLD_AXIS = {"pitch": np.array([0.0, 1.0, 0.0]), "roll": np.array([1.0, 0.0, 0.0]),
              "yaw": np.array([0.0, 0.0, 1.0])}
# The world axis of roles whose name does not say it.
AXIS_OF = {"knee": "pitch", "elbow": "pitch", "wrist": "yaw"}

_KEYWORDS = {
    "hip": ("hip",), "knee": ("knee",), "ankle": ("ankle",), "shoulder": ("shoulder",),
    "elbow": ("elbow",), "wrist": ("wrist",), "waist": ("waist", "torso", "trunk", "spine"),
    "neck": ("neck", "head"),
}


class RoleError(ValueError):
    """A role map that names unknown roles or joints."""


def _split_words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"^([LR])([A-Z])", r"\1 \2", spaced)
    return [w for w in re.split(r"[\s_\-./]+", spaced.lower()) if w]


def infer_role(name: str) -> str | None:
    """The role a joint name suggests, e.g. ``LKneePitch`` -> ``left_knee``."""
    words = _split_words(name)
    side = "left" if {"l", "left"} & set(words) else "right" if {"r", "right"} & set(words) else None
    part = next((p for p, keys in _KEYWORDS.items() if any(k in words for k in keys)), None)
    if part is None:
        return None
    axis = next((a for a in ("pitch", "roll", "yaw") if a in words), None)
    if part in ("knee", "elbow", "wrist"):
        role = part
    elif axis is None:
        return None
    else:
        role = f"{part}_{axis}"
    if part in ("waist", "neck"):
        return role if side is None and role in CENTRE_ROLES else None
    return f"{side}_{role}" if side and role in LIMB_ROLES else None


@dataclass(frozen=True)
class JointRoles:
    """role -> (joint index, sign turning joint angle into world-axis rotation)."""

    joints: dict[str, tuple[int, float]]

    def index(self, role: str) -> int:
        """The index (description's joint order) of the joint that plays ``role``."""
        return self.joints[role][0]

    def missing(self, roles: tuple[str, ...] | list[str]) -> list[str]:
        return [r for r in roles if r not in self.joints]

    def apply(self, positions: np.ndarray, offsets: dict[str, float]) -> np.ndarray:
        """Add world-axis rotations (rad) per role to a joint position vector."""
        result = positions.copy()
        for role, angle in offsets.items():
            index, sign = self.joints[role]
            result[index] += sign * angle
        return result


def _world_sign(description: RobotDescription, joint: str, role: str) -> float:
    frames = zero_pose_frames(description)
    j = description.joints[joint]
    axis = frames[j.child][1] @ j.axis
    world = WORLD_AXIS[AXIS_OF.get(role.split("_", 1)[-1], role.rsplit("_", 1)[-1])]
    projection = float(axis @ world)
    return 1.0 if projection >= 0 else -1.0


def load_roles(description: RobotDescription, role_map: Path | dict[str, str] | None = None) -> JointRoles:
    """Roles from ``role_map`` (role -> joint), falling back to names for roles it omits."""
    where = "joint roles"
    if isinstance(role_map, Path):
        where = str(role_map)
        try:
            role_map = yaml.safe_load(role_map.read_text()) or {}
        except (OSError, yaml.YAMLError) as err:
            raise RoleError(f"{where}: cannot read the joint-role map: {err}") from err
        if not isinstance(role_map, dict):
            raise RoleError(f"{where}: expected a mapping role: joint_name")
    explicit = dict(role_map or {})
    for role, joint in explicit.items():
        if role not in ALL_ROLES:
            raise RoleError(f"{where}: unknown role '{role}' (known: {', '.join(ALL_ROLES)})")
        if joint not in description.joint_names:
            raise RoleError(f"{where}: role '{role}' names joint '{joint}', which is not an actuated joint")
    mapped = dict(explicit)
    taken = set(explicit.values())
    for joint in description.joint_names:
        role = infer_role(joint)
        if role and role not in mapped and joint not in taken:
            mapped[role] = joint
            taken.add(joint)
    return JointRoles({role: (description.index(joint), _world_sign(description, joint, role))
                       for role, joint in mapped.items()})
