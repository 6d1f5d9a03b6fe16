"""Calibrate the virtual model from a recording: the physics that make the reality gap smallest.

A candidate model is the description with a few physics parameters changed through
:func:`~digital_twin_gz.physical.apply_physics` (the one way the emulator and the twin
perturb MuJoCo). Its score is the gap of replaying the training part of the recording
(the first ``1 - holdout`` of it) through that model with :func:`~digital_twin_gz.replay.replay`,
the lockstep twin loop. scipy's differential evolution searches the parameters within
fixed bounds, each generation's candidates replayed in parallel by a pool of processes;
restarts with different seeds give the spread of the fitted values, our confidence in
them (how tightly the data pin a value down, not the bias a model that cannot match the
robot exactly leaves in it). Then the gap of the nominal and of the fitted model on the
held-out end, which the fit never saw: the whole recording is replayed, as the live twin
runs on, and scored from the cut on.

Objective: the RMS over paired samples and key links (feet, hands, head) of the key-link
position error in mm, the key-link errors of ``report.json``. One unit for everything,
and it sees what the parameters change: the base pose (orientation errors weighted by
their lever arm to the feet and the head) and the joints (through where the hands and
feet end up). Base error alone is blind to the arms, joint angles alone to the base.

What the parameters mean for a twin fed the physical robot's measured joint positions,
velocities and efforts:

- ``actuator_gain`` scales the twin's actuators, PD and effort feed-forward alike. The
  measured efforts already carry the physical torques, so the right gain is 1 when they
  are true joint torques (as the emulator reports them, whatever its ``actuator_gain``),
  and true / assumed torque constant when a robot computes them from motor current.
- ``mass_scale`` and ``actuator_gain`` together: scaling every mass and every actuator
  force by the same factor scales every term of the equations of motion alike (inertia,
  gravity, contact forces, actuation); only joint damping and friction do not follow. So
  a replay pins down their ratio, not each of them: fitted together, any point along
  that ridge is an equally good twin, the spread of each is large, and the report gives
  the ratio ``mass_scale/actuator_gain`` with its own, small spread. Fit one of them to
  get a value that means something.
- ``latency`` is not physics: the virtual robot acts on each sample ``latency`` seconds
  after its stamp. The replay steps to the samples' header stamps, so a robot's
  measurement-to-message latency (the emulator's ``measurement.latency_s``) never
  reaches the gap, and a delay common to all streams is invisible as well: latency is
  not identifiable offline from stamps. What the fit finds is how late the twin should
  act to match; for a robot that obeys the model that is 0, the lower bound. It moves in
  physics steps (1 ms). It is reported and used for the held-out gap, but it is not in
  the calibrated profile: the live twin's delay is its transport, not a setting.

Outputs (:meth:`Calibration.write`): ``calibrated.yaml``, a profile whose ``physics``
section ``load_profile`` reads (``digital-twin-gz replay/demo --virtual-profile``,
embedded_sim's ``physics_profile`` parameter); ``calibrated.urdf``, the description with
the fitted physics written in, for Gazebo; ``calibration.json`` with everything,
including the xacro arguments that carry the fitted gain where the description declares
gain arguments.
"""

from __future__ import annotations

import copy
import json
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml
from lxml import etree
from rich.console import Console
from rich.table import Table
from scipy.optimize import differential_evolution

from digital_twin_gz import gap
from digital_twin_gz.description import JTC_PLUGIN, RobotDescription
from digital_twin_gz.physical import PhysicsPerturbation, apply_physics, foot_links
from digital_twin_gz.recording import BaseSamples, JointSamples, PhysicalRecording
from digital_twin_gz.replay import monitor_settings, replay
from digital_twin_gz.roles import JointRoles, load_roles
from digital_twin_gz.sim import Simulator
from digital_twin_gz.sim.builder import BuiltModel, build_model
from digital_twin_gz.tracker import GapTracker
from digital_twin_gz.world import WorldSettings

