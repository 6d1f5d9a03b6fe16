"""What a Ray task does: one recording replayed (``replay_file``, as ``digital-twin-gz replay`` does)
or calibrated (through :class:`~digital_twin_gz.calibration.Calibration`, as ``digital-twin-gz
calibrate`` does), and what comes back to the command: an :class:`Outcome`, the row of the fleet
report with the files the recording's folder gets.

The files are written in a temporary directory on the worker and travel back as bytes, so the
results land on the machine that runs the command whichever node of a cluster did the work; only
the recordings must be readable at the same path on every node.
"""

from __future__ import annotations

import math
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from digital_twin_gz.calibration import Calibration, CalibrationError, CalibrationSettings
from digital_twin_gz.emulator import Profile
from digital_twin_gz.fleet.discovery import Recording
from digital_twin_gz.recording import PhysicalRecording, RecordingError, log_start_ns, read_physical
from digital_twin_gz.replay import replay_file
from digital_twin_gz.robot import JointRoles, RobotDescription, WorldSettings
from digital_twin_gz.twin import JointMap

DONE, FAILED, INTERRUPTED = "done", "failed", "interrupted"
# Stamps before this are a clock counted from the robot's boot, not a date.
WALL_CLOCK_FROM_NS = int(datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()) * 1_000_000_000


@dataclass(frozen=True)
class Metric:
    """A number of each recording's row: its key in ``Outcome.values``, its label, the digits shown,
    and whether the report plots its distribution and its course over the recordings' dates."""

    key: str
    label: str
    digits: int = 2
    plotted: bool = False


@dataclass
class Outcome:
    """One recording's result: its row of the fleet report, and ``files`` (name: content) for its folder."""

    recording: str
    folder: str
    status: str = FAILED
    reason: str | None = None
    robot: str | None = None
    date: str | None = None
    date_source: str | None = None
    values: dict[str, float | None] = field(default_factory=dict)
    verdict: str | None = None
    warnings: list[str] = field(default_factory=list)
    host: str = ""
    wall_s: float = 0.0
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Robot:
    """The description the fleet runs on, as the command loaded it (shared by every task)."""

    description: RobotDescription
    world: WorldSettings
    joint_map: JointMap
    roles: JointRoles
    joint_topic: str = "/physical/joint_states"
    base_topic: str = "/physical/odom"
    key_links: tuple[str, ...] = ()


REPLAY_METRICS = (
    Metric("duration_s", "duration (s)", 1), Metric("samples", "samples", 0), Metric("paired", "paired", 0),
    Metric("base_position_mm", "base position RMS (mm)", 2, True),
    Metric("base_orientation_deg", "base orientation RMS (deg)", 3, True),
    Metric("key_links_mm", "key links MPJPE RMS (mm)", 2, True))


@dataclass(frozen=True)
class ReplayJob:
    """``digital-twin-gz replay``'s options, for every recording of the fleet."""

    robot: Robot
    virtual_profile: Profile | None = None
    kind = "replay"
    metrics = REPLAY_METRICS


@dataclass(frozen=True)
class CalibrationJob:
    """``digital-twin-gz calibrate``'s options, for every recording of the fleet."""

    robot: Robot
    settings: CalibrationSettings
    names: tuple[str, ...]
    holdout: float | None
    max_iterations: int | None
    threads: int
    xacro_args: dict[str, str] = field(default_factory=dict)
    kind = "calibrate"

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return (Metric("duration_s", "duration (s)", 1), Metric("samples", "samples", 0),
                *(Metric(name, name, 4, True) for name in self.names),
                Metric("holdout_nominal_mm", "held-out gap, nominal (mm)", 2),
                Metric("holdout_calibrated_mm", "held-out gap, calibrated (mm)", 2, True))


def reason(err: BaseException) -> str:
    """An error as one line; those of recordings and calibration name the file and what is wrong already."""
    lines = str(err).strip().splitlines()
    if lines and isinstance(err, (RecordingError, CalibrationError)):
        return lines[0]
    return f"{type(err).__name__}: {lines[0]}" if lines else type(err).__name__


def _date(path: Path, first_stamp_ns: int) -> tuple[str | None, str | None]:
    """When the recording began, from the recording itself: its first joint stamp when that is a
    wall-clock time, else when the recorder logged its first message; None when neither is."""
    for stamp, source in ((first_stamp_ns, "first stamp"), (log_start_ns(path), "recording start")):
        if stamp is not None and stamp >= WALL_CLOCK_FROM_NS:
            moment = datetime.fromtimestamp(stamp * 1e-9, tz=timezone.utc)
            return moment.isoformat(timespec="seconds"), source
    return None, None


