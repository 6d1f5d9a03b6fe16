"""The embedded simulator: one robot on the ground, driven by joint trajectories.

Everything is numpy arrays in the description's joint order; base orientation is a ROS
quaternion (x, y, z, w). Base linear and angular velocity are in the base frame, as
nav_msgs/Odometry reports them.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from mujoco import rollout

from digital_twin_gz.robot import RobotDescription, WorldSettings, load_world
from digital_twin_gz.sim.builder import BuiltModel, build_model
from digital_twin_gz.sim.controller import Trajectory, TrajectoryController
from digital_twin_gz.sim.odometry import WINDOW, OdometryTwist

# What a rollout starts from and records: time first, then qpos (MuJoCo's state layout).
STATE = mujoco.mjtState.mjSTATE_FULLPHYSICS
# Fraction of a physics step by which a target time may fall short of a step and still reach it.
# Stamps are epoch seconds in float64 (1 ulp = 2.4e-7 s in 2026), so a physical sample stamped
# exactly on a step lands up to a few 1e-7 s before it once the clock origin is subtracted: with
# a tolerance of 1e-6 steps (1 ns), two thirds of a 500 Hz stream took 1 then 3 steps instead of
# 2 and 2, and the virtual stamps showed holes that were not there.
STEP_TOLERANCE = 1e-3


def _given(*rows: np.ndarray) -> list[np.ndarray | None]:
    """A row of NaN is a sample without that field."""
    return [None if np.isnan(row).all() else row for row in rows]


def xyzw_to_wxyz(q: np.ndarray) -> np.ndarray:
    return np.asarray(q)[..., [3, 0, 1, 2]]


def wxyz_to_xyzw(q: np.ndarray) -> np.ndarray:
    return np.asarray(q)[..., [1, 2, 3, 0]]


@dataclass(frozen=True)
class RobotState:
    """A snapshot of the simulated robot."""

    time: float
    base_position: np.ndarray
    base_orientation: np.ndarray
    base_linear_velocity: np.ndarray
    base_angular_velocity: np.ndarray
    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    joint_efforts: np.ndarray


class Simulator:
    """MuJoCo physics with gz-sim JointTrajectoryController semantics.

    ``odometry``, when set (``track_odometry``), is fed the base pose after every step, for
    the twist gz-sim's OdometryPublisher would report."""

    def __init__(self, description: RobotDescription, world: WorldSettings | None = None,
                 built: BuiltModel | None = None) -> None:
        self.description = description
        self.world = world or load_world()
        self.built = built or build_model(description, self.world)
        self.model = self.built.model
        self.data = mujoco.MjData(self.model)
        self.controller = TrajectoryController(description.gains, self.model.opt.timestep)
        self._q = self.built.qpos_index
        self._v = self.built.dof_index
        self._a = self.built.actuators
        self._pose = np.r_[0:3, 4, 5, 6, 3, self._q]
        self.odometry: OdometryTwist | None = None
        self.reset()

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.description.joint_names

    @property
    def time(self) -> float:
        return float(self.data.time)

    @property
    def timestep(self) -> float:
        return float(self.model.opt.timestep)

    def reset(self, joint_positions: np.ndarray | None = None, base_position: np.ndarray | None = None,
              base_orientation: np.ndarray | None = None) -> None:
        """Put the robot at rest in a pose; without a base position its lowest point touches the ground.

        Simulation time goes on: this resets the robot, not the world.
        """
        time = self.data.time
        mujoco.mj_resetData(self.model, self.data)
        self.data.time = time
        positions = self.description.default_positions if joint_positions is None else np.asarray(joint_positions)
        positions = np.clip(positions, self.description.lower, self.description.upper)
        self.data.qpos[self._q] = positions
        self.data.qpos[3:7] = [1.0, 0.0, 0.0, 0.0] if base_orientation is None else xyzw_to_wxyz(base_orientation)
        self.data.qpos[0:3] = [0.0, 0.0, 0.0] if base_position is None else base_position
        if base_position is None:
            self.data.qpos[2] = -self._lowest_point()
        self.controller.reset(positions)
        mujoco.mj_forward(self.model, self.data)

    def _lowest_point(self) -> float:
        """Lowest world z of the robot's collision geometry in the current pose."""
        mujoco.mj_kinematics(self.model, self.data)
        geoms = self.built.robot_geoms
        aabb = self.model.geom_aabb[geoms]
        rotation = self.data.geom_xmat[geoms].reshape(-1, 3, 3)
        centre_z = self.data.geom_xpos[geoms, 2] + np.einsum("gj,gj->g", rotation[:, 2, :], aabb[:, :3])
        extent_z = np.einsum("gj,gj->g", np.abs(rotation[:, 2, :]), aabb[:, 3:])
        return float(np.min(centre_z - extent_z))

    def settle(self, seconds: float = 0.5) -> None:
        """Let the robot come to rest on the ground holding its targets, then set the clock
        back: as if it had been standing there already when the run starts."""
        time = self.data.time
        self.step(int(round(seconds / self.timestep)))
        self.data.time = time
        mujoco.mj_forward(self.model, self.data)

    def track_odometry(self) -> OdometryTwist:
        """Start the OdometryPublisher's twist from the next step on (``play`` does not feed it)."""
        self.odometry = OdometryTwist()
        return self.odometry

    def set_base_pose(self, position: np.ndarray, orientation: np.ndarray) -> None:
        """Teleport the base, as gz-sim's set_pose moves a model: joint positions and every velocity
        kept, the base's in its own frame (DART keeps a free joint's body-frame velocities)."""
        before = np.empty(9)
        mujoco.mju_quat2Mat(before, self.data.qpos[3:7])
        self.data.qpos[0:3] = position
        self.data.qpos[3:7] = xyzw_to_wxyz(orientation)
        after = np.empty(9)
        mujoco.mju_quat2Mat(after, self.data.qpos[3:7])
        # MuJoCo's free joint: linear velocity in the world frame, angular in the body frame.
        self.data.qvel[0:3] = after.reshape(3, 3) @ (before.reshape(3, 3).T @ self.data.qvel[0:3])
        mujoco.mj_forward(self.model, self.data)

    def follow(self, trajectory: Trajectory) -> None:
        self.controller.start(trajectory, self.time)

    def hold(self, joint_index: np.ndarray, positions: np.ndarray, velocities: np.ndarray | None = None,
             efforts: np.ndarray | None = None) -> None:
        """``follow`` of a one-point trajectory due at once (``Trajectory.hold``), for targets
        already validated, as twin_sync's gate leaves them: a replay gives 300 000 of them."""
        self.controller.hold(joint_index, positions, velocities, efforts)

    def play(self, times: np.ndarray, joint_index: np.ndarray, positions: np.ndarray, velocities: np.ndarray,
             efforts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """What a lockstep twin does with a run of checked samples, row by row: step to
        ``times[k]`` (``step_to``), take the pose reached (``pose``), then hold row ``k``'s
        targets (``hold``; a row of NaN velocities or efforts is a sample without them).
        Returns the simulation times reached (k,) and the poses (k, 7 + n).

        Held targets make the actuator inputs a function of the targets alone (the integral
        terms aside), so the input of every physics step is known before the run, and the
        run is one call of MuJoCo's rollout: no Python between steps, and the GIL released
        for the whole run (a replay measures the previous run on another core meanwhile)."""
        if self.odometry is not None:
            raise RuntimeError("play() does not feed the odometry twist; step() does")
        count = len(times)
        reached, poses = np.empty(count), np.empty((count, len(self._pose)))
        k = 0
        while k < count and self.controller.needs_every_step:
            self.step_to(times[k])
            reached[k], poses[k] = self.data.time, self.pose()
            self.hold(joint_index, positions[k], *_given(velocities[k], efforts[k]))
            k += 1
        if k == count:
            return reached, poses
        controller, model, data = self.controller, self.model, self.data
        targets = []
        for current, given in ((controller.target_position, positions), (controller.target_velocity, velocities),
                               (controller.target_effort, efforts)):
            rows = np.tile(current, (count - k + 1, 1))
            rows[1:, joint_index] = given[k:]
            # A sample without velocities (efforts) leaves the targets of the one before.
            missing = np.r_[False, np.isnan(given[k:]).all(axis=1)]
            targets.append(rows[np.maximum.accumulate(np.where(missing, 0, np.arange(len(rows))))])
        # Steps taken before each row's pose (step_to never goes back); a step runs on the
        # targets of the last row whose pose was taken before it (0: the current ones).
        steps = np.maximum.accumulate(np.maximum(self.steps_until(times[k:]), 0))
        row_of_step = np.searchsorted(steps, np.arange(steps[-1]), side="right")
        initial = np.empty(mujoco.mj_stateSize(model, STATE))
        mujoco.mj_getState(model, data, initial, STATE)
        states = initial[None, :]
        if len(row_of_step):
            controls = np.tile(data.ctrl, (len(row_of_step), 1))
            controls[:, self._a] = controller.run_inputs(*(t[row_of_step] for t in targets))
            run, _ = rollout.rollout(model, data, initial[None], controls[None],
                                     initial_warmstart=data.qacc_warmstart[None])
            states = np.concatenate([states, run[0]])
            data.ctrl[:] = controls[-1]
        reached[k:], poses[k:] = states[steps, 0], states[steps][:, 1 + self._pose]
        controller.hold(np.arange(len(self.joint_names)), *(t[-1] for t in targets))
        return reached, poses

    def step(self, steps: int = 1) -> None:
        c, d = self.controller, self.data
        while steps > 0:
            c.update_targets(d.time)
            d.ctrl[self._a] = c.inputs(d.qpos[self._q], d.qvel[self._v])
            run = steps if c.steady else 1
            self._advance(run)
            steps -= run

    def _advance(self, steps: int) -> None:
        """``steps`` physics steps on the inputs set, the odometry fed the last ``WINDOW``."""
        odometry, model, data = self.odometry, self.model, self.data
        if odometry is None:
            mujoco.mj_step(model, data, nstep=steps)
            return
        if odometry.started and steps > WINDOW:
            mujoco.mj_step(model, data, nstep=steps - WINDOW)
            odometry.skip_to(data.time, data.qpos[0:3], data.qpos[3:7])
            steps = WINDOW
        for _ in range(steps):
            mujoco.mj_step(model, data)
            odometry.add(data.time, data.qpos[0:3], data.qpos[3:7])

    def steps_until(self, times: np.ndarray) -> np.ndarray:
        """Physics steps from now to the last step at or before each of ``times`` (negative for
        times already passed)."""
        return np.floor((times - self.data.time) / self.model.opt.timestep + STEP_TOLERANCE).astype(np.int64)

    def step_to(self, time: float) -> None:
        """Advance to the last physics step at or before ``time`` (never backwards)."""
        steps = int(self.steps_until(np.array([time]))[0])
        if steps > 0:
            self.step(steps)

    def state(self) -> RobotState:
        d = self.data
        # From qpos: after mj_step, xmat is still that of the state the step started from.
        rotation = np.empty(9)
        mujoco.mju_quat2Mat(rotation, d.qpos[3:7])
        rotation = rotation.reshape(3, 3)
        return RobotState(
            time=self.time,
            base_position=d.qpos[0:3].copy(),
            base_orientation=wxyz_to_xyzw(d.qpos[3:7]).copy(),
            base_linear_velocity=rotation.T @ d.qvel[0:3],
            base_angular_velocity=d.qvel[3:6].copy(),
            joint_positions=d.qpos[self._q].copy(),
            joint_velocities=d.qvel[self._v].copy(),
            joint_efforts=d.qfrc_actuator[self._v].copy(),
        )

    def pose(self) -> np.ndarray:
        """Base position, base orientation (x, y, z, w) and joint positions as one vector
        (3 + 4 + n): one gather, for loops that need only where the robot is."""
        return self.data.qpos[self._pose]

    def link_positions(self, links: list[str] | tuple[str, ...]) -> np.ndarray:
        """World positions (k, 3) of the named links' frames."""
        ids = [mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_BODY, name) for name in links]
        missing = [name for name, i in zip(links, ids) if i < 0]
        if missing:
            raise KeyError(f"no such links: {missing}")
        return self.data.xpos[ids].copy()
