"""Reality-gap metrics: how far the simulated robot is from the physical one.

Pure numpy, vectorised over samples. Inputs are :class:`~digital_twin_gz.twin.timeline.PairedStates`
(both robots at the same times); outputs are per-sample errors, windowed statistics,
OK/WARN/ERROR levels against thresholds, and the report that users' scripts read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digital_twin_gz.robot import ForwardKinematics, JointRoles, RobotDescription
from digital_twin_gz.twin import PairedStates

# diagnostic_msgs/DiagnosticStatus levels, and their names as /diagnostics readers show them.
OK, WARN, ERROR, STALE = 0, 1, 2, 3
LEVEL_NAMES = ("OK", "WARN", "ERROR", "STALE")
STAT_NAMES = ("mean", "rms", "p95", "max")


def position_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance along the last axis."""
    return np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1)


def orientation_error(qa: np.ndarray, qb: np.ndarray) -> np.ndarray:
    """Geodesic angle (rad, in [0, pi]) between unit quaternions (any component order,
    the same for both): the angle of the rotation taking one orientation to the other."""
    qa = qa / np.linalg.norm(qa, axis=-1, keepdims=True)
    qb = qb / np.linalg.norm(qb, axis=-1, keepdims=True)
    dot = np.clip(np.abs(np.sum(qa * qb, axis=-1)), 0.0, 1.0)
    return 2.0 * np.arccos(dot)


def stats(values: np.ndarray, axis: int = 0) -> dict[str, np.ndarray]:
    """mean, RMS, 95th percentile and max along ``axis`` (NaN where there is no sample)."""
    values = np.asarray(values, dtype=float)
    if values.shape[axis] == 0:
        shape = np.delete(values.shape, axis)
        return {name: np.full(shape, np.nan) for name in STAT_NAMES}
    return {"mean": values.mean(axis=axis), "rms": np.sqrt(np.mean(values ** 2, axis=axis)),
            "p95": np.percentile(values, 95, axis=axis), "max": values.max(axis=axis)}


def level_name(level: int) -> str:
    """A diagnostic level's name (``?`` for a level outside the four)."""
    return LEVEL_NAMES[level] if 0 <= level < len(LEVEL_NAMES) else "?"


def level(value: float, warn: float, error: float) -> int:
    if not np.isfinite(value):
        return OK
    return ERROR if value >= error else WARN if value >= warn else OK


@dataclass(frozen=True)
class Thresholds:
    """Levels apply to the windowed RMS, so one noisy sample does not raise an alarm."""

    base_position_warn_m: float
    base_position_error_m: float
    base_orientation_warn_rad: float
    base_orientation_error_rad: float

    def __post_init__(self) -> None:
        for metric in ("base_position", "base_orientation"):
            unit = "m" if metric == "base_position" else "rad"
            warn, error = getattr(self, f"{metric}_warn_{unit}"), getattr(self, f"{metric}_error_{unit}")
            if not 0 < warn <= error:
                raise ValueError(f"thresholds: need 0 < {metric}_warn_{unit} ({warn}) "
                                 f"<= {metric}_error_{unit} ({error})")

    def levels(self, base_position_m: float, base_orientation_rad: float) -> tuple[int, int]:
        return (level(base_position_m, self.base_position_warn_m, self.base_position_error_m),
                level(base_orientation_rad, self.base_orientation_warn_rad, self.base_orientation_error_rad))


@dataclass(frozen=True)
class GapSamples:
    """Per-sample errors: base position (m), base orientation (rad), joints (rad, (N, n)),
    key links (mm, (N, k))."""

    times: np.ndarray
    base_position_m: np.ndarray
    base_orientation_rad: np.ndarray
    joint_rad: np.ndarray
    link_mm: np.ndarray

    def __len__(self) -> int:
        return len(self.times)