def _milli(value: float | None, scale: float = 1e3) -> float | None:
    return None if value is None or not math.isfinite(value) else value * scale


def _identify(outcome: Outcome, path: Path, physical: PhysicalRecording) -> None:
    """The robot (the recording's metadata) and the date of a recording, as soon as it is read."""
    outcome.robot = physical.metadata.get("robot") or outcome.robot
    outcome.date, outcome.date_source = _date(path, int(physical.joints.stamps_ns[0]))


def _run(recording: Recording, robot: Robot, work: Callable[[Outcome, Path], None]) -> Outcome:
    """``work`` fills the outcome, writing its files into a temporary directory; what it raises
    becomes the recording's reason for failing, and the others go on."""
    started = time.perf_counter()
    outcome = Outcome(str(recording.path), recording.folder, robot=robot.description.name, host=socket.gethostname())
    try:
        with tempfile.TemporaryDirectory(prefix="digital_twin_gz-fleet-") as tmp:
            work(outcome, Path(tmp))
            outcome.files = {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
        outcome.status = DONE
    except Exception as err:  # one recording's failure, whatever it is, is its row's reason
        outcome.reason = reason(err)
    outcome.wall_s = time.perf_counter() - started
    return outcome


def replay_recording(recording: Recording, job: ReplayJob) -> Outcome:
    """Replay one recording as ``digital-twin-gz replay`` does: the same report.json and report.html."""
    robot = job.robot

    def work(outcome: Outcome, out: Path) -> None:
        pieces = 0

        def on_read(piece: PhysicalRecording) -> None:
            nonlocal pieces
            pieces += 1
            if pieces == 1:  # the first piece has samples of both topics (stream_physical)
                _identify(outcome, recording.path, piece)
            outcome.warnings += [w for w in piece.warnings if w not in outcome.warnings]

        run = replay_file(recording.path, robot.description, robot.world, out, robot.joint_map, robot.joint_topic,
                          robot.base_topic, robot.roles, on_read=on_read, virtual_profile=job.virtual_profile,
                          key_links=robot.key_links,
                          on_missing=lambda note: outcome.warnings.append(f"key links: {note}"))
        report = run.report
        outcome.verdict = report["status"]
        outcome.values = {
            "duration_s": report["duration_s"], "samples": run.stats.samples, "paired": report["samples"]["paired"],
            "base_position_mm": _milli(report["base_position_error_m"]["rms"]),
            "base_orientation_deg": _milli(report["base_orientation_error_rad"]["rms"], math.degrees(1.0)),
            "key_links_mm": _milli(report["mpjpe_mm"]["rms"], 1.0)}

    return _run(recording, robot, work)


def calibrate_recording(recording: Recording, job: CalibrationJob) -> Outcome:
    """Calibrate on one recording as ``digital-twin-gz calibrate`` does (``job.threads`` threads of
    its own): calibrated.yaml, calibrated.urdf, calibration.json and calibration.html."""
    robot = job.robot

    def work(outcome: Outcome, out: Path) -> None:
        recorded = read_physical(recording.path, robot.description, robot.joint_map, robot.joint_topic,
                                 robot.base_topic)
        _identify(outcome, recording.path, recorded)
        outcome.warnings += recorded.warnings
        calibration = Calibration(recorded, robot.description, robot.world, job.names, roles=robot.roles,
                                  holdout=job.holdout, max_iterations=job.max_iterations, threads=job.threads,
                                  xacro_args=job.xacro_args, key_links=robot.key_links, settings=job.settings)
        if calibration.missing:
            outcome.warnings.append(f"key links: {calibration.missing}; without any, the joints and the base are "
                                    "fitted")
        calibration.run(out)
        report = calibration.report()
        holdout = report["gap"]["holdout"]
        metric = "key_link_mm" if report["key_links"] else "base_position_mm"
        outcome.values = {"duration_s": report["duration_s"], "samples": len(recorded.joints),
                          **{name: p["value"] for name, p in report["parameters"].items()},
                          "holdout_nominal_mm": holdout["nominal"][metric],
                          "holdout_calibrated_mm": holdout["calibrated"][metric]}

    return _run(recording, robot, work)
