"""The twist gz-sim's OdometryPublisher reports (``<dimensions>3``): not the body's velocity but
finite differences of the model's pose from one physics step to the next, in the base frame,
averaged over the last 10 steps (gz::math::RollingMean's window).

Linear: ``R_t^T (p_t - p_(t-1)) / dt``. Angular: the rotation ``q_t q_(t-1)^-1`` as axis times
angle over ``dt``, turned into the base frame by ``R_t^T``. Like the system, the first step only
starts the clock, and the step after differences its pose against the origin (the system's
last pose starts at zero): the first ten twists after start are meaningless, and so are the
ten after the model is moved (set_pose).
"""

from __future__ import annotations

import mujoco
import numpy as np

WINDOW = 10


class OdometryTwist:
    """Fed the base pose after every physics step (``add``), as the system's PostUpdate sees it."""

    def __init__(self) -> None:
        self._time: float | None = None
        self._position = np.zeros(3)
        self._quaternion = np.array([1.0, 0.0, 0.0, 0.0])  # w, x, y, z
        self._linear = np.zeros((WINDOW, 3))
        self._angular = np.zeros((WINDOW, 3))
        self._count = 0

    @property
    def started(self) -> bool:
        return self._time is not None

    def add(self, time: float, position: np.ndarray, quaternion_wxyz: np.ndarray) -> None:
        if self._time is None:
            self._time = time
            return
        dt = time - self._time
        if abs(dt) < 1e-6:  # math::equal's tolerance
            return
        rotation = np.empty(9)
        mujoco.mju_quat2Mat(rotation, quaternion_wxyz)
        rotation = rotation.reshape(3, 3)
        inverse, difference, angular = np.empty(4), np.empty(4), np.empty(3)
        mujoco.mju_negQuat(inverse, self._quaternion)
        mujoco.mju_mulQuat(difference, quaternion_wxyz, inverse)
        mujoco.mju_quat2Vel(angular, difference, dt)
        slot = self._count % WINDOW
        self._linear[slot] = rotation.T @ (position - self._position) / dt
        self._angular[slot] = rotation.T @ angular
        self._count += 1
        self.skip_to(time, position, quaternion_wxyz)

    def skip_to(self, time: float, position: np.ndarray, quaternion_wxyz: np.ndarray) -> None:
        """Go on from this pose after steps it did not see: once ``WINDOW`` more are added, the
        twist is what feeding every step would have given (the window holds only those)."""
        self._time = time
        self._position = np.array(position, dtype=float)
        self._quaternion = np.array(quaternion_wxyz, dtype=float)

    def twist(self) -> tuple[np.ndarray, np.ndarray]:
        """Linear and angular velocity in the base frame, as the last odometry message carries them."""
        filled = min(self._count, WINDOW)
        if filled == 0:
            return np.zeros(3), np.zeros(3)
        return self._linear[:filled].mean(axis=0), self._angular[:filled].mean(axis=0)
