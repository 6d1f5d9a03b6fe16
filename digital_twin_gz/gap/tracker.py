"""From sample streams to a report: what gap_monitor does live and replay does from a recording.

One :class:`GapTracker` holds the pairing of the four streams, the gap meter, the log of
the measured samples (in bounded memory) and the snapshots for pictures, so the live twin and a replay
measure the same way by construction.
"""

from __future__ import annotations

from pathlib import Path

from digital_twin_gz.gap import metrics as gap
from digital_twin_gz.gap.log import GapLog, SnapshotLog
from digital_twin_gz.gap.report import build_report, write_outputs
from digital_twin_gz.gap.settings import MonitorSettings
from digital_twin_gz.robot import JointRoles, RobotDescription, WorldSettings, load_roles
from digital_twin_gz.twin import Pairing


class GapTracker:
    """Feed ``pairing`` with samples (``add``/``add_base``); ``measure()`` pairs what it can
    and logs the errors; ``report()`` and ``write()`` make the run's outputs."""

    def __init__(self, description: RobotDescription, settings: MonitorSettings, roles: JointRoles | None = None,
                 key_links: list[str] | tuple[str, ...] = ()) -> None:
        """``key_links``: the links to measure; default: the settings' key links, else feet, hands and
        head found from the joint roles. ``missing``: what those roles leave out and how to name it
        (None when every key link was found or the links were given), for the caller to say once."""
        self.description, self.settings = description, settings
        key_links = key_links or settings.key_links
        self.missing: str | None = None
        if not key_links:
            roles = roles or load_roles(description)
            key_links = gap.key_links(description, roles)
            self.missing = gap.missing_key_links(description, roles)
        self.meter = gap.GapMeter(description, key_links)
        self.log = GapLog(description.joint_names, self.meter.key_links, settings.thresholds)
        self.snapshots = SnapshotLog()
        self.pairing = Pairing(len(description.joint_names), settings.max_gap, settings.max_wait, settings.clock_jump)
        self.notes: list[dict] = []

    def measure(self) -> gap.GapSamples:
        """Measure every virtual sample that can be paired now; returns the new samples."""
        paired = self.pairing.take()
        samples = self.meter.measure(paired)
        self.log.extend(samples)
        self.snapshots.extend(paired, samples)
        return samples

    def note(self, kind: str, **detail) -> None:
        """An event of the run that the streams do not show (a resync of the virtual base), placed
        on the run timeline at the newest physical sample."""
        self.notes.append({"kind": kind, "run_time": self.pairing.streams["physical_joints"].last_time, **detail})

    def report(self, *, profile: str, motion: str, simulator: str, source: str, partial: bool = False,
               robot_name: str = "", namespace: str = "") -> dict:
        return build_report(self.log, self.pairing.counts, self.settings.thresholds, robot=self.description.name,
                            profile=profile, motion=motion, simulator=simulator, source=source, partial=partial,
                            events=[*self.pairing.events, *self.notes], robot_name=robot_name, namespace=namespace)

    def write(self, out_dir: Path, report: dict, world: WorldSettings, pictures: bool = True) -> list[Path]:
        """report.json, the HTML report and (``pictures``) its pictures."""
        return write_outputs(out_dir, report, self.log.samples, self.snapshots.states, self.description, world,
                             pictures)
