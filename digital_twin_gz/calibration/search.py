"""The search: differential evolution over candidate models, replayed in parallel processes.

A context manager (:class:`Calibration`) holds the recording split in two, the pool of
evaluating processes, the fit and the gaps before and after.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import differential_evolution

from digital_twin_gz import gap
from digital_twin_gz.calibration.evaluation import (
    WARMUP_S,
    Gap,
    replay_gap,
    start_worker,
    training_objective,
    training_part,
)
from digital_twin_gz.calibration.outputs import PROFILE_FILE, REPORT_FILE, URDF_FILE, calibrated_urdf, profile_yaml
from digital_twin_gz.calibration.parameters import PARAMETERS, CalibrationError, Candidate
from digital_twin_gz.calibration.report import build_report
from digital_twin_gz.emulator import PhysicsPerturbation, foot_links
from digital_twin_gz.gap import monitor_settings
from digital_twin_gz.recording import PhysicalRecording
from digital_twin_gz.robot import JointRoles, RobotDescription, WorldSettings, load_roles
from digital_twin_gz.sim.builder import build_model


@dataclass(frozen=True)
class Budget:
    """How hard to search. Evaluations per restart <= (generations + 1) * max(5, population * parameters)."""

    restarts: int = 3
    generations: int = 10
    population: int = 5
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("restarts", "generations", "population", "workers"):
            if getattr(self, name) < 1:
                raise CalibrationError(f"--{name} must be at least 1, got {getattr(self, name)}")

    def evaluations(self, parameters: int) -> int:
        return self.restarts * (self.generations + 1) * max(5, self.population * parameters)


@dataclass(frozen=True)
class Status:
    """What the search is doing, for a progress display."""

    restart: int
    restarts: int
    evaluations: int
    budget: int
    best_mm: float
    best: dict[str, float]


@dataclass
class Restart:
    seed: int
    values: np.ndarray
    gap_mm: float
    evaluations: int
    generations: int
    stopped: str


@dataclass
class Fit:
    """The search's outcome: every evaluation, each restart's best, and the best of all."""

    names: tuple[str, ...]
    nominal: np.ndarray
    restarts: list[Restart]
    history: list[tuple[int, np.ndarray, float]]
    interrupted: bool
    wall_s: float

    @property
    def best(self) -> tuple[np.ndarray, float]:
        _, values, score = min(self.history, key=lambda h: h[2])
        return values, score

    @property
    def candidate(self) -> Candidate:
        return Candidate.of(self.names, self.best[0])

    def spread(self) -> np.ndarray | None:
        """Standard deviation of the restarts' best values (None with fewer than two)."""
        if len(self.restarts) < 2:
            return None
        return np.std([r.values for r in self.restarts], axis=0, ddof=1)


class _Batch:
    """The map that differential_evolution evaluates each generation with: the pool's map,
    plus the bookkeeping (history, best so far, progress)."""

    def __init__(self, pool, restart: int, fit: Fit, status: Callable[[int], None]) -> None:
        self.pool, self.restart, self.fit, self.status = pool, restart, fit, status
        self.calls = 0

    def __call__(self, function, candidates) -> list[float]:
        candidates = [np.array(c, dtype=float) for c in candidates]
        scores = self.pool.map(function, candidates, chunksize=1)
        self.fit.history += [(self.restart, c, float(s)) for c, s in zip(candidates, scores)]
        self.calls += 1
        self.status(self.restart)
        return scores


