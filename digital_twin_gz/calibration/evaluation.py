"""Scoring a candidate model: replay a recording through it and measure the gap."""

from __future__ import annotations

import copy
import signal
from dataclasses import dataclass, replace

import numpy as np

from digital_twin_gz import gap
from digital_twin_gz.calibration.parameters import CalibrationError, Candidate
from digital_twin_gz.emulator import apply_physics
from digital_twin_gz.gap import GapTracker, MonitorSettings
from digital_twin_gz.recording import BaseSamples, JointSamples, PhysicalRecording
from digital_twin_gz.replay import replay
from digital_twin_gz.robot import RobotDescription, WorldSettings
from digital_twin_gz.sim import Simulator
from digital_twin_gz.sim.builder import BuiltModel, build_model

# A candidate whose replay pairs nothing or blows up scores this (mm) instead of NaN/inf,
# which would poison the optimiser's convergence test.
PENALTY_MM = 1e6
MIN_PART_S = 1.0
# The twin starts at rest in the first sample's pose; if the physical robot is moving then,
# no parameter makes the catch-up match, so the first half second is not scored.
WARMUP_S = 0.5


@dataclass(frozen=True)
class Gap:
    """RMS errors of one replay over its paired samples."""

    key_link_mm: float
    base_position_mm: float
    base_orientation_mrad: float
    joint_mrad: float
    paired: int

    @classmethod
    def of(cls, samples: gap.GapSamples, since_s: float) -> Gap:
        """Over the samples from ``since_s`` (s after the replay's first sample) on."""
        keep = samples.times >= since_s

        def rms(values: np.ndarray, scale: float) -> float:
            values = values[keep]
            return float(np.sqrt(np.mean(values ** 2)) * scale) if values.size else float("nan")

        return cls(rms(samples.link_mm, 1.0), rms(samples.base_position_m, 1e3),
                   rms(samples.base_orientation_rad, 1e3), rms(samples.joint_rad, 1e3), int(keep.sum()))

    @property
    def objective(self) -> float:
        """The key-link RMS; the base position RMS for a robot measured without key links."""
        for value in (self.key_link_mm, self.base_position_mm):
            if np.isfinite(value):
                return value
        return PENALTY_MM


class Evaluator:
    """Replays recordings through candidate models (the model is built once and copied per candidate)."""

    def __init__(self, description: RobotDescription, world: WorldSettings, feet: list[str],
                 key_links: tuple[str, ...], settings: MonitorSettings) -> None:
        self.description, self.world, self.feet = description, world, feet
        self.key_links, self.settings = key_links, settings
        self.built: BuiltModel = build_model(description, world)

    def gap(self, recording: PhysicalRecording, candidate: Candidate, since_s: float = WARMUP_S) -> Gap:
        sim = Simulator(self.description, self.world, replace(self.built, model=copy.copy(self.built.model)))
        apply_physics(sim, candidate.physics, self.feet)
        tracker = GapTracker(self.description, self.settings, key_links=self.key_links)
        replay(recording, sim, tracker, delay=candidate.latency)
        return Gap.of(tracker.log.samples, since_s)


# Worker processes: each holds an Evaluator and the recordings it replays ("train": the
# training part, "all": the whole recording), set once at start.
_worker: dict = {}


def start_worker(evaluator_args: tuple, recordings: dict[str, PhysicalRecording]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    _worker["evaluator"] = Evaluator(*evaluator_args)
    _worker["recordings"] = recordings


def training_objective(values: np.ndarray, names: tuple[str, ...]) -> float:
    return _worker["evaluator"].gap(_worker["recordings"]["train"], Candidate.of(names, values)).objective


def replay_gap(task: tuple[str, Candidate, float]) -> Gap:
    recording, candidate, since_s = task
    return _worker["evaluator"].gap(_worker["recordings"][recording], candidate, since_s)


def training_part(recording: PhysicalRecording, holdout: float, margin_s: float) -> tuple[PhysicalRecording, float]:
    """The first ``1 - holdout`` of the recording's time, and where it ends (s after the first
    sample). Base poses reach ``margin_s`` past its last joint sample, so the pairing brackets it."""
    if not 0 < holdout < 1:
        raise CalibrationError(f"--holdout must be between 0 and 1 (a fraction of the recording), got {holdout}")
    j, b = recording.joints, recording.base
    start = int(j.stamps_ns[0])
    cut = start + int(round((1 - holdout) * (int(j.stamps_ns[-1]) - start)))
    cut_s = (cut - start) * 1e-9
    for name, seconds in (("training", cut_s), ("held-out", recording.duration - cut_s)):
        if seconds < MIN_PART_S:
            raise CalibrationError(f"{recording.source}: the {name} part is {seconds:.2f} s (recording "
                                   f"{recording.duration:.2f} s, --holdout {holdout:g}); each part needs at least "
                                   f"{MIN_PART_S:g} s")
    keep = j.stamps_ns < cut
    poses = b.stamps_ns < cut + int(margin_s * 1e9)
    train = replace(recording,
                    joints=JointSamples(j.stamps_ns[keep], j.positions[keep], j.velocities[keep], j.efforts[keep]),
                    base=BaseSamples(b.stamps_ns[poses], b.positions[poses], b.orientations[poses]))
    return train, cut_s
