"""Replay: a recording of the physical robot driven through the twin, in lockstep, without ROS.

For each physical joint sample in stamp order, exactly what the live twin does with it:
twin_sync's rules (:class:`~digital_twin_gz.twin.sync.SampleGate`) turn it into a command or
reject it; the simulator steps to the sample's stamp and its state there is the virtual
sample embedded_sim would publish; then the command becomes the simulator's new
trajectory. gap_monitor's pairing and metrics (:class:`~digital_twin_gz.gap.tracker.GapTracker`)
measure the gap. The virtual robot starts at the first sample's joints and base pose.

Nothing depends on the wall clock, so a recording always gives the same report. The loop
takes a prebuilt :class:`~digital_twin_gz.sim.Simulator`, so calibration can replay the
same recording through simulators with modified physics. Three threads share the work: the
caller's steps the physics (MuJoCo's rollout, GIL released), one reads the next piece of
the recording (:func:`read_ahead`), one pairs and measures the last chunk (:class:`_Feed`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from digital_twin_gz.emulator import Profile, apply_physics
from digital_twin_gz.gap import GapTracker, monitor_settings
from digital_twin_gz.recording import PhysicalRecording, stream_physical
from digital_twin_gz.robot import BodyParts, JointRoles, RobotDescription, WorldSettings, load_roles
from digital_twin_gz.sim import Simulator
from digital_twin_gz.sim.timebase import SimClock
from digital_twin_gz.twin import JointMap, SampleGate, start_base_pose, usable_poses

# Pair and measure after this many samples (gap_monitor does it on a timer; the result is the same).
MEASURE_EVERY = 500


@dataclass
class ReplayStats:
    samples: int = 0
    accepted: int = 0
    clamped: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


def start_pose(recording: PhysicalRecording, default: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Joints of the first sample (default where not finite) and the base pose the live twin
    starts from too (:func:`~digital_twin_gz.twin.startpose.start_base_pose`)."""
    joints = recording.joints.positions[0]
    joints = np.where(np.isfinite(joints), joints, default)
    base = recording.base
    pose = start_base_pose(recording.joints.stamps_ns[0] * 1e-9, base.stamps_ns * 1e-9, base.positions,
                           base.orientations)
    if pose is None:
        raise ValueError("no base pose to start from")
    return joints, *pose


class _Feed:
    """The four streams into the pairing, a chunk at a time: the physical samples up to the
    chunk's last stamp, and the virtual samples the loop collected (gap_monitor's
    subscriptions add the same samples one by one; the pairing's result is the same).

    Pairing and measuring run on a worker thread, one chunk after the other in order, while
    the loop steps the next chunk: MuJoCo's rollout releases the GIL, so on a second core
    the metrics cost the loop next to nothing (``close`` waits for the last chunk)."""

    def __init__(self, tracker: GapTracker, origin_ns: int) -> None:
        self.tracker, self.origin_ns = tracker, origin_ns
        self.piece: PhysicalRecording | None = None
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-gap")
        self._pending: Future | None = None

    def start(self, piece: PhysicalRecording) -> np.ndarray:
        """Take the samples of a piece of the recording; returns its joint sample times (s)."""
        self.piece = piece
        base = piece.base
        self.times = (piece.joints.stamps_ns - self.origin_ns) * 1e-9
        self.base_times = (base.stamps_ns - self.origin_ns) * 1e-9
        self.base_poses = np.hstack([base.positions, base.orientations])
        # What gap_monitor ignores: poses with NaN, inf or a zero quaternion, joint samples with NaN or inf.
        self.base_ok = usable_poses(base.positions, base.orientations)
        self.physical_ok = np.isfinite(piece.joints.positions).all(axis=1)
        self.first = self.base = 0
        return self.times

    def measure(self, end: int, virtual_times: np.ndarray, virtual: np.ndarray) -> None:
        """Add the piece's physical samples up to ``end`` (exclusive; all its base poses at the
        end of the piece) and the virtual samples the loop collected since the last call (rows
        of base position, orientation x, y, z, w, joints: Simulator.pose), and measure."""
        rows = slice(self.first, end)
        ok = self.physical_ok[rows]
        joints = (self.times[rows][ok], self.piece.joints.positions[rows][ok])
        last = (len(self.base_times) if end == len(self.times)
                else int(np.searchsorted(self.base_times, self.times[end - 1], side="right")))
        poses = slice(self.base, last)
        ok = self.base_ok[poses]
        base = (self.base_times[poses][ok], self.base_poses[poses][ok])
        self.first, self.base = end, last
        self._wait()
        self._pending = self._worker.submit(self._measure, joints, base, virtual_times, virtual)

    def _measure(self, joints: tuple[np.ndarray, np.ndarray], base: tuple[np.ndarray, np.ndarray],
                 virtual_times: np.ndarray, virtual: np.ndarray) -> None:
        pairing = self.tracker.pairing
        pairing.extend("physical_joints", *joints)
        pairing.extend("physical_base", *base)
        pairing.extend("virtual_joints", virtual_times, virtual[:, 7:])
        pairing.extend("virtual_base", virtual_times, virtual[:, :7])
        self.tracker.measure()

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def close(self) -> None:
        """Wait for the last chunk (its error, if any, is raised here)."""
        try:
            self._wait()
        finally:
            self._worker.shutdown(cancel_futures=True)


