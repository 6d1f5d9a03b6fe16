"""The emulated physical robot: the same description with different physics (sim-to-sim).

A profile (:mod:`~digital_twin_gz.emulator.profile`) says how the "real" robot differs from its
model and how it is measured; :func:`~digital_twin_gz.emulator.physics.apply_physics` changes
its MuJoCo model, the one way calibration tries candidate models too.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import mujoco
import numpy as np

from digital_twin_gz.emulator.motions import Motion
from digital_twin_gz.emulator.physics import apply_physics
from digital_twin_gz.emulator.profile import MeasurementPerturbation, Profile, ProfileError
from digital_twin_gz.robot import JointRoles, RobotDescription, WorldSettings
from digital_twin_gz.robot.groups import BodyParts, joint_groups
from digital_twin_gz.sim import Simulator, Trajectory
from digital_twin_gz.sim.simulator import RobotState


@dataclass(frozen=True)
class Measurement:
    """One measured sample: stamp (s, the robot's clock), joints, base pose (x, y, z, w)."""

    stamp: float
    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    joint_efforts: np.ndarray
    base_position: np.ndarray
    base_orientation: np.ndarray
    base_linear_velocity: np.ndarray
    base_angular_velocity: np.ndarray


class Sensors:
    """Encoder and mocap noise, and which samples are lost, drawn from one seeded generator; the
    joint feed ``joint_delay_s`` behind (interpolated between the states measured before)."""

    def __init__(self, measurement: MeasurementPerturbation, seed: int) -> None:
        self.measurement = measurement
        self.rng = np.random.default_rng(seed + 1)
        self._joints: deque[tuple[float, np.ndarray]] = deque()

    def _delayed_joints(self, state: RobotState) -> np.ndarray:
        """(3, n) joint positions, velocities and efforts ``joint_delay_s`` before ``state.time``."""
        now = np.stack([state.joint_positions, state.joint_velocities, state.joint_efforts])
        delay = self.measurement.joint_delay_s
        if delay <= 0:
            return now
        history, wanted = self._joints, state.time - delay
        history.append((state.time, now))
        while len(history) > 2 and history[1][0] <= wanted:
            history.popleft()
        (t0, before), (t1, after) = history[0], history[-1] if len(history) == 1 else history[1]
        if wanted <= t0 or t1 <= t0:
            return before
        return before + (min(wanted, t1) - t0) / (t1 - t0) * (after - before)

    def measure(self, stamp: float, state: RobotState) -> Measurement:
        m, rng = self.measurement, self.rng
        n = len(state.joint_positions)
        positions, velocities, efforts = self._delayed_joints(state)
        rotvec = rng.standard_normal(3) * m.mocap_noise_orientation_rad
        angle = np.linalg.norm(rotvec)
        axis = rotvec / angle if angle > 0 else np.zeros(3)
        noise = np.concatenate([axis * np.sin(angle / 2), [np.cos(angle / 2)]])
        return Measurement(
            stamp=stamp,
            joint_positions=positions + rng.standard_normal(n) * m.encoder_noise_rad,
            joint_velocities=velocities,
            joint_efforts=efforts,
            base_position=state.base_position + rng.standard_normal(3) * m.mocap_noise_position_m,
            base_orientation=_quat_multiply(state.base_orientation, noise),
            base_linear_velocity=state.base_linear_velocity,
            base_angular_velocity=state.base_angular_velocity,
        )

    def dropped(self) -> bool:
        return self.measurement.drop_rate > 0 and self.rng.random() < self.measurement.drop_rate


def _quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of x, y, z, w quaternions."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz])


def command_refusal(stamp: float, now: float, max_age: float) -> str | None:
    """Why a joint command stamped ``stamp`` is not obeyed at ``now`` (the robot's command timeout:
    one older than ``max_age`` s is stale, one from further than that ahead is from a clock that is
    off), or None."""
    age = now - stamp
    if age > max_age:
        return f"stamped {age:.3f} s ago, older than {max_age:g} s"
    if age < -max_age:
        return f"stamped {-age:.3f} s ahead of this robot's clock"
    return None


# Hz: bandwidth of the servo that holds commanded arm joints (see PhysicalRobot)
COMMAND_BANDWIDTH_HZ = 20.0
# rad of position error over which the servo's dry-friction compensation ramps up (tanh)
FRICTION_BAND_RAD = 0.002


class PhysicalRobot:
    """A perturbed simulator performing a motion on its own controller.

    Joint commands (``command``) take over the joints they name, as a real robot obeys its
    command interface, and hold them at the last command when the commands stop (a sender that
    died leaves the robot standing where it was sent, not resuming what it did before). As a
    real robot's arm servos hold a commanded pose, a commanded arm joint leaves the trajectory
    controller for a servo computed every physics step: what the robot's own model says the arms
    need (gravity and Coriolis, joint damping, dry friction) plus a PD through the arms' block of
    the inertia that the Euler step applies a force through (``M + dt D``: the damping is
    implicit), which makes each joint critically damped at ``command_bandwidth_hz`` whatever the
    description's gains. The controller alone (soft gains, no feed-forward) left a shoulder stopped
    mid-motion at teleop's speed 0.06 rad under its last command, still moving a second later;
    with the servo at 20 Hz every arm joint is within 5 mrad of it 0.000-0.052 s after it, on our
    humanoid and on JVRC-1, with either profile (``bench/bench_hold.py``, test_sync_rules). Two
    servos measured before this one failed on a robot that was not ours: one computed once per
    2 ms control period and added to the controller's PD set JVRC-1's shoulder and elbow into a
    limit cycle at the control rate, and one per step that ignored the implicit damping ran our
    wrist (0.3 g m^2, damping 1) into its effort limit. The legs and torso keep the controller: a
    stance leg carries the body above it, which neither the bias forces nor its inertia know, and
    servoing the waist and neck too set the upper body oscillating.

    A measured effort is the mean actuator torque since the measurement before, as a motor
    driver's averaged current reads: the controller's torque changes from one physics step to
    the next within a control period, and the mean keeps the impulse the joint received.
    """

    CONTROL_PERIOD = 0.002

    def __init__(self, description: RobotDescription, world: WorldSettings, profile: Profile, motion: Motion,
                 roles: JointRoles, position: tuple[float, float] = (0.0, 0.0),
                 command_bandwidth_hz: float = COMMAND_BANDWIDTH_HZ) -> None:
        """``position``: x, y (m) where the robot stands on the (unbounded, flat) ground, as robots
        sharing a lab stand apart; their measured base poses say so."""
        if command_bandwidth_hz <= 0:
            raise ValueError(f"command_bandwidth_hz must be positive, got {command_bandwidth_hz:g}")
        if profile.measurement.joint_delay_s < 0:
            raise ProfileError(f"profile '{profile.name}': measurement.joint_delay_s is "
                               f"{profile.measurement.joint_delay_s:g}: a robot cannot measure its joints after "
                               "their stamps (a calibrated twin's negative delay says its base pose is the late one)")
        self.description = description
        self.profile = profile
        self.motion = motion
        self.sim = Simulator(description, world)
        apply_physics(self.sim.model, self.sim.built, profile.physics, BodyParts.of(description, roles), profile.seed)
        self.sim.reset()
        self.sim.settle()
        if any(position):
            state = self.sim.state()
            self.sim.set_base_pose(state.base_position + np.array([*position, 0.0]), state.base_orientation)
        self.sensors = Sensors(profile.measurement, profile.seed)
        self._all = np.arange(len(description.joint_names))
        self._command = np.full(len(self._all), np.nan)
        self._omega = 2 * np.pi * command_bandwidth_hz
        self._servoed = np.array([group == "arms" and name in description.commanded_joints
                                  for name, group in zip(description.joint_names, joint_groups(description, roles),
                                                         strict=True)])
        self._moves_with = _moves_with(description, self._servoed)
        self._acceleration = np.zeros(self.sim.model.nv)  # the servo's, in generalized coordinates
        self._force = np.zeros(self.sim.model.nv)
        self._ticks = 0  # control periods run so far
        self._torque = np.zeros(len(self._all))
        self._torque_steps = 0

    def command(self, joint_index: np.ndarray, positions: np.ndarray) -> None:
        """Position targets for some joints, from now on (clamped to the joint limits)."""
        lower, upper = self.description.lower[joint_index], self.description.upper[joint_index]
        self._command[joint_index] = np.clip(positions, lower, upper)
        self._take_over(np.asarray(joint_index)[self._servoed[joint_index]])

    def targets(self, t: float) -> np.ndarray:
        targets = self.motion.positions(t)
        commanded = ~np.isnan(self._command)
        targets[commanded] = self._command[commanded]
        return targets

    def advance(self, t: float) -> None:
        """Run physics and the robot's controller up to time ``t`` (s since start): every control
        period that begins at or before ``t``. Periods are counted, not summed, and a ``t`` on a
        period's start (a 250 Hz measurement on the 2 ms controller) is on it however its float
        rounded: summed, one 250 Hz measurement in ~1000 came 2 ms early and the next 6 ms late."""
        last = int(np.floor(t / self.CONTROL_PERIOD + 1e-6))
        while self._ticks <= last:
            self._ticks += 1
            ahead = self._ticks * self.CONTROL_PERIOD
            targets = self.targets(ahead)
            self.sim.follow(Trajectory(self._all, np.array([self.CONTROL_PERIOD]), targets[None, :]))
            dofs = self.sim.built.dof_index
            for _ in range(int(self.sim.steps_until(np.array([ahead]))[0])):
                efforts = self._servo_efforts(targets)
                if efforts is not None:
                    self.sim.hold(self._all, targets, efforts=efforts)
                self.sim.step()
                self._torque += self.sim.data.qfrc_actuator[dofs]
                self._torque_steps += 1

    def _servo_efforts(self, targets: np.ndarray) -> np.ndarray | None:
        """The commanded arm joints' servo torques (zero elsewhere) for the physics step about to
        be taken, None before any command to an arm joint."""
        commanded = ~np.isnan(self._command) & self._servoed
        if not commanded.any():
            return None
        model, data, dofs = self.sim.model, self.sim.data, self.sim.built.dof_index
        moves = self._moves_with[:, commanded]
        error = targets[commanded] - data.qpos[self.sim.built.qpos_index[commanded]]
        # The PD's acceleration, zero off the commanded joints and their mimic joints, through M + dt D.
        self._acceleration[:] = 0.0
        self._acceleration[dofs] = moves @ (self._omega ** 2 * error - 2 * self._omega * data.qvel[dofs[commanded]])
        mujoco.mj_mulM(model, data, self._force, self._acceleration)
        self._force += model.opt.timestep * model.dof_damping * self._acceleration
        # The robot's own model: gravity and Coriolis (bias), joint damping (passive) and dry
        # friction (its frictionloss, smoothed over FRICTION_BAND_RAD of error), cancelled.
        load = (data.qfrc_bias[dofs] - data.qfrc_passive[dofs]
                + model.dof_frictionloss[dofs] * np.tanh(moves @ error / FRICTION_BAND_RAD))
        efforts = np.zeros(len(self._all))
        efforts[commanded] = moves.T @ (load + self._force[dofs])
        return efforts

    def _take_over(self, joints: np.ndarray) -> None:
        """Switch the trajectory controller's position and velocity PIDs off for ``joints`` (arm
        joints just commanded) and their mimic joints, leaving their effort actuators to the servo."""
        moving = np.flatnonzero(self._moves_with[:, joints].any(axis=1))
        actuators = self.sim.built.actuators[:2, moving].ravel()
        self.sim.model.actuator_gainprm[actuators, 0] = 0.0
        self.sim.model.actuator_biasprm[actuators, :3] = 0.0

    def measure(self, origin: float = 0.0) -> Measurement:
        """The sensors' view of the robot now, stamped ``origin + time``."""
        state = self.sim.state()
        if self._torque_steps:
            state = replace(state, joint_efforts=self._torque / self._torque_steps)
            self._torque[:] = 0.0
            self._torque_steps = 0
        return self.sensors.measure(origin + self.sim.time, state)


def _moves_with(description: RobotDescription, servoed: np.ndarray) -> np.ndarray:
    """(n, n) in the joint order: column j of a servoed joint is how far each joint moves when j
    moves by one, 1 for itself and the multiplier for each joint that mimics it (the servo drives
    a leader with the inertia and loads of its followers: JVRC-1's thumb carries five fingers)."""
    moves = np.diag(servoed.astype(float))
    for name in description.mimic_joints:
        mimic = description.joints[name].mimic
        leader = description.index(mimic.joint)
        if servoed[leader]:
            moves[description.index(name), leader] = mimic.multiplier
    return moves
