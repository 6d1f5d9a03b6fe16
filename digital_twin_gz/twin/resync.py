"""Whether a resync of the virtual base took effect, judged by the virtual odometry that follows.

gz-sim's ``/world/<world>/set_pose`` only queues the request and answers true at once;
the embedded simulator's base-pose topic has no answer at all. Only the model's pose,
on /virtual/odom, shows that the base got where it was sent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ResyncWatch:
    """One resync at a time: ``requested``, then each virtual pose to ``confirms`` until it
    is within the tolerances of the requested pose, or ``expired`` after ``timeout`` s."""

    position_tolerance: float = 0.02
    orientation_tolerance: float = 0.05
    timeout: float = 2.0
    target: tuple[np.ndarray, np.ndarray] | None = None
    since: float = 0.0
    state: str = "none"  # none, pending, confirmed, not confirmed

    @property
    def pending(self) -> bool:
        return self.state == "pending"

    def requested(self, position: np.ndarray, orientation: np.ndarray, now: float) -> None:
        self.target, self.since, self.state = (np.asarray(position), np.asarray(orientation)), now, "pending"

    def wait_from(self, now: float) -> None:
        """Count the pending resync's time from ``now``: a simulator in lockstep shows its base
        only once the commands that step it go (at the start, once it has the pose)."""
        if self.state == "pending":
            self.since = now

    def confirms(self, position: np.ndarray, orientation: np.ndarray) -> bool:
        """The virtual pose reached the requested one (True once, for the pending resync)."""
        if self.state != "pending" or self.target is None:
            return False
        target_position, target_orientation = self.target
        cosine = min(abs(float(np.dot(orientation, target_orientation))) /
                     (np.linalg.norm(orientation) * np.linalg.norm(target_orientation)), 1.0)
        if (np.linalg.norm(np.asarray(position) - target_position) <= self.position_tolerance
                and 2.0 * np.arccos(cosine) <= self.orientation_tolerance):
            self.state = "confirmed"
            return True
        return False

    def expired(self, now: float) -> bool:
        """The pending resync was not confirmed in time (True once)."""
        if self.state == "pending" and now - self.since > self.timeout:
            self.state = "not confirmed"
            return True
        return False