def replay(recording: PhysicalRecording | Iterable[PhysicalRecording], sim: Simulator, tracker: GapTracker,
           progress: Callable[[int], None] | None = None) -> ReplayStats:
    """Drive ``sim`` with the recording and feed ``tracker``; ``progress`` gets the samples done.
    ``recording``: the whole of it, or its pieces in order (:func:`read_ahead`)."""
    pieces = iter([recording] if isinstance(recording, PhysicalRecording) else recording)
    first = next(pieces)
    description = sim.description
    names = description.joint_names
    # Times relative to the first sample, from integer nanoseconds: exact steps, no epoch rounding.
    feed = _Feed(tracker, first.joints.stamps_ns[0])
    sim.reset(*start_pose(first, description.default_positions))
    clock = SimClock()
    clock.start_at(0.0, sim.time)
    # The recording is already in the description's joint order (the joint map was applied when reading).
    gate = SampleGate(description, JointMap(description))
    stats = ReplayStats()
    try:
        for piece in itertools.chain([first], pieces):
            joints = piece.joints
            times = feed.start(piece)
            commands = gate.accept_many(times, names, joints.positions, joints.velocities, joints.efforts)
            stats.clamped += int(commands.clamped.any(axis=1).sum())
            # Chunks of MEASURE_EVERY physical samples: the accepted ones are played, then measured.
            ends = [*range(MEASURE_EVERY, len(times), MEASURE_EVERY), len(times)]
            splits = np.searchsorted(commands.rows, ends)
            start = 0
            for end, split in zip(ends, splits.tolist()):
                rows = slice(start, split)
                reached, poses = sim.play(clock.sim_time(commands.stamps[rows]), commands.joint_index,
                                          commands.positions[rows], commands.velocities[rows],
                                          commands.efforts[rows])
                feed.measure(end, clock.stamp(reached), poses)
                start = split
                if progress is not None:
                    progress(stats.samples + end)
            stats.samples += len(times)
    finally:
        feed.close()
    stats.accepted = gate.accepted
    stats.rejected = dict(gate.rejected)
    return stats


def read_ahead(pieces: Iterator[PhysicalRecording]) -> Iterator[PhysicalRecording]:
    """The pieces of a recording, the next one read on a worker thread while the caller
    replays this one (reading and decoding hold the GIL; MuJoCo's rollout does not)."""
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="replay-read")
    try:
        pending = reader.submit(next, pieces, None)
        while (piece := pending.result()) is not None:
            pending = reader.submit(next, pieces, None)
            yield piece
    finally:
        reader.shutdown(wait=True, cancel_futures=True)
        pieces.close()


@dataclass
class ReplayRun:
    report: dict
    paths: list[Path]
    stats: ReplayStats
    metadata: dict[str, str]


def replay_file(path: Path, description: RobotDescription, world: WorldSettings, out_dir: Path,
                joint_map: JointMap | None = None, joint_topic: str = "physical/joint_states",
                base_topic: str = "physical/odom", roles: JointRoles | None = None,
                on_read: Callable[[PhysicalRecording], None] | None = None,
                progress: Callable[[int], None] | None = None,
                virtual_profile: Profile | None = None, key_links: tuple[str, ...] = (),
                on_missing: Callable[[str], None] | None = None) -> ReplayRun:
    """Replay a recording while reading it, write report.json and report.html into ``out_dir``.
    ``on_read`` sees each piece of the recording as it is read (its warnings; the first one's
    topic list holds the sample count of the whole). ``virtual_profile``: physics of the
    virtual model (a calibrated profile), else the description's; its ``joint_delay_s`` says how
    long before their stamps the joint samples were measured (they are restamped so). ``key_links``: the links to
    measure (default: those the roles give); ``on_missing`` hears once what the roles leave out."""
    tracker = GapTracker(description, monitor_settings(), roles, key_links)
    if tracker.missing and on_missing is not None:
        on_missing(tracker.missing)
    sim = Simulator(description, world)
    if virtual_profile is not None:
        parts = BodyParts.of(description, roles or load_roles(description))
        apply_physics(sim.model, sim.built, virtual_profile.physics, parts, virtual_profile.seed)
    meta: dict[str, str] = {}
    joint_delay = virtual_profile.measurement.joint_delay_s if virtual_profile is not None else 0.0

    def pieces() -> Iterator[PhysicalRecording]:
        for piece in read_ahead(stream_physical(path, description, joint_map, joint_topic, base_topic)):
            piece = piece.with_joint_delay(joint_delay)
            meta.update(piece.metadata)  # the recording's, the same in every piece
            if on_read is not None:
                on_read(piece)
            yield piece

    stats = replay(pieces(), sim, tracker, progress)
    report = tracker.report(profile=meta.get("profile", "unknown"),
                            motion=meta.get("motion", "unknown"), simulator="embedded",
                            source=f"replay of {Path(path).name}"
                                   + (f", virtual model {virtual_profile.name}" if virtual_profile else ""))
    return ReplayRun(report, tracker.write(out_dir, report, world), stats, meta)
