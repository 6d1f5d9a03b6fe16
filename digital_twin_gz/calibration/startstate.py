"""The physical robot's base state at an instant, from the foot it stands on.

A segment rolled out from the measured base pose inherits that sample's error, and a mocap
sample is off by millimetres, which the soft contact turns into a bounce and a fit turns into
wrong foot friction: with the default profile's mocap noise (2 mm, 3 mrad), 80 % too high
(README: "Calibration"). A foot on the ground barely moves, and the joint encoders between it
and the base are precise. So, as a legged robot's state estimator does: the pose of each foot in
the world is averaged over ``STANCE_WINDOW_S`` each side of the instant
(mocap pose through the leg's kinematics: the noise averages out), the feet within
``STANCE_HEIGHT_M`` of the lowest are the ones stood on, and the base is placed from them
through the joints at every instant of the window; a quadratic through the placements within
``FIT_HALF_WINDOW_S`` gives the pose and the velocity at the instant. A robot without feet (or
roles that name none) falls back to a quadratic fitted to the poses around the instant
(:meth:`PhysicalSignals.base_at`).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from digital_twin_gz.calibration.signals import FIT_HALF_WINDOW_S, PhysicalSignals, local_fit
from digital_twin_gz.robot import ForwardKinematics, RobotDescription

# s each side of the instant over which a stance foot's world pose is averaged
STANCE_WINDOW_S = 0.2
# m: feet whose averaged height is within this of the lowest foot's carry the robot
STANCE_HEIGHT_M = 0.01


class StartStates:
    """Base pose and velocity at chosen instants; ``signals`` gives the poses, ``driving`` the
    (smoothed) joints, for a joint feed ``delay`` s behind its stamps."""

    def __init__(self, signals: PhysicalSignals, driving: PhysicalSignals, description: RobotDescription,
                 soles: list[str]) -> None:
        self.signals, self.driving = signals, driving
        self.soles = tuple(soles)
        self.kinematics = ForwardKinematics(description, self.soles)

    def at(self, time: float, delay: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Base position, orientation (x, y, z, w), linear velocity (world) and angular velocity
        (base frame) at ``time``."""
        if not self.soles:
            return self.signals.base_at(time)
        spacing = float(np.median(np.diff(self.signals.base_times)))
        half = round(STANCE_WINDOW_S / spacing)
        window = time + spacing * np.arange(-half, half + 1)
        joints = self.driving.joints_at(window, delay)[0]
        feet_positions, feet_rotations = self.kinematics.poses(*self.signals.base_poses_at(window), joints)
        in_base, in_base_rotations = self.kinematics.poses(np.zeros((len(window), 3)),
                                                           np.tile([0.0, 0.0, 0.0, 1.0], (len(window), 1)), joints)
        heights = feet_positions[:, :, 2].mean(axis=0)
        positions, orientations = [], []
        for f in np.flatnonzero(heights <= heights.min() + STANCE_HEIGHT_M):
            # Where the foot's averaged world pose puts the base at each instant, through the joints.
            rotation = (Rotation.from_matrix(feet_rotations[:, f]).mean()
                        * Rotation.from_matrix(in_base_rotations[:, f]).inv())
            positions.append(feet_positions[:, f].mean(axis=0) - rotation.apply(in_base[:, f]))
            orientations.append(rotation.as_quat())
        quaternions = np.sum([q * np.sign(np.sum(q * orientations[0], axis=1, keepdims=True)) for q in orientations],
                             axis=0)
        near = np.abs(window - time) <= FIT_HALF_WINDOW_S
        return local_fit(window[near] - time, np.mean(positions, axis=0)[near],
                         quaternions[near] / np.linalg.norm(quaternions[near], axis=1, keepdims=True))
