"""Where the virtual base starts: a fit to the first physical base poses, not one of them.

A single mocap or state-estimator sample carries its noise into every sample after it,
because the twin stands where it was put. A straight line fitted through the poses of a
short window at the start, taken at its first stamp, removes much of that noise without
the bias a plain mean has when the robot already sways or moves. Measured on replays
(``digital-twin-gz replay``): with the default profile's mocap noise (2 mm, 3 mrad) the
mean base error of a 60 s tour fell from 9.4 mm (one sample) to 4.1 mm (a 0.02 s fit);
on a squat recorded without noise it stayed at 0.55 mm, where a 0.02 s mean gave 1.2 mm
and a 0.1 s fit 1.9 mm (the robot sways in its first tenth of a second), enough to mislead
a calibration that scores sub-millimetre gaps.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from digital_twin_gz.twin.sync import usable_poses

# s of physical base poses fitted for the start pose (10 samples at 500 Hz)
START_WINDOW_S = 0.02


def pose_at_start(stamps: np.ndarray, positions: np.ndarray, orientations: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Position and orientation (x, y, z, w) at ``stamps[0]`` of straight lines fitted (least
    squares) through (k,) stamps and (k, 3), (k, 4) poses; orientations are fitted as rotation
    vectors about their chordal mean. Fewer than three poses or a single stamp: their mean."""
    mean = Rotation.from_quat(orientations).mean()
    deltas = (mean.inv() * Rotation.from_quat(orientations)).as_rotvec()
    t = np.asarray(stamps, dtype=float) - stamps[0]
    if len(t) < 3 or np.ptp(t) == 0:
        return np.mean(positions, axis=0), mean.as_quat()
    design = np.column_stack([np.ones_like(t), t])
    intercepts = np.linalg.lstsq(design, np.hstack([positions, deltas]), rcond=None)[0][0]
    return intercepts[:3], (mean * Rotation.from_rotvec(intercepts[3:])).as_quat()


class StartWindow:
    """Collects base poses from the first stamp on; :meth:`add` returns the pose at the first
    stamp (:func:`pose_at_start`) once ``window`` seconds of them are in, None before and after."""

    def __init__(self, window: float = START_WINDOW_S) -> None:
        if window < 0:
            raise ValueError(f"start window must not be negative, got {window}")
        self.window = window
        self._stamps: list[float] = []
        self._poses: list[np.ndarray] = []
        self.done = False

    def add(self, stamp: float, position: np.ndarray, orientation: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        if self.done:
            return None
        self._stamps.append(stamp)
        self._poses.append(np.concatenate([position, orientation]))
        # 1 us of slack: stamps since the epoch as doubles resolve ~0.2 us.
        if stamp - self._stamps[0] < self.window - 1e-6:
            return None
        return self.flush()

    def flush(self) -> tuple[np.ndarray, np.ndarray]:
        """The start pose from the poses so far (a feed that ended or went quiet within the window)."""
        if not self._poses:
            raise ValueError("no base pose to start from")
        self.done = True
        poses = np.array(self._poses)
        self._poses.clear()
        return pose_at_start(np.array(self._stamps), poses[:, :3], poses[:, 3:])


def start_base_pose(first_stamp: float, stamps: np.ndarray, positions: np.ndarray, orientations: np.ndarray,
                    ended: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """The base pose the twin starts from: fitted (:func:`pose_at_start`) through the usable poses
    of a START_WINDOW_S window from the one nearest the first joint sample's stamp
    ``first_stamp`` (s). None while poses still to come may change it (``ended`` False and the
    window not yet covered), or when no pose is usable."""
    usable = usable_poses(positions, orientations)
    if not usable.any():
        return None
    first = int(np.argmin(np.where(usable, np.abs(stamps - first_stamp), np.inf)))
    window = StartWindow()
    for k in first + np.flatnonzero(usable[first:]):
        pose = window.add(stamps[k], positions[k], orientations[k])
        if pose is not None:
            return pose
    return window.flush() if ended else None


class LiveStart:
    """The live twin's start: base poses gathered from the first joint sample on, until
    :func:`start_base_pose` decides (the pose a replay of the recording starts from), or ``wait``
    s of physical time have passed (then from what came, if anything). twin_sync holds the
    commands back meanwhile, so the simulator takes its first step from that pose: started at
    the first pose heard instead, one mocap sample's noise (2 mm, 3 mrad in the default profile)
    stayed in every sample after it, and how far the simulator had stepped before the pose came
    depended on the machine's load."""

    def __init__(self, first_stamp: float, wait: float) -> None:
        self.first_stamp, self.wait = first_stamp, wait
        self._stamps: list[float] = []
        self._poses: list[np.ndarray] = []

    def add(self, stamp: float, position: np.ndarray, orientation: np.ndarray) -> None:
        self._stamps.append(stamp)
        self._poses.append(np.concatenate([position, orientation]))

    def expired(self, stamp: float) -> bool:
        return stamp - self.first_stamp > self.wait

    def pose(self, stamp: float) -> tuple[np.ndarray, np.ndarray] | None:
        """The start pose at physical time ``stamp``, None while undecided (and after ``wait``
        when no usable pose came)."""
        poses = np.array(self._poses).reshape(-1, 7)
        return start_base_pose(self.first_stamp, np.array(self._stamps), poses[:, :3], poses[:, 3:],
                               ended=self.expired(stamp))