SCHEMA = "digital_twin_gz.calibration/1"
# Parameters a replay determines only as a ratio (see the module's docstring).
RIDGE = ("mass_scale", "actuator_gain")
PROFILE_FILE, URDF_FILE, REPORT_FILE = "calibrated.yaml", "calibrated.urdf", "calibration.json"
# A candidate whose replay pairs nothing or blows up scores this (mm) instead of NaN/inf,
# which would poison the optimiser's convergence test.
PENALTY_MM = 1e6
MIN_PART_S = 1.0
# The twin starts at rest in the first sample's pose; if the physical robot is moving then,
# no parameter makes the catch-up match, so the first half second is not scored.
WARMUP_S = 0.5
XACRO = "{http://www.ros.org/wiki/xacro}"
# The trajectory controller's PID gains in the description (what actuator_gain scales for Gazebo).
GAIN_TAGS = ("position_p_gain", "position_i_gain", "position_d_gain",
             "velocity_p_gain", "velocity_i_gain", "velocity_d_gain")


class CalibrationError(ValueError):
    """Options or a recording that calibration cannot use; the message says what to change."""


@dataclass(frozen=True)
class Parameter:
    name: str
    lower: float
    upper: float
    nominal: float
    unit: str
    meaning: str


PARAMETERS = {p.name: p for p in (
    Parameter("mass_scale", 0.7, 1.3, 1.0, "", "every link's mass and inertia, scaled"),
    Parameter("foot_friction", 0.2, 1.5, 1.0, "",
              "friction coefficient of the feet on the ground (nominal: the description's mu1)"),
    Parameter("joint_damping", 0.0, 10.0, 0.0, "N m s/rad", "viscous damping added to every actuated joint"),
    Parameter("joint_friction", 0.0, 5.0, 0.0, "N m", "Coulomb friction added to every actuated joint"),
    Parameter("actuator_gain", 0.6, 1.4, 1.0, "",
              "scale of every actuator's output (PD and effort feed-forward alike)"),
    Parameter("latency", 0.0, 0.05, 0.0, "s", "delay after a sample's stamp before the virtual robot acts on it"),
)}


