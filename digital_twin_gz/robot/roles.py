"""Joint roles (left knee, right shoulder roll, waist yaw, ...) of any humanoid.

Motions and teleop groups are written against roles, not joint names. Roles come from a
map in config (``config/joint_roles.yaml`` style: role -> joint name) or are inferred
from common naming conventions (``l_knee_pitch``, ``left_knee``, ``LKneePitch``, ...).

Each role also carries the sign that turns a joint angle into a rotation about the axis the
role is about (pitch: +y, roll: +x, yaw: +z of the robot: x forward, y left, z up) in the zero
pose, so the same motion moves every robot the same way whatever its axis conventions. The
axes also decide what names leave open: a single-axis ``left_ankle_joint`` about y is the
left ankle pitch, and NAO's ``LHipYawPitch`` (about a diagonal) plays no role.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
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

# Words of joint names that say the body part (abbreviations of real robots included: OP3's
# l_ank_pitch, l_sho_roll, l_el; Poppy's abs_y, bust_x; OP3's head_pan, head_tilt).
_KEYWORDS = {
    "hip": ("hip",), "knee": ("knee",), "ankle": ("ankle", "ank"), "shoulder": ("shoulder", "sho"),
    "elbow": ("elbow", "el"), "wrist": ("wrist",), "waist": ("waist", "torso", "trunk", "spine", "abs", "bust"),
    "neck": ("neck", "head"),
}
# Words that say the axis. Spelled out they must agree with the joint's axis; single letters
# (JVRC-1's R_HIP_P, R_ANKLE_R) only break ties, since x/y/z letters (Poppy's l_hip_y) name
# the robot's own axes and "y" would read as yaw.
_AXIS_WORDS = {"pitch": ("pitch", "tilt"), "roll": ("roll",), "yaw": ("yaw", "pan")}
_AXIS_LETTERS = {"p": "pitch", "r": "roll", "y": "yaw"}
# A joint plays an axis role when its axis in the robot's frame is within 30 degrees of it.
_ALIGNED = np.cos(np.radians(30.0))
_AXIS_NAMES = ("roll", "pitch", "yaw")


class RoleError(ValueError):
    """A role map that names unknown roles or joints."""


def _split_words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    spaced = re.sub(r"^([LR])([A-Z])", r"\1 \2", spaced)
    return [w for w in re.split(r"[\s_\-./]+", spaced.lower()) if w]


def _side(words: list[str]) -> tuple[str | None, list[str]]:
    """The side a name says (left/right) and its other words."""
    for k, word in enumerate(words):
        if word in ("l", "left", "r", "right") and (k == 0 or len(word) > 1):
            return ("left" if word.startswith("l") else "right"), words[:k] + words[k + 1:]
    return None, words


def _part(words: list[str]) -> str | None:
    return next((p for p, keys in _KEYWORDS.items() if any(k in words for k in keys)), None)


def _named_axis(words: list[str]) -> tuple[set[str], str | None]:
    """Axes the name spells out, and the one a single letter hints at."""
    spelled = {axis for axis, keys in _AXIS_WORDS.items() if any(k in words for k in keys)}
    letter = next((_AXIS_LETTERS[w] for w in reversed(words) if w in _AXIS_LETTERS), None)
    return spelled, letter


def _axis_of(axis: np.ndarray | None) -> str | None:
    """roll/pitch/yaw for an axis (robot frame: x forward, y left, z up) within 30 degrees of one."""
    if axis is None:
        return None
    k = int(np.argmax(np.abs(axis)))
    return _AXIS_NAMES[k] if abs(axis[k]) >= _ALIGNED else None


def infer_role(name: str, axis: np.ndarray | None = None) -> str | None:
    """The role a joint name suggests, with the joint's axis in the robot's frame (zero pose) when
    known: ``LKneePitch`` -> ``left_knee``, ``R_HIP_P`` about y -> ``right_hip_pitch``,
    ``left_ankle_joint`` about y -> ``left_ankle_pitch``, ``LHipYawPitch`` about (0, 1, 1) -> None."""
    side, words = _side(_split_words(name))
    part = _part(words)
    if part is None:
        return None
    if part in ("knee", "elbow", "wrist"):
        role = part
    else:
        spelled, letter = _named_axis(words)
        measured = _axis_of(axis)
        if len(spelled) > 1 or (spelled and measured and spelled != {measured}):
            return None
        if axis is not None and measured is None:
            return None
        chosen = measured or next(iter(spelled), None) or letter
        if chosen is None:
            return None
        role = f"{part}_{chosen}"
    if part in ("waist", "neck"):
        return role if side is None and role in CENTRE_ROLES else None
    return f"{side}_{role}" if side and role in LIMB_ROLES else None


def _role_axis(role: str) -> np.ndarray:
    return WORLD_AXIS[AXIS_OF.get(role.split("_", 1)[-1], role.rsplit("_", 1)[-1])]


def heading(description: RobotDescription) -> np.ndarray:
    """Rotation from the world to the robot's own frame in the zero pose (about z): its left side
    on +y. REP 103 robots need none; Poppy's zero pose faces -y. Identity when the names say no side."""
    frames = zero_pose_frames(description)
    sides = {"left": [], "right": []}
    for name in description.joint_names:
        side, _ = _side(_split_words(name))
        if side:
            sides[side].append(frames[description.joints[name].child][0])
    if not sides["left"] or not sides["right"]:
        return np.eye(3)
    lateral = np.mean(sides["left"], axis=0) - np.mean(sides["right"], axis=0)
    if np.hypot(lateral[0], lateral[1]) < 1e-6:
        return np.eye(3)
    angle = np.arctan2(lateral[1], lateral[0]) - np.pi / 2  # the robot's +y is this far from the world's
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])


def body_axes(description: RobotDescription) -> dict[str, np.ndarray]:
    """Each actuated joint's axis in the robot's frame (see :func:`heading`), zero pose."""
    frames = zero_pose_frames(description)
    to_body = heading(description)
    return {n: to_body @ frames[description.joints[n].child][1] @ description.joints[n].axis
            for n in description.joint_names}


@dataclass(frozen=True)
class JointRoles:
    """role -> (joint index, sign turning joint angle into a rotation about the role's axis in the
    robot's frame); ``heading``: world -> robot frame (about z)."""

    joints: dict[str, tuple[int, float]]
    heading: np.ndarray = field(default_factory=lambda: np.eye(3))

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
        if joint not in description.commanded_joints:
            what = "a mimic joint" if joint in description.joint_names else "not an actuated joint"
            raise RoleError(f"{where}: role '{role}' names joint '{joint}', which is {what}")
    axes = body_axes(description)
    taken = set(explicit.values())
    # role -> (how well the joint's axis matches the role's, joint order): the best, then the one
    # later in the description (NAO's LElbowRoll after LElbowYaw; G1's wrist_yaw of three).
    candidates: dict[str, tuple[float, int, str]] = {}
    for order, joint in enumerate(description.commanded_joints):
        role = infer_role(joint, axes[joint])
        if role is None or role in explicit or joint in taken:
            continue
        score = (abs(float(axes[joint] @ _role_axis(role))), order, joint)
        if role not in candidates or score > candidates[role]:
            candidates[role] = score
    mapped = explicit | {role: joint for role, (_, _, joint) in candidates.items()}
    to_body = heading(description)
    return JointRoles({role: (description.index(joint), 1.0 if axes[joint] @ _role_axis(role) >= 0 else -1.0)
                       for role, joint in mapped.items()}, to_body)