class Calibration:
    """One calibration run: the recording split in two, a pool of evaluating processes, the
    fit and the gaps before and after. A context manager: the pool ends with it."""

    def __init__(self, recording: PhysicalRecording, description: RobotDescription, world: WorldSettings,
                 names: tuple[str, ...], *, roles: JointRoles | None = None, holdout: float = 0.3,
                 budget: Budget | None = None, xacro_args: dict[str, str] | None = None,
                 key_links: tuple[str, ...] = ()) -> None:
        """``xacro_args``: those the description was expanded with (the gain arguments' values).
        ``key_links``: the links scored (default: the settings', else the feet, hands and head the
        roles give; without any, the base position is scored). ``missing``: what the roles leave out."""
        self.recording, self.description, self.names = recording, description, names
        self.xacro_args = dict(xacro_args or {})
        self.budget = budget or Budget()
        roles = roles or load_roles(description)
        settings = monitor_settings()
        self.key_links = tuple(key_links) or settings.key_links or tuple(gap.key_links(description, roles))
        self.missing = None if key_links or settings.key_links else gap.missing_key_links(description, roles)
        try:
            gap.GapMeter(description, self.key_links)  # an unknown link fails here, not in the workers
        except ValueError as err:
            raise CalibrationError(str(err)) from err
        self.feet = foot_links(description, roles)
        if "foot_friction" in names and not self.feet:
            raise CalibrationError(f"foot_friction: no feet found on '{description.name}' (no ankle joint roles); "
                                   "name the ankle joints in a joint-role file (--joint-roles)")
        self.holdout_fraction = holdout
        self.train, self.cut_s = training_part(recording, holdout, settings.max_gap)
        self.bounds = np.array([(PARAMETERS[n].lower, PARAMETERS[n].upper) for n in names], dtype=float)
        nominal = {n: PARAMETERS[n].nominal for n in names}
        if "foot_friction" in names:
            model = build_model(description, world).model
            geoms = np.isin(model.geom_bodyid, [model.body(link).id for link in self.feet]) & (model.geom_priority > 0)
            nominal["foot_friction"] = float(np.mean(model.geom_friction[geoms, 0]))
        # The nominal model is one member of every restart's first population: the fit is never worse.
        self.nominal = np.clip([nominal[n] for n in names], self.bounds[:, 0], self.bounds[:, 1])
        self._pool_args = ((description, world, self.feet, self.key_links, settings),
                           {"train": self.train, "all": recording})
        self._pool = None
        self.fit: Fit | None = None
        self.gaps: dict[str, dict[str, Gap]] | None = None

    def __enter__(self) -> Calibration:
        return self

    def __exit__(self, *exc) -> None:
        self._close(terminate=exc[0] is not None)

    def _close(self, terminate: bool) -> None:
        if self._pool is not None:
            (self._pool.terminate if terminate else self._pool.close)()
            self._pool.join()
            self._pool = None

    def _workers(self):
        if self._pool is None:
            # spawn: workers never inherit the caller's threads (rich's refresh thread, ROS).
            context = multiprocessing.get_context("spawn")
            self._pool = context.Pool(self.budget.workers, start_worker, self._pool_args)
        return self._pool

    def run_fit(self, status: Callable[[Status], None] | None = None) -> Fit:
        """Search; Ctrl-C ends it with what was found so far (``fit.interrupted``)."""
        budget = self.budget
        total = budget.evaluations(len(self.names))
        fit = self.fit = Fit(self.names, self.nominal, [], [], False, 0.0)
        started = time.perf_counter()

        def report(restart: int) -> None:
            if status is not None:
                values, score = fit.best
                status(Status(restart, budget.restarts, len(fit.history), total, score,
                              dict(zip(self.names, values.tolist()))))

        try:
            for restart in range(budget.restarts):
                batch = _Batch(self._workers(), restart, fit, report)
                result = differential_evolution(
                    training_objective, self.bounds, args=(self.names,), maxiter=budget.generations,
                    popsize=budget.population, rng=budget.seed + restart, polish=False, init="latinhypercube",
                    x0=self.nominal, workers=batch, updating="deferred")
                fit.restarts.append(Restart(budget.seed + restart, np.array(result.x), float(result.fun),
                                            int(result.nfev), batch.calls - 1, str(result.message)))
        except KeyboardInterrupt:
            fit.interrupted = True
            self._close(terminate=True)
            running = [h for h in fit.history if h[0] == len(fit.restarts)]
            if running:
                _, values, score = min(running, key=lambda h: h[2])
                fit.restarts.append(Restart(budget.seed + len(fit.restarts), values, score, len(running),
                                            batch.calls - 1, "interrupted"))
            if not fit.history:
                raise  # not a single candidate scored: nothing to save
        fit.wall_s = time.perf_counter() - started
        return fit

    def assess(self) -> dict[str, dict[str, Gap]]:
        """Gaps of the nominal and the fitted model on both parts (four replays in parallel).
        The held-out gap replays the whole recording, as the live twin would run on, and
        scores it from the cut on: the twin never starts cold in the middle of a motion."""
        parts = (("train", WARMUP_S), ("all", self.cut_s))
        tasks = [(recording, model, since) for recording, since in parts
                 for model in (Candidate(PhysicsPerturbation()), self.fit.candidate)]
        gaps = self._workers().map(replay_gap, tasks, chunksize=1)
        self.gaps = {part: {"nominal": gaps[2 * k], "calibrated": gaps[2 * k + 1]}
                     for k, part in enumerate(("train", "holdout"))}
        return self.gaps

    def run(self, out_dir: Path, status: Callable[[Status], None] | None = None,
            on_saved: Callable[[Fit], None] | None = None) -> list[Path]:
        """Fit, save, measure the gaps, save again; returns the files written. After a Ctrl-C
        the best values so far are saved before the gaps are measured (``on_saved`` is told)."""
        fit = self.run_fit(status)
        self.write(out_dir)
        if on_saved is not None:
            on_saved(fit)
        self.assess()
        return self.write(out_dir)

    def report(self) -> dict:
        """calibration.json's content."""
        return build_report(self)

    def write(self, out_dir: Path) -> list[Path]:
        """calibrated.yaml, calibrated.urdf and calibration.json into ``out_dir``."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        candidate = self.fit.candidate
        report = self.report()
        paths = [out_dir / PROFILE_FILE, out_dir / URDF_FILE, out_dir / REPORT_FILE]
        paths[0].write_text(profile_yaml(candidate, report))
        paths[1].write_text(calibrated_urdf(self.description, candidate.physics, self.feet))
        paths[2].write_text(json.dumps(report, indent=2) + "\n")
        return paths