class GapMeter:
    """Turns paired states into errors; key links are placed by forward kinematics of each robot."""

    def __init__(self, description: RobotDescription, key_links: list[str] | tuple[str, ...]) -> None:
        self.joint_names = description.joint_names
        self.key_links = tuple(key_links)
        self.kinematics = ForwardKinematics(description, self.key_links)

    def measure(self, paired: PairedStates) -> GapSamples:
        virtual_links = self.kinematics.positions(paired.virtual_base_position, paired.virtual_base_orientation,
                                                  paired.virtual_joints)
        physical_links = self.kinematics.positions(paired.physical_base_position, paired.physical_base_orientation,
                                                   paired.physical_joints)
        return GapSamples(
            times=paired.times,
            base_position_m=position_error(paired.virtual_base_position, paired.physical_base_position),
            base_orientation_rad=orientation_error(paired.virtual_base_orientation, paired.physical_base_orientation),
            joint_rad=np.abs(paired.virtual_joints - paired.physical_joints),
            link_mm=1e3 * position_error(virtual_links, physical_links),
        )


# The key links, the roles whose joints carry each (the deepest one present counts), and the
# words that pick a link among those fixed to it (else the heaviest).
KEY_LINKS = {
    "left foot": (("left_ankle_roll", "left_ankle_pitch"), ("sole", "foot")),
    "right foot": (("right_ankle_roll", "right_ankle_pitch"), ("sole", "foot")),
    "left hand": (("left_wrist", "left_elbow"), ("hand", "palm", "wrist")),
    "right hand": (("right_wrist", "right_elbow"), ("hand", "palm", "wrist")),
    "head": (("neck_pitch", "neck_yaw"), ("head", "skull")),
}


def _key_link(description: RobotDescription, roles: JointRoles, carriers: tuple[str, ...],
              words: tuple[str, ...]) -> str | None:
    joints = [description.joints[description.joint_names[roles.index(r)]] for r in carriers if r in roles.joints]
    if not joints:
        return None
    depth = description.below(description.root_link)
    moved = max((j.child for j in joints), key=depth.__getitem__)
    body = description.rigid(moved)  # what sdformat lumps into one link; sensor frames included
    def rank(link: str) -> tuple[float, int, int]:  # heaviest, then shortest name (l_sole before l_sole_skin_29)
        return description.links[link].mass, -len(link), -body.index(link)

    for word in words:
        named = [link for link in body if word in link.lower()]
        if named:
            return max(named, key=rank)
    return max(body, key=rank)


def key_links(description: RobotDescription, roles: JointRoles) -> list[str]:
    """Feet, hands and head of any humanoid, those its joint roles say: the body the deepest
    ankle, wrist (or elbow) and neck joint moves, and of the links fixed to it the one its name
    says (a sole, hand or head frame), else the heaviest."""
    found = (_key_link(description, roles, carriers, words) for carriers, words in KEY_LINKS.values())
    return [link for link in found if link is not None]


def missing_key_links(description: RobotDescription, roles: JointRoles) -> str | None:
    """What key links the roles do not give and how to name them, or None when all are there."""
    missing = [(what, carriers) for what, (carriers, words) in KEY_LINKS.items()
               if _key_link(description, roles, carriers, words) is None]
    if not missing:
        return None
    roles_hint = ", ".join(f"{carriers[-1]}: JOINT" for _, carriers in missing)
    return (f"no {', '.join(what for what, _ in missing)} found (no joint plays "
            f"{' or '.join(carriers[-1] for _, carriers in missing)}): the gap is measured on the base, the "
            f"joints and the key links found; name the joints in a joint-role file ({roles_hint}) or give "
            "the links with --key-links")


def mpjpe(link_mm: np.ndarray) -> np.ndarray:
    """Mean key-link error per sample (mm); NaN without key links (not measured, not zero)."""
    return link_mm.mean(axis=1) if link_mm.shape[1] else np.full(len(link_mm), np.nan)
