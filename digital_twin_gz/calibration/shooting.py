"""Multiple shooting: the training part of a recording cut into segments of a few seconds, each rolled
out from the physical state at its start, all of a candidate model's segments in one parallel rollout.

Why segments: a twin replayed through a whole recording drifts (its feet creep, its base wanders),
and how far it has drifted after a minute depends on the physics chaotically: one long rollout
makes a rugged cost that only a global search copes with, and it runs on one thread. Restarted
from the measured state every ``segment_s`` seconds, the error stays local and smooth in the
parameters (a Gauss-Newton fit converges in a few iterations, however long the recording), and the
segments are independent: MuJoCo's rollout runs them on every core at once. The cost of one
candidate grows with the recording's length, linearly.

A segment is the physical robot reproduced by the model: driven through the JointTrajectoryController
law (:mod:`digital_twin_gz.sim.controller`; its integral terms, which need Python between steps, are
left out: gz-sim's defaults have none) towards the physical joints at each physics step, linearly
between samples (the twin holds each sample until the next, which lags the model half a sample
period and shows up as damping that is not there), with the effort of the sample that follows as
feed-forward (a sample's effort is the torque applied up to its stamp), from the base state the
stance foot gives (:mod:`~digital_twin_gz.calibration.startstate`) and the physical joints. The
first ``skip_s`` of each segment is not compared: the measured start settles in the soft contact.

Compared, every ``stride`` physics steps: the key links (feet, hands, head: the report's metric; it
sees the base through the legs' lever and foot slip), in mm, and the joints (where damping,
friction, armature and mass show first, as the torque the PD must add), in mrad counted as
``joint_lever_m`` mm each, against the recorded base pose and the smoothed joints (the ones the
segment is driven with: encoder noise in the driving targets goes through the PD, and a fit tunes
friction and damping to damp it; with the raw joints compared, 0.5 mrad of encoder noise pulled
friction, damping and the delay 50-70 % off, README: "Calibration"). Each channel alone leaves
a few percent of bias in some parameters that the other does not; weighted by the measured noise
instead, the less noisy channel dominated and so did its bias (README: "Calibration").
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from mujoco import rollout

from digital_twin_gz.calibration.signals import PhysicalSignals
from digital_twin_gz.calibration.startstate import STANCE_WINDOW_S, StartStates
from digital_twin_gz.robot import ForwardKinematics, RobotDescription
from digital_twin_gz.sim.builder import BuiltModel
from digital_twin_gz.sim.controller import TrajectoryController
from digital_twin_gz.sim.simulator import STATE, xyzw_to_wxyz


@dataclass(frozen=True)
class ShootingSettings:
    """``segment_s``: length of a segment; ``skip_s``: its start, not compared; ``stride``: physics
    steps between compared instants; ``smooth_s``: the filter of the driving joint samples;
    ``joint_lever_m``: how many mm of key-link error a mrad of joint error counts as."""

    segment_s: float = 2.0
    skip_s: float = 0.2
    stride: int = 2
    smooth_s: float = 0.08
    joint_lever_m: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.skip_s < self.segment_s:
            raise ValueError(f"segments: need 0 <= skip_s ({self.skip_s}) < segment_s ({self.segment_s})")
        if self.stride < 1:
            raise ValueError(f"segments: stride must be at least 1, got {self.stride}")


@dataclass(frozen=True)
class SegmentInputs:
    """What a rollout of every segment needs for one joint-feed delay, and what it is compared with."""

    initial: np.ndarray  # (S, nstate)
    controls: np.ndarray  # (S, N, nu)
    measured: np.ndarray  # (S, C, 3 k + n): key-link positions (m), then joint positions (rad)


class Shooting:
    """Rolls the training signals' segments out through candidate models. ``model`` must measure the
    key links and the joints (``build_model(..., link_sensors=key_links, joint_sensors=True)``)."""

    def __init__(self, signals: PhysicalSignals, description: RobotDescription, built: BuiltModel,
                 key_links: tuple[str, ...], soles: list[str], settings: ShootingSettings, threads: int) -> None:
        model = built.model
        n = len(description.joint_names)
        if model.nsensordata != 3 * len(key_links) + n:
            raise ValueError("the model must measure the key links and the joints (build_model's sensors)")
        self.signals, self.built, self.settings, self.key_links = signals, built, settings, key_links
        self.driving = signals.smoothed(settings.smooth_s)
        self.start_states = StartStates(signals, self.driving, description, soles)
        self.kinematics = ForwardKinematics(description, key_links)
        self.controller = TrajectoryController(description.gains, float(model.opt.timestep))
        self.dt = float(model.opt.timestep)
        self.steps = int(round(settings.segment_s / self.dt))
        self.compared = np.arange(int(round(settings.skip_s / self.dt)), self.steps, settings.stride)
        # Segments start once the stance window fits before them, and end where the samples do.
        first = float(signals.base_times[0]) + STANCE_WINDOW_S
        last = min(signals.duration, float(signals.base_times[-1])) - max(settings.segment_s, STANCE_WINDOW_S)
        self.starts = np.arange(first, last + 1e-9, settings.segment_s) if last >= first else np.zeros(0)
        self._datas = [mujoco.MjData(model) for _ in range(max(1, threads))]
        self._state = np.empty((len(self.starts), self.steps, mujoco.mj_stateSize(model, STATE)))
        self._sensors = np.empty((len(self.starts), self.steps, model.nsensordata))
        self._inputs: dict[float, SegmentInputs] = {}
        # Residual weights (m -> mm, rad -> mm at the lever); joints that take no command (mimic
        # joints, which follow theirs) are not compared.
        self.weights = 1e3 * np.r_[np.ones(3 * len(key_links)), settings.joint_lever_m * signals.commanded]

    @property
    def size(self) -> int:
        """Length of the residual vector."""
        return len(self.starts) * len(self.compared) * len(self.weights)

    def inputs(self, delay: float) -> SegmentInputs:
        """The segments' start states, controls and compared values for a joint feed ``delay`` s
        behind its stamps (kept for the last few delays asked: a fit asks few)."""
        cached = self._inputs.get(delay)
        if cached is None:
            if len(self._inputs) >= 4:
                self._inputs.pop(next(iter(self._inputs)))
            cached = self._inputs[delay] = SegmentInputs(*self._driven(delay), self._measured(delay))
        return cached

    def _driven(self, delay: float) -> tuple[np.ndarray, np.ndarray]:
        """Start states (S, nstate) and physics-step controls (S, N, nu) of the segments."""
        model, built, driving = self.built.model, self.built, self.driving
        data = mujoco.MjData(model)
        initial = np.empty((len(self.starts), mujoco.mj_stateSize(model, STATE)))
        controls = np.zeros((len(self.starts), self.steps, model.nu))
        for s, start in enumerate(self.starts):
            position, orientation, linear, angular = self.start_states.at(start, delay)
            joints = driving.joints_at(np.array([start]), delay)[:, 0]
            mujoco.mj_resetData(model, data)
            data.time = start
            data.qpos[0:3], data.qpos[3:7], data.qpos[built.qpos_index] = position, xyzw_to_wxyz(orientation), joints[0]
            data.qvel[0:3], data.qvel[3:6], data.qvel[built.dof_index] = linear, angular, joints[1]
            mujoco.mj_getState(model, data, initial[s], STATE)
            # From the step before the segment: the controller's D term kicks on a target's change.
            steps = start + self.dt * np.arange(-1, self.steps)
            targets = driving.joints_at(steps, delay)
            inputs = self.controller.held_inputs(targets[0][1:], targets[1][1:],
                                                 driving.efforts_until(steps[1:], delay), targets[0][:-1])
            for row in range(inputs.shape[1]):
                controls[s][:, built.actuators[row]] = inputs[:, row, :]
        return initial, controls

    def _measured(self, delay: float) -> np.ndarray:
        """(S, C, 3 k + n) key-link and joint positions at the compared instants: the recorded base
        pose, the smoothed joints."""
        measured = []
        for start in self.starts:
            times = start + self.dt * self.compared
            joints = self.driving.joints_at(times, delay)[0]
            links = self.kinematics.positions(*self.signals.base_poses_at(times), joints)
            measured.append(np.hstack([links.reshape(len(times), -1), joints]))
        return np.array(measured).reshape(len(self.starts), len(self.compared), -1)

    def rollout(self, model: mujoco.MjModel, delay: float) -> np.ndarray:
        """Key-link and joint positions (S, C, 3 k + n) of every segment rolled out through ``model``."""
        inputs = self.inputs(delay)
        rollout.rollout(model, self._datas, inputs.initial, inputs.controls, state=self._state,
                        sensordata=self._sensors, persistent_pool=True)
        # A sensor row is read before its step integrates: row k is the state at start + k dt.
        return self._sensors[:, self.compared]

    def residual(self, model: mujoco.MjModel, delay: float) -> np.ndarray:
        """Errors in mm (see ``weights``), flat: segment, compared instant, then each key link's x,
        y, z and each joint."""
        return ((self.rollout(model, delay) - self.inputs(delay).measured) * self.weights).ravel()

    def key_link_rms_mm(self, residual: np.ndarray) -> float:
        """The key-link position RMS (mm) inside a residual of :meth:`residual`."""
        links = residual.reshape(-1, len(self.weights))[:, :3 * len(self.key_links)]
        return float(1e3 * np.sqrt(np.mean((links / self.weights[:3 * len(self.key_links)]) ** 2)) * np.sqrt(3))
