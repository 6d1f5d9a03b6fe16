"""The physical robot's signals as calibration reads them: on one time axis, joints as twin_sync
would send them, the base pose with its velocity, and both at any instant.

Times are seconds after the recording's first joint sample. The joints are what
:class:`~digital_twin_gz.twin.sync.SampleGate` accepts (clamped to the limits; a sample without
velocities or efforts keeps the ones before it, as the controller does). A joint feed measured
``delay`` seconds before its stamps holds, at time ``t``, the sample stamped ``t + delay``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.signal import savgol_filter
from scipy.spatial.transform import Rotation

from digital_twin_gz.recording import PhysicalRecording
from digital_twin_gz.robot import RobotDescription
from digital_twin_gz.twin import JointMap, SampleGate, usable_poses

# s each side of an instant whose base state is fitted (25 poses at 500 Hz)
FIT_HALF_WINDOW_S = 0.025


def _forward_fill(values: np.ndarray, given: np.ndarray) -> np.ndarray:
    """Rows not ``given`` take the last given row before them (zeros before the first)."""
    last = np.maximum.accumulate(np.where(given, np.arange(len(values)), -1))
    filled = values[np.maximum(last, 0)]
    filled[last < 0] = 0.0
    return filled


@dataclass(frozen=True)
class PhysicalSignals:
    """Joint samples (J,) and base poses (B,) of a recording, times in s from its first joint sample."""

    joint_times: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    efforts: np.ndarray
    base_times: np.ndarray
    base_positions: np.ndarray
    base_orientations: np.ndarray  # x, y, z, w
    commanded: np.ndarray  # (n,) bool: the joints the samples command (mimic joints follow theirs)

    @classmethod
    def of(cls, recording: PhysicalRecording, description: RobotDescription) -> PhysicalSignals:
        joints, base = recording.joints, recording.base
        origin = joints.stamps_ns[0]
        times = (joints.stamps_ns - origin) * 1e-9
        commands = SampleGate(description, JointMap(description)).accept_many(
            times, description.joint_names, joints.positions, joints.velocities, joints.efforts)
        n = len(description.joint_names)
        positions = np.tile(description.default_positions, (len(commands), 1))
        velocities, efforts = np.zeros((len(commands), n)), np.zeros((len(commands), n))
        positions[:, commands.joint_index] = commands.positions
        velocities[:, commands.joint_index] = _forward_fill(commands.velocities, commands.has_velocities)
        efforts[:, commands.joint_index] = _forward_fill(commands.efforts, commands.has_efforts)
        usable = usable_poses(base.positions, base.orientations)
        orientations = base.orientations[usable] / np.linalg.norm(base.orientations[usable], axis=1, keepdims=True)
        # q and -q are one orientation: keep each on the side of the one before, so they interpolate.
        flips = np.cumsum(np.r_[0, np.einsum("ij,ij->i", orientations[1:], orientations[:-1]) < 0]) % 2
        orientations[flips == 1] *= -1.0
        commanded = np.zeros(n, dtype=bool)
        commanded[commands.joint_index] = True
        return cls(commands.stamps, positions, velocities, efforts, (base.stamps_ns[usable] - origin) * 1e-9,
                   base.positions[usable], orientations, commanded)

    def smoothed(self, window_s: float) -> PhysicalSignals:
        """Joint samples and base poses through a cubic Savitzky-Golay filter ``window_s`` long:
        encoder noise in a target the model is driven with moves the model (the noise passes
        through its PD), and a fit would tune friction and damping to damp it."""
        def smooth(times: np.ndarray, values: np.ndarray) -> np.ndarray:
            window = int(round(window_s / np.median(np.diff(times)))) | 1
            return savgol_filter(values, window, 3, axis=0) if 5 <= window <= len(times) else values

        orientations = smooth(self.base_times, self.base_orientations)
        return replace(self, positions=smooth(self.joint_times, self.positions),
                       velocities=smooth(self.joint_times, self.velocities),
                       efforts=smooth(self.joint_times, self.efforts),
                       base_positions=smooth(self.base_times, self.base_positions),
                       base_orientations=orientations / np.linalg.norm(orientations, axis=1, keepdims=True))

    @property
    def duration(self) -> float:
        return float(self.joint_times[-1])

    def joints_at(self, times: np.ndarray, delay: float) -> np.ndarray:
        """(3, T, n) joint positions, velocities and efforts at ``times``, linearly between samples,
        for a feed measured ``delay`` s before its stamps."""
        return np.stack([_interpolate(self.joint_times, values, times + delay)
                         for values in (self.positions, self.velocities, self.efforts)])

    def efforts_until(self, times: np.ndarray, delay: float) -> np.ndarray:
        """(T, n) the effort of the first joint sample stamped after each of ``times``: a sample's
        effort is the torque applied up to its stamp."""
        k = np.minimum(np.searchsorted(self.joint_times, times + delay, side="right"), len(self.joint_times) - 1)
        return self.efforts[k]

    def base_at(self, time: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Base position, orientation (x, y, z, w), linear velocity (world) and angular velocity
        (base frame) at ``time``: a quadratic fitted through the poses within FIT_HALF_WINDOW_S."""
        near = np.abs(self.base_times - time) <= FIT_HALF_WINDOW_S
        if near.sum() < 4:
            near = np.argsort(np.abs(self.base_times - time))[:4]
        return local_fit(self.base_times[near] - time, self.base_positions[near], self.base_orientations[near])

    def base_poses_at(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Base positions (T, 3) and orientations (T, 4) at ``times``, linearly between poses."""
        positions = _interpolate(self.base_times, self.base_positions, times)
        orientations = _interpolate(self.base_times, self.base_orientations, times)
        return positions, orientations / np.linalg.norm(orientations, axis=1, keepdims=True)


def _interpolate(times: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Rows of ``values`` linearly interpolated at ``at`` (held at the ends)."""
    k = np.clip(np.searchsorted(times, at, side="right") - 1, 0, len(times) - 2)
    w = np.clip((at - times[k]) / (times[k + 1] - times[k]), 0.0, 1.0)[:, None]
    return values[k] * (1.0 - w) + values[k + 1] * w


def local_fit(times: np.ndarray, positions: np.ndarray,
              orientations: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pose (position, x, y, z, w orientation) and velocity (linear in the world, angular in the
    body frame) at time 0 of quadratics fitted through poses at ``times`` (s, around 0);
    orientations are fitted as rotation vectors about their mean."""
    mean = Rotation.from_quat(orientations).mean()
    deltas = (mean.inv() * Rotation.from_quat(orientations)).as_rotvec()
    design = np.column_stack([np.ones_like(times), times, times * times])
    value, rate, _ = np.linalg.lstsq(design, np.hstack([positions, deltas]), rcond=None)[0]
    # For the small rotations of a window of a tenth of a second, the body rate is the rotation vector's rate.
    return value[:3], (mean * Rotation.from_rotvec(value[3:])).as_quat(), rate[:3], rate[3:]
