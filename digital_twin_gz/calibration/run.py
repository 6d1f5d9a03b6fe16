"""One calibration: the recording split in two, the fit on the first part, what it determines, and
the gap of the nominal and the calibrated twin on both parts."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from digital_twin_gz import gap
from digital_twin_gz.calibration.evaluation import Evaluator, Gap, Model, part_gaps, training_part
from digital_twin_gz.calibration.fit import Candidates, FitProgress, FitResult, fit, jacobian_at
from digital_twin_gz.calibration.html import write_html
from digital_twin_gz.calibration.identify import Identification, identify
from digital_twin_gz.calibration.outputs import PROFILE_FILE, REPORT_FILE, URDF_FILE, calibrated_urdf, profile_yaml
from digital_twin_gz.calibration.parameters import (
    CalibrationError,
    CalibrationSettings,
    load_settings,
    physics_of,
    resolve,
)
from digital_twin_gz.calibration.report import build_report
from digital_twin_gz.calibration.shooting import Shooting
from digital_twin_gz.calibration.signals import PhysicalSignals
from digital_twin_gz.calibration.truth import truths
from digital_twin_gz.gap import monitor_settings
from digital_twin_gz.recording import PhysicalRecording
from digital_twin_gz.robot import BodyParts, JointRoles, RobotDescription, WorldSettings, load_roles
from digital_twin_gz.robot.groups import sole_links
from digital_twin_gz.sim.builder import build_model


class Calibration:
    """Fit the parameters ``names`` (default: the settings') to ``recording``. ``xacro_args``: those the
    description was expanded with (for the gain arguments); ``key_links``: the links measured (default:
    the feet, hands and head the roles give); ``missing`` says what the roles leave out."""

    def __init__(self, recording: PhysicalRecording, description: RobotDescription, world: WorldSettings,
                 names: tuple[str, ...] | None = None, *, roles: JointRoles | None = None,
                 holdout: float | None = None, max_iterations: int | None = None, threads: int | None = None,
                 xacro_args: dict[str, str] | None = None, key_links: tuple[str, ...] = (),
                 settings: CalibrationSettings | None = None) -> None:
        self.settings = settings = settings or load_settings()
        self.recording, self.description = recording, description
        self.xacro_args = dict(xacro_args or {})
        self.holdout = settings.holdout if holdout is None else holdout
        self.max_iterations = max_iterations or settings.max_iterations
        if self.max_iterations < 1:
            raise CalibrationError(f"--max-iterations must be at least 1, got {self.max_iterations}")
        self.threads = threads or os.cpu_count() or 1
        roles = roles or load_roles(description)
        monitor = monitor_settings()
        self.key_links = tuple(key_links) or monitor.key_links or tuple(gap.key_links(description, roles))
        self.missing = None if key_links or monitor.key_links else gap.missing_key_links(description, roles)
        # Compared in the fit: the key links, or for a robot without any, its base.
        compared = self.key_links or (description.root_link,)
        try:
            built = build_model(description, world, compared, joint_sensors=True)
        except ValueError as err:  # an unknown key link
            raise CalibrationError(str(err)) from err
        self.parts = BodyParts.of(description, roles)
        self.parameters = resolve(names or settings.params, settings, built, self.parts)
        self.train, self.cut_s = training_part(recording, self.holdout, monitor.max_gap)
        self.shooting = Shooting(PhysicalSignals.of(self.train, description), description, built, compared,
                                 sole_links(description, roles), settings.shooting, self.threads)
        if not len(self.shooting.starts):
            raise CalibrationError(f"{recording.source}: the training part ({self.cut_s:.2f} s) holds no "
                                   f"{settings.shooting.segment_s:g} s segment; record longer or lower --holdout")
        self.candidates = Candidates(self.shooting, self.parameters, self.parts)
        self.evaluator = Evaluator(description, world, built, self.parts, self.key_links, monitor)
        self.truths = truths(recording.metadata, self.parameters)
        self.result: FitResult | None = None
        self.identification: Identification | None = None
        self.gaps: dict[str, dict[str, Gap]] | None = None
        self.samples: dict[str, gap.GapSamples] = {}

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)

    def run_fit(self, on_progress: Callable[[FitProgress], None] | None = None) -> FitResult:
        """The fit; Ctrl-C ends it with the best candidate so far (``result.stopped == "interrupted"``)."""
        self.result = fit(self.candidates, self.max_iterations, on_progress)
        return self.result

    def identify(self) -> Identification:
        """Intervals and what the recording determines (computes the Jacobian an interrupted fit lacks)."""
        result = self.result
        if not len(result.residual):
            result.residual = self.candidates.residual(result.values)
            result.jacobian = jacobian_at(self.candidates, result.values, result.residual)
        self.identification = identify(self.parameters, result.values, result.jacobian, result.residual,
                                       len(self.shooting.starts), len(self.shooting.compared),
                                       self.settings.confidence, self.settings.determined)
        return self.identification

    def calibrated(self) -> Model:
        """The calibrated model: the identified values (the fit's, where nothing is identified yet)."""
        values = self.identification.values if self.identification is not None else self.result.values
        return Model(*physics_of(self.parameters, values))

    def assess(self) -> dict[str, dict[str, Gap]]:
        """Gaps of the nominal and the calibrated model on both parts (two replays side by side)."""
        self.samples = self.evaluator.replays(self.recording, {"nominal": Model(), "calibrated": self.calibrated()})
        self.gaps = part_gaps(self.samples, self.cut_s)
        return self.gaps

    def run(self, out_dir: Path, on_progress: Callable[[FitProgress], None] | None = None,
            on_saved: Callable[[FitResult], None] | None = None) -> list[Path]:
        """Fit, identify, save, measure the gaps, save again; returns the files written. The best
        values so far are saved after every iteration (``fit.stopped`` "running": what a kill
        leaves) and after a Ctrl-C, before the rest (``on_saved`` is told)."""
        started = time.perf_counter()

        def checkpoint(progress: FitProgress) -> None:
            self.result = FitResult(progress.best, np.empty(0), np.empty((0, len(self.parameters))), progress,
                                    "running", time.perf_counter() - started)
            self.write(out_dir)
            if on_progress is not None:
                on_progress(progress)

        self.run_fit(checkpoint)
        if self.result.stopped == "interrupted":
            self.write(out_dir)
        if on_saved is not None:
            on_saved(self.result)
        self.identify()
        self.write(out_dir)
        self.assess()
        return self.write(out_dir, html=True)

    def report(self) -> dict:
        """calibration.json's content."""
        return build_report(self)

    def write(self, out_dir: Path, html: bool = False) -> list[Path]:
        """calibrated.yaml, calibrated.urdf, calibration.json (and calibration.html) into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        report = self.report()
        model = self.calibrated()
        paths = [out_dir / PROFILE_FILE, out_dir / URDF_FILE, out_dir / REPORT_FILE]
        paths[0].write_text(profile_yaml(model, report))
        paths[1].write_text(calibrated_urdf(self.description, model.physics, self.parts))
        paths[2].write_text(json.dumps(report, indent=2) + "\n")
        if html:
            paths.append(write_html(out_dir, report, self.samples))
        return paths