def parse_params(text: str) -> tuple[str, ...]:
    """``"mass_scale,latency"`` -> the parameter names, checked."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in PARAMETERS]
    if unknown or not names:
        raise CalibrationError(f"unknown parameters {unknown}; choose from {', '.join(PARAMETERS)}" if unknown
                               else f"no parameters given; choose from {', '.join(PARAMETERS)}")
    return names


@dataclass(frozen=True)
class Candidate:
    """A virtual model to try: physics for apply_physics, and the delay of the replay."""

    physics: PhysicsPerturbation
    latency: float = 0.0

    @classmethod
    def of(cls, names: tuple[str, ...], values: np.ndarray) -> Candidate:
        fields = {name: float(v) for name, v in zip(names, values)}
        latency = fields.pop("latency", 0.0)
        return cls(PhysicsPerturbation(**fields), latency)


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
        return self.key_link_mm if np.isfinite(self.key_link_mm) else PENALTY_MM


class Evaluator:
    """Replays recordings through candidate models (the model is built once and copied per candidate)."""

    def __init__(self, description: RobotDescription, world: WorldSettings, feet: list[str],
                 key_links: tuple[str, ...], max_gap: float) -> None:
        self.description, self.world, self.feet = description, world, feet
        self.key_links, self.max_gap = key_links, max_gap
        self.built: BuiltModel = build_model(description, world)

    def gap(self, recording: PhysicalRecording, candidate: Candidate, since_s: float = WARMUP_S) -> Gap:
        sim = Simulator(self.description, self.world, replace(self.built, model=copy.copy(self.built.model)))
        apply_physics(sim, candidate.physics, self.feet)
        tracker = GapTracker(self.description, self.key_links, max_gap=self.max_gap)
        replay(recording, sim, tracker, delay=candidate.latency)
        return Gap.of(tracker.log.samples, since_s)


# Worker processes: each holds an Evaluator and the recordings it replays ("train": the
# training part, "all": the whole recording), set once at start.
_worker: dict = {}


def _start_worker(evaluator_args: tuple, recordings: dict[str, PhysicalRecording]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    _worker["evaluator"] = Evaluator(*evaluator_args)
    _worker["recordings"] = recordings


def _training_objective(values: np.ndarray, names: tuple[str, ...]) -> float:
    return _worker["evaluator"].gap(_worker["recordings"]["train"], Candidate.of(names, values)).objective


def _replay_gap(task: tuple[str, Candidate, float]) -> Gap:
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
                 budget: Budget | None = None, xacro_args: dict[str, str] | None = None) -> None:
        """``xacro_args``: those the description was expanded with (the gain arguments' values)."""
        self.recording, self.description, self.names = recording, description, names
        self.xacro_args = dict(xacro_args or {})
        self.budget = budget or Budget()
        roles = roles or load_roles(description)
        settings = monitor_settings()
        self.key_links = settings.key_links or tuple(
            gap.key_links(description, {r: i for r, (i, _) in roles.joints.items()}))
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
        self._pool_args = ((description, world, self.feet, self.key_links, settings.max_gap),
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
            self._pool = context.Pool(self.budget.workers, _start_worker, self._pool_args)
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
                    _training_objective, self.bounds, args=(self.names,), maxiter=budget.generations,
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
        gaps = self._workers().map(_replay_gap, tasks, chunksize=1)
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
        fit = self.fit
        values, score = fit.best
        candidate = fit.candidate
        xacro_args = ({} if "actuator_gain" not in fit.names else
                      gain_xacro_args(self.description, self.xacro_args, candidate.physics.actuator_gain))
        spread = fit.spread()
        parameters = {}
        for k, name in enumerate(fit.names):
            p = PARAMETERS[name]
            tolerance = 1e-3 * (p.upper - p.lower)
            parameters[name] = {
                "value": float(values[k]), "spread": None if spread is None else float(spread[k]),
                "restarts": [float(r.values[k]) for r in fit.restarts], "nominal": float(fit.nominal[k]),
                "lower": p.lower, "upper": p.upper, "unit": p.unit, "meaning": p.meaning,
                "at_bound": ("lower" if values[k] - p.lower <= tolerance else
                             "upper" if p.upper - values[k] <= tolerance else None)}
        ratios = {}
        if set(RIDGE) <= set(fit.names):
            top, bottom = (fit.names.index(n) for n in RIDGE)
            restarts = [float(r.values[top] / r.values[bottom]) for r in fit.restarts]
            ratios["/".join(RIDGE)] = {
                "value": float(values[top] / values[bottom]), "restarts": restarts,
                "spread": float(np.std(restarts, ddof=1)) if len(restarts) > 1 else None,
                "note": "masses and actuator forces scaled alike move the twin alike: only this ratio is determined"}
        gaps = None
        if self.gaps is not None:
            gaps = {part: {model: vars(g) for model, g in pair.items()} for part, pair in self.gaps.items()}
            before, after = self.gaps["holdout"]["nominal"].objective, self.gaps["holdout"]["calibrated"].objective
            gaps["holdout_reduction"] = 1.0 - after / before if before > 0 else None
        evaluations = len(fit.history)
        return {
            "schema": SCHEMA,
            "written_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "recording": str(self.recording.source), "robot": self.description.name,
            "duration_s": self.recording.duration,
            "parts": {"train_s": [0.0, self.cut_s], "holdout_s": [self.cut_s, self.recording.duration],
                      "holdout_fraction": self.holdout_fraction, "warmup_s": WARMUP_S},
            "objective": f"RMS key-link position error (mm) over the paired samples of the training part "
                         f"after the first {WARMUP_S:g} s",
            "key_links": list(self.key_links),
            "parameters": parameters,
            "ratios": ratios,
            "training_objective_mm": score,
            "gap": gaps,
            "search": {
                "method": "scipy.optimize.differential_evolution (best1bin, latin hypercube, deferred updating, "
                          "nominal model in the first population, no polish)",
                "budget": vars(self.budget), "evaluations": evaluations, "wall_s": fit.wall_s,
                "evaluations_per_s": evaluations / fit.wall_s if fit.wall_s > 0 else None,
                "interrupted": fit.interrupted,
                "restarts": [{"seed": r.seed, "values": dict(zip(fit.names, r.values.tolist())),
                              "objective_mm": r.gap_mm, "evaluations": r.evaluations,
                              "generations": r.generations, "stopped": r.stopped} for r in fit.restarts]},
            "outputs": {"profile": PROFILE_FILE, "urdf": URDF_FILE, "xacro_args": xacro_args,
                        "notes": output_notes(fit.names, bool(xacro_args))},
            "history": {"columns": ["restart", *fit.names, "objective_mm"],
                        "rows": [[r, *v.tolist(), s] for r, v, s in fit.history]},
        }

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


def profile_yaml(candidate: Candidate, report: dict) -> str:
    """A profile ``load_profile`` reads: the fitted physics; the measurement section empty."""
    physics = {k: v for k, v in vars(candidate.physics).items() if k in report["parameters"]}
    holdout = report["gap"] and report["gap"]["holdout"]
    summary = (f"calibrated from {Path(report['recording']).name}"
               + (f": held-out gap {holdout['nominal']['key_link_mm']:.3g} -> "
                  f"{holdout['calibrated']['key_link_mm']:.3g} mm (key links, RMS)" if holdout else ""))
    header = [f"# Calibrated by digital-twin-gz calibrate from {report['recording']} ({report['written_at']}).",
              "# The virtual model's physics: digital-twin-gz replay/demo --virtual-profile THIS_FILE, or",
              "# embedded_sim's physics_profile parameter. Details and confidence: calibration.json."]
    if "latency" in report["parameters"]:
        header.append(f"# Fitted latency {report['parameters']['latency']['value'] * 1e3:.1f} ms: not physics, "
                      "so not in this profile (see calibration.json).")
    body = yaml.safe_dump({"summary": summary, "seed": 0, "physics": physics, "measurement": {}}, sort_keys=False,
                          width=1000)
    return "\n".join(header) + "\n" + body


def calibrated_urdf(description: RobotDescription, physics: PhysicsPerturbation, feet: list[str]) -> str:
    """The expanded description with the fitted physics written in, for Gazebo: link masses
    and inertias scaled, joint damping and friction added, the feet's ``mu1``/``mu2`` set,
    the trajectory controller's PID gains scaled by the actuator gain (gz-sim has no gain on
    the effort feed-forward, so that part of ``actuator_gain`` has no URDF equivalent)."""
    robot = etree.fromstring(description.urdf.encode(), etree.XMLParser(remove_blank_text=True))
    for inertial in robot.iterfind("link/inertial"):
        mass = inertial.find("mass")
        if mass is not None:
            mass.set("value", repr(float(mass.get("value", "0")) * physics.mass_scale))
        inertia = inertial.find("inertia")
        if inertia is not None:
            for key in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz"):
                if inertia.get(key) is not None:
                    inertia.set(key, repr(float(inertia.get(key)) * physics.mass_scale))
    actuated = set(description.joint_names)
    for joint in robot.iterfind("joint"):
        if joint.get("name") in actuated and (physics.joint_damping or physics.joint_friction):
            dynamics = joint.find("dynamics")
            if dynamics is None:
                dynamics = etree.SubElement(joint, "dynamics")
            model = description.joints[joint.get("name")]
            dynamics.set("damping", repr(model.damping + physics.joint_damping))
            dynamics.set("friction", repr(model.friction + physics.joint_friction))
    if physics.foot_friction is not None:
        touching = {link.get("name") for link in robot.iterfind("link") if link.find("collision") is not None}
        for link in (f for f in feet if f in touching):
            block = robot.find(f"gazebo[@reference='{link}']")
            if block is None:
                block = etree.SubElement(robot, "gazebo", reference=link)
            for key in ("mu1", "mu2"):
                element = block.find(key)
                if element is None:
                    element = etree.SubElement(block, key)
                element.text = repr(physics.foot_friction)
    if physics.actuator_gain != 1.0:
        for plugin in robot.iterfind("gazebo/plugin"):
            if plugin.get("name") == JTC_PLUGIN:
                for element in plugin:
                    if element.tag in GAIN_TAGS and element.text:
                        element.text = repr(float(element.text) * physics.actuator_gain)
    etree.indent(robot, space="  ")
    return etree.tostring(robot, xml_declaration=True, encoding="utf-8").decode() + "\n"


def gain_xacro_args(description: RobotDescription, given: dict[str, str], gain: float) -> dict[str, str]:
    """The fitted actuator gain as xacro arguments: every numeric ``*_kp`` / ``*_kd`` argument the
    description's top-level xacro file declares (the bundled humanoid's gain arguments), scaled.
    Empty for a plain URDF or one without such arguments."""
    if not description.source.name.endswith(".xacro"):
        return {}
    document = etree.parse(str(description.source))
    scaled = {}
    for arg in document.getroot().iterfind(f"{XACRO}arg"):
        name = arg.get("name", "")
        if not name.endswith(("_kp", "_kd")):
            continue
        try:
            value = float(given.get(name, arg.get("default", "")))
        except ValueError:
            continue
        scaled[name] = f"{value * gain:.5g}"
    return scaled


def output_notes(names: tuple[str, ...], has_xacro_args: bool) -> list[str]:
    """How each fitted value reaches each simulator, and where it does not."""
    notes = ["embedded simulator: calibrated.yaml carries every fitted physics value "
             "(digital-twin-gz replay/demo --virtual-profile, embedded_sim parameter physics_profile)"]
    physics = [n for n in names if n != "latency"]
    if physics:
        notes.append(f"Gazebo: calibrated.urdf carries {', '.join(physics)}"
                     + (" (actuator_gain as scaled PID gains only: gz-sim's JointTrajectoryController has no gain "
                        "on the effort feed-forward)" if "actuator_gain" in names else ""))
    if "actuator_gain" in names:
        notes.append("xacro arguments: the scaled *_kp/*_kd gain arguments (PID part of actuator_gain)"
                     if has_xacro_args else "xacro arguments: the description declares no *_kp/*_kd gain arguments")
    rest = [n for n in physics if n != "actuator_gain"]
    if rest:
        notes.append(f"no xacro argument exists for {', '.join(rest)}: use calibrated.urdf (masses, inertias, "
                     "damping, friction and foot mu1/mu2 written in)")
    if "latency" in names:
        notes.append("latency is not physics: reported here, used for the held-out gap, not in the profile or URDF")
    return notes


def print_summary(report: dict, paths: list[Path], console: Console) -> None:
    """The fitted values with their spread, the gaps before and after, and how to use the files."""
    table = Table(title=f"Calibrated: {report['robot']} from {Path(report['recording']).name}", title_justify="left")
    for column in ("parameter", "fitted", "spread (restarts)", "nominal", "bounds"):
        table.add_column(column, justify="left" if column == "parameter" else "right")
    for name, p in report["parameters"].items():
        unit = f" {p['unit']}" if p["unit"] else ""
        bound = f" (at {p['at_bound']} bound)" if p["at_bound"] else ""
        spread = "-" if p["spread"] is None else f"{p['spread']:.3g}"
        table.add_row(name, f"{p['value']:.4g}{unit}{bound}", spread, f"{p['nominal']:.4g}",
                      f"{p['lower']:g} .. {p['upper']:g}")
    for name, r in report["ratios"].items():
        table.add_row(f"{name} (determined)", f"{r['value']:.4g}", "-" if r["spread"] is None else f"{r['spread']:.3g}",
                      "1", "")
    console.print(table)
    if report["gap"]:
        gaps = Table(title="Reality gap, RMS (nominal -> calibrated)", title_justify="left")
        for column in ("part", "key links (mm)", "base position (mm)", "base orientation (mrad)", "joints (mrad)"):
            gaps.add_column(column, justify="left" if column == "part" else "right")
        for part, label in (("train", "training"), ("holdout", "held-out")):
            before, after = report["gap"][part]["nominal"], report["gap"][part]["calibrated"]
            gaps.add_row(label, *(f"{before[k]:.3g} -> {after[k]:.3g}" for k in
                                  ("key_link_mm", "base_position_mm", "base_orientation_mrad", "joint_mrad")))
        console.print(gaps)
    search = report["search"]
    console.print(f"{search['evaluations']} evaluations in {search['wall_s']:.0f} s "
                  f"({search['evaluations_per_s']:.2g}/s)", highlight=False)
    if report["outputs"]["xacro_args"]:
        console.print("xacro arguments (PID gains): " + " ".join(
            f"{k}:={v}" for k, v in report["outputs"]["xacro_args"].items()), highlight=False, soft_wrap=True)
    console.print(f"wrote {', '.join(str(p) for p in paths)}\nuse it: digital-twin-gz replay RECORDING "
                  f"--virtual-profile {paths[0]}; Gazebo: {paths[1]}", highlight=False, soft_wrap=True)
