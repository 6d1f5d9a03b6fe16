"""From sample streams to a report: what gap_monitor does live and replay does from a recording.

One :class:`GapTracker` holds the pairing of the four streams, the gap meter, the log of
every measured sample and the snapshots for pictures, so the live twin and a replay
measure the same way by construction.
"""

from __future__ import annotations

from pathlib import Path

from digital_twin_gz.gap import metrics as gap
from digital_twin_gz.gap.report import build_report, write_outputs
from digital_twin_gz.robot import JointRoles, RobotDescription, WorldSettings, load_roles
from digital_twin_gz.twin import Pairing, SnapshotLog


class GapTracker:
    """Feed ``pairing`` with samples (``add``/``add_base``); ``measure()`` pairs what it can
    and logs the errors; ``report()`` and ``write()`` make the run's outputs."""

    def __init__(self, description: RobotDescription, key_links: list[str] | tuple[str, ...] = (),
                 roles: JointRoles | None = None, max_gap: float = 0.1, max_wait: float = 1.0) -> None:
        self.description = description
        if not key_links:
            roles = roles or load_roles(description)
            key_links = gap.key_links(description, {r: i for r, (i, _) in roles.joints.items()})
        self.meter = gap.GapMeter(description, key_links)
        self.log = gap.GapLog(description.joint_names, self.meter.key_links)
        self.snapshots = SnapshotLog()
        self.pairing = Pairing(len(description.joint_names), max_gap=max_gap, max_wait=max_wait)

    def measure(self) -> gap.GapSamples:
        """Measure every virtual sample that can be paired now; returns the new samples."""
        paired = self.pairing.take()
        samples = self.meter.measure(paired)
        self.log.extend(samples)
        self.snapshots.extend(paired)
        return samples

    def report(self, thresholds: gap.Thresholds, *, profile: str, motion: str, simulator: str, source: str) -> dict:
        return build_report(self.log, self.pairing.counts, thresholds, robot=self.description.name, profile=profile,
                            motion=motion, simulator=simulator, source=source)

    def write(self, out_dir: Path, report: dict, world: WorldSettings) -> list[Path]:
        """report.json, the HTML report and its pictures."""
        return write_outputs(out_dir, report, self.log.samples, self.snapshots.states, self.description, world)
