"""The gap a model leaves: the recording replayed through it as the live twin runs (lockstep, held
targets, from the first sample on), scored on the training part and on the held-out end."""

from __future__ import annotations

import copy
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from digital_twin_gz import gap
from digital_twin_gz.calibration.parameters import CalibrationError
from digital_twin_gz.emulator import PhysicsPerturbation, apply_physics
from digital_twin_gz.gap import GapTracker, MonitorSettings
from digital_twin_gz.recording import BaseSamples, JointSamples, PhysicalRecording
from digital_twin_gz.replay import replay
from digital_twin_gz.robot import BodyParts, RobotDescription, WorldSettings
from digital_twin_gz.sim import Simulator
from digital_twin_gz.sim.builder import BuiltModel

MIN_PART_S = 1.0
# The twin starts at rest in the first sample's pose; if the physical robot is moving then,
# no parameter makes the catch-up match, so the first half second is not scored.
WARMUP_S = 0.5


@dataclass(frozen=True)
class Gap:
    """RMS errors of one replay over its paired samples in a span."""

    key_link_mm: float
    base_position_mm: float
    base_orientation_mrad: float
    joint_mrad: float
    paired: int

    @classmethod
    def of(cls, samples: gap.GapSamples, since_s: float, until_s: float = np.inf) -> Gap:
        """Over the samples from ``since_s`` up to ``until_s`` (s after the replay's first sample)."""
        keep = (samples.times >= since_s) & (samples.times < until_s)

        def rms(values: np.ndarray, scale: float) -> float:
            values = values[keep]
            return float(np.sqrt(np.mean(values ** 2)) * scale) if values.size else float("nan")

        return cls(rms(samples.link_mm, 1.0), rms(samples.base_position_m, 1e3),
                   rms(samples.base_orientation_rad, 1e3), rms(samples.joint_rad, 1e3), int(keep.sum()))

    @property
    def objective(self) -> float:
        """The key-link RMS; the base position RMS for a robot measured without key links."""
        return self.key_link_mm if np.isfinite(self.key_link_mm) else self.base_position_mm


@dataclass(frozen=True)
class Model:
    """A virtual model to replay: physics, and how long before its stamps the joint feed was measured."""

    physics: PhysicsPerturbation = PhysicsPerturbation()
    joint_delay: float = 0.0


class Evaluator:
    """Replays a recording through models (built once, copied per model) and measures their gaps."""

    def __init__(self, description: RobotDescription, world: WorldSettings, built: BuiltModel, parts: BodyParts,
                 key_links: tuple[str, ...], settings: MonitorSettings) -> None:
        self.description, self.world, self.built, self.parts = description, world, built, parts
        self.key_links, self.settings = key_links, settings

    def samples(self, recording: PhysicalRecording, model: Model) -> gap.GapSamples:
        """The per-sample gap of the whole recording replayed through ``model``."""
        sim = Simulator(self.description, self.world, replace(self.built, model=copy.copy(self.built.model)))
        apply_physics(sim.model, sim.built, model.physics, self.parts)
        sim.reset()
        tracker = GapTracker(self.description, self.settings, key_links=self.key_links)
        replay(recording.with_joint_delay(model.joint_delay), sim, tracker)
        return tracker.log.samples

    def replays(self, recording: PhysicalRecording, models: dict[str, Model]) -> dict[str, gap.GapSamples]:
        """Each model's per-sample gap over the whole recording, the replays side by side (MuJoCo's
        rollout releases the GIL)."""
        with ThreadPoolExecutor(max_workers=len(models)) as pool:
            return dict(zip(models, pool.map(lambda m: self.samples(recording, m), models.values())))


def part_gaps(samples: dict[str, gap.GapSamples], cut_s: float) -> dict[str, dict[str, Gap]]:
    """{part: {model name: gap}} for the training part (after WARMUP_S, before ``cut_s``) and the
    held-out part (from ``cut_s``) of replays of the whole recording, as the live twin would run on:
    it never starts cold in the middle of a motion."""
    return {"train": {name: Gap.of(s, WARMUP_S, cut_s) for name, s in samples.items()},
            "holdout": {name: Gap.of(s, cut_s) for name, s in samples.items()}}


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
