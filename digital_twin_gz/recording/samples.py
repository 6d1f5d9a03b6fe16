"""What a recording holds for the twin: the physical robot's samples as arrays, and the errors.

Joint samples come in the description's joint order, base poses as positions and x, y, z, w
quaternions, both stamped with the messages' header stamps (nanoseconds).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

import numpy as np

JOINT_STATE = "sensor_msgs/msg/JointState"
ODOMETRY = "nav_msgs/msg/Odometry"
BASE_POSE_TYPES = (ODOMETRY, "geometry_msgs/msg/PoseStamped", "geometry_msgs/msg/PoseWithCovarianceStamped")
METADATA_NAME = "digital_twin_gz"


class RecordingError(ValueError):
    """A recording that cannot be used; the message names the file and what is wrong."""


@cache
def typestore():
    """rosbags' store of the standard ROS 2 message types (definitions and CDR codecs)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.LATEST)


@dataclass(frozen=True)
class Topic:
    name: str
    type: str
    count: int


@dataclass(frozen=True)
class JointSamples:
    """Joint samples in stamp order: ``positions``, ``velocities`` and ``efforts`` are (N, n) in
    the description's order; NaN where the message had NaN, and velocities/efforts NaN where
    the message did not carry them."""

    stamps_ns: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    efforts: np.ndarray

    def __len__(self) -> int:
        return len(self.stamps_ns)


@dataclass(frozen=True)
class BaseSamples:
    """Base poses in stamp order: positions (M, 3), orientations (M, 4) x, y, z, w."""

    stamps_ns: np.ndarray
    positions: np.ndarray
    orientations: np.ndarray

    def __len__(self) -> int:
        return len(self.stamps_ns)


@dataclass(frozen=True)
class PhysicalRecording:
    """The physical side of a recording, ready to drive the twin."""

    source: Path
    joint_topic: str
    base_topic: str
    joints: JointSamples
    base: BaseSamples
    topics: tuple[Topic, ...]
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return float(self.joints.stamps_ns[-1] - self.joints.stamps_ns[0]) * 1e-9

    def with_joint_delay(self, delay_s: float) -> PhysicalRecording:
        """The recording with its joint samples stamped ``delay_s`` earlier: what they were for a
        joint feed measured that long before its stamps (against the base pose); 0 leaves it."""
        if delay_s == 0:
            return self
        j = self.joints
        return replace(self, joints=JointSamples(j.stamps_ns - int(round(delay_s * 1e9)), j.positions, j.velocities,
                                                 j.efforts))
