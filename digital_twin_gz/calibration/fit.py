"""The fit: MuJoCo's system-identification toolbox (``mujoco.sysid``) minimizing the shooting residual.

The parameters are a ``sysid.ParameterDict`` with the catalogue's bounds; ``sysid.optimize`` runs
``mujoco.minimize.least_squares`` (box-constrained Levenberg-Marquardt, finite-difference Jacobian)
in each parameter's ``scale`` as its unit. Every column of a finite-difference Jacobian is a
candidate model whose segments roll out in one parallel ``mujoco.rollout`` call. What the
toolbox's own rollout and residual (``sysid_rollout``, ``model_residual``) would do differently, and
why they are not used: they roll MuJoCo actuators out from a fixed control signal, with the
parameters as ``MjSpec`` modifiers compiled per candidate; the twin's actuator inputs change with a
fitted parameter (the joint delay moves the targets), its start states come from the stance foot,
and its physics are changed on the compiled model by ``apply_physics``, the way the emulator and
the calibrated twin change theirs (README: "Calibration").

The solver stops after ``max_iterations``, or when an iteration took off less than ``RTOL`` of
the cost: near the optimum its trial steps cost a rollout each and buy nothing. Every candidate
evaluated is seen, so Ctrl-C (``KeyboardInterrupt``) keeps the best one so far.
"""

from __future__ import annotations

import copy
import io
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import mujoco
import numpy as np
from absl import logging as absl_logging
from mujoco import minimize, sysid

from digital_twin_gz.calibration.parameters import Parameter, physics_of
from digital_twin_gz.calibration.shooting import Shooting
from digital_twin_gz.emulator import apply_physics
from digital_twin_gz.robot import BodyParts

# An iteration that takes off less than this fraction of the cost ends the fit.
RTOL = 1e-4
# Finite-difference step, in units of each parameter's scale (relative beyond one scale).
EPS = 1e-3
# The solver's regularizer grows by this factor after a rejected step (mujoco.minimize's default,
# 10**0.1, took up to 15 rejected trial steps per iteration, each a rollout of every segment).
MU_FACTOR = 10.0


class _Stop(Exception):
    """Raised from the solver's iteration callback to end the fit, saying why."""


@dataclass
class FitProgress:
    """What the fit has done so far, for a progress display and for Ctrl-C."""

    iteration: int = 0
    evaluations: int = 0
    best_cost: float = np.inf
    best: np.ndarray | None = None
    best_key_link_mm: float = np.nan
    costs: list[float] = field(default_factory=list)  # the cost at the start of each iteration


@dataclass
class FitResult:
    values: np.ndarray
    residual: np.ndarray
    jacobian: np.ndarray
    progress: FitProgress
    stopped: str
    wall_s: float


class Candidates:
    """Candidate models: the built model copied and changed by ``apply_physics``."""

    def __init__(self, shooting: Shooting, parameters: list[Parameter], parts: BodyParts) -> None:
        self.shooting, self.parameters, self.parts = shooting, parameters, parts

    def model(self, values: np.ndarray) -> tuple[mujoco.MjModel, float]:
        physics, delay = physics_of(self.parameters, values)
        built = self.shooting.built
        model = copy.copy(built.model)
        apply_physics(model, built, physics, self.parts)
        return model, delay

    def residual(self, values: np.ndarray) -> np.ndarray:
        return self.shooting.residual(*self.model(values))


def fit(candidates: Candidates, max_iterations: int,
        on_progress: Callable[[FitProgress], None] | None = None) -> FitResult:
    """Levenberg-Marquardt from the nominal values. Ctrl-C returns the best candidate so far (its
    Jacobian still to compute: ``stopped`` is "interrupted" and ``jacobian`` empty)."""
    parameters = candidates.parameters
    params = sysid.ParameterDict({p.name: sysid.Parameter(p.name, p.nominal, p.lower, p.upper) for p in parameters})
    scales = np.array([p.scale for p in parameters])
    progress = FitProgress()
    started = time.perf_counter()

    def residual_fn(x: np.ndarray, _params: sysid.ParameterDict):
        columns = np.asarray(x, dtype=float).reshape(len(parameters), -1)
        out = np.empty((candidates.shooting.size, columns.shape[1]))
        for k, values in enumerate(columns.T):
            out[:, k] = candidates.residual(values)
            progress.evaluations += 1
            cost = 0.5 * float(out[:, k] @ out[:, k])
            if cost < progress.best_cost:
                progress.best_cost, progress.best = cost, values.copy()
                progress.best_key_link_mm = candidates.shooting.key_link_rms_mm(out[:, k])
        return [out if np.ndim(x) > 1 else out[:, 0]], None, None

    def on_iteration(trace: list) -> None:
        progress.iteration = len(trace)
        progress.costs.append(float(trace[-1].objective))
        if on_progress is not None:
            on_progress(progress)
        # Stopped here, the solver skips the Jacobian it would add at the end: ours is taken at the best.
        if trace[-1].reduction < RTOL * trace[-1].objective:
            raise _Stop("converged")
        if len(trace) >= max_iterations:
            raise _Stop("max_iterations")

    stopped = "converged"
    verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.ERROR)  # the toolbox warns of a start at a bound: ours are meant
    try:
        sysid.optimize(params, residual_fn, optimizer="mujoco", verbose=False, max_iters=max_iterations + 1,
                       x_scale=scales, eps=EPS, mu_factor=MU_FACTOR, iter_callback=on_iteration,
                       output=io.StringIO())
    except _Stop as stop:
        stopped = str(stop)
    except KeyboardInterrupt:
        if progress.best is None:
            raise
        return FitResult(progress.best, np.empty(0), np.empty((0, len(parameters))), progress, "interrupted",
                         time.perf_counter() - started)
    finally:
        absl_logging.set_verbosity(verbosity)
    values = progress.best
    residual = candidates.residual(values)
    jacobian = jacobian_at(candidates, values, residual)
    return FitResult(values, residual, jacobian, progress, stopped, time.perf_counter() - started)


def jacobian_at(candidates: Candidates, values: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """(m, P) forward-difference Jacobian (per natural unit of each parameter) at ``values``, with the
    solver's own step rule (``mujoco.minimize.jacobian_fd``: inward at a bound)."""
    parameters = candidates.parameters
    scales = np.array([p.scale for p in parameters])
    lower = np.array([p.lower for p in parameters]) / scales
    upper = np.array([p.upper for p in parameters]) / scales

    def scaled(z: np.ndarray) -> np.ndarray:
        return np.stack([candidates.residual(column * scales) for column in z.T], axis=1)

    jac, _ = minimize.jacobian_fd(scaled, (values / scales)[:, None], residual[:, None], np.float64(EPS), 0,
                                  [lower[:, None], upper[:, None]])
    return jac / scales
