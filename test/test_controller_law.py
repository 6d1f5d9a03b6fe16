"""The embedded controller against gz-sim's, term for term.

``GzController`` below is written here, independently of digital_twin_gz.sim, from gz-sim 8's
``src/systems/joint_traj_control/JointTrajectoryController.cc`` (PreUpdate, SetTarget,
UpdateCurrentPoint, ActuatedJoint::Update) and gz-math 7's ``src/PID.cc`` (Update), with
DART's clip of a force command to the joint's effort limit. The simulator runs a script of
trajectories; the joint states it went through are recorded, and the reference computes from
them, step by step, the force gz-sim would have commanded: it must be the force the simulator
applied.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from helpers.stepping import play_step_by_step

from digital_twin_gz.robot import parse_description
from digital_twin_gz.sim import Simulator, Trajectory

ARM = """<?xml version="1.0"?>
<robot name="arm">
  <link name="base"><inertial><mass value="400"/>
    <inertia ixx="40" ixy="0" ixz="0" iyy="40" iyz="0" izz="60"/></inertial>
    <collision><origin xyz="0 0 0.05"/><geometry><box size="1.5 1.5 0.1"/></geometry></collision></link>
  <link name="upper"><inertial><origin xyz="0.2 0 0"/><mass value="2.0"/>
    <inertia ixx="0.001" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial></link>
  <link name="lower"><inertial><origin xyz="0.15 0 0"/><mass value="1.0"/>
    <inertia ixx="0.001" ixy="0" ixz="0" iyy="0.005" iyz="0" izz="0.005"/></inertial></link>
  <joint name="shoulder" type="revolute"><parent link="base"/><child link="upper"/><origin xyz="0 0 0.3"/>
    <axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="{effort}" velocity="10"/>
    <dynamics damping="0.2"/></joint>
  <joint name="elbow" type="revolute"><parent link="upper"/><child link="lower"/><origin xyz="0.4 0 0"/>
    <axis xyz="0 0 1"/><limit lower="-2.5" upper="2.5" effort="{effort}" velocity="10"/>
    <dynamics damping="0.1"/></joint>
  <gazebo><plugin filename="gz-sim-joint-trajectory-controller-system"
                  name="gz::sim::systems::JointTrajectoryController">
    {joints}
  </plugin></gazebo>
</robot>
"""

# Every term of both PIDs set; the elbow's cmd and integral limits inverted (gz-math: no clamp).
EVERY_TERM = {
    "shoulder": {"position_p_gain": 40, "position_i_gain": 5, "position_d_gain": 0.8, "position_i_min": -3,
                 "position_i_max": 2, "position_cmd_min": -30, "position_cmd_max": 25, "position_cmd_offset": 0.5,
                 "velocity_p_gain": 2, "velocity_i_gain": 1, "velocity_d_gain": 0.01, "velocity_i_min": -1,
                 "velocity_i_max": 1, "velocity_cmd_min": -10, "velocity_cmd_max": 8, "velocity_cmd_offset": -0.2,
                 "initial_position": 0.1},
    "elbow": {"position_p_gain": 25, "position_i_gain": 3, "position_d_gain": 0.3, "position_i_min": 1,
              "position_i_max": -1, "position_cmd_min": 1, "position_cmd_max": -1, "position_cmd_offset": 0.0,
              "velocity_p_gain": 1, "velocity_i_gain": 0.5, "velocity_d_gain": 0.005, "velocity_i_min": 1,
              "velocity_i_max": -1, "velocity_cmd_min": -6, "velocity_cmd_max": 6, "velocity_cmd_offset": 0.1,
              "initial_position": -0.2},
}
# Without the state-dependent terms (integrals, velocity D): the path on which the simulator
# computes the inputs once for many steps, as for the bundled humanoid.
HELD_TERMS = {name: {k: v for k, v in gains.items() if "_i_" not in k and k != "velocity_d_gain"}
              for name, gains in EVERY_TERM.items()}
DEFAULTS = {"_i_max": -1.0, "_cmd_max": -1.0}


def arm(tmp_path, gains: dict, effort: float = 28.0) -> Simulator:
    blocks = []
    for name, fields in gains.items():
        blocks.append(f"<joint_name>{name}</joint_name>")
        blocks += [f"<{key}>{value}</{key}>" for key, value in fields.items()]
    text = ARM.format(effort=effort, joints="\n    ".join(blocks))
    return Simulator(parse_description(text, tmp_path / "arm.urdf"))


class GzPID:
    """gz::math::PID::Update(error, dt), the error rate a finite difference."""

    def __init__(self, p=0.0, i=0.0, d=0.0, i_min=0.0, i_max=-1.0, cmd_min=0.0, cmd_max=-1.0, offset=0.0):
        self.p, self.i, self.d, self.i_min, self.i_max = p, i, d, i_min, i_max
        self.cmd_min, self.cmd_max, self.offset = cmd_min, cmd_max, offset
        self.p_err_last = self.i_err = 0.0

    def update(self, error: float, dt: float) -> float:
        if dt == 0 or not math.isfinite(error):
            return 0.0
        rate = (error - self.p_err_last) / dt
        self.i_err += self.i * dt * error
        if self.i_max >= self.i_min:
            self.i_err = min(max(self.i_err, self.i_min), self.i_max)
        self.p_err_last = error
        cmd = self.offset - self.p * error - self.i_err - self.d * rate
        if self.cmd_max >= self.cmd_min:
            cmd = min(max(cmd, self.cmd_min), self.cmd_max)
        return cmd


class GzController:
    """JointTrajectoryController of gz-sim 8 for named joints, one PreUpdate per physics step."""

    def __init__(self, gains: dict, effort: float) -> None:
        def pid(fields: dict, kind: str) -> GzPID:
            get = {key: fields.get(f"{kind}_{key}", DEFAULTS.get(f"_{key}", 0.0))
                   for key in ("i_min", "i_max", "cmd_min", "cmd_max")}
            return GzPID(fields.get(f"{kind}_p_gain", 0.0), fields.get(f"{kind}_i_gain", 0.0),
                         fields.get(f"{kind}_d_gain", 0.0), get["i_min"], get["i_max"], get["cmd_min"],
                         get["cmd_max"], fields.get(f"{kind}_cmd_offset", 0.0))

        self.joints = list(gains)
        self.effort = effort
        self.target = {n: {"position": gains[n].get("initial_position", 0.0), "velocity": 0.0, "effort": 0.0}
                       for n in self.joints}
        self.pids = {n: (pid(gains[n], "position"), pid(gains[n], "velocity")) for n in self.joints}
        self.status, self.names, self.points, self.index, self.start = "Reached", [], [], 0, 0

    def receive(self, names: list[str], points: list[dict]) -> None:
        """JointTrajectoryCallback; points: {"t": s, "positions": [...], "velocities": [...], "effort": [...]}."""
        self.status, self.names, self.points, self.index, self.start = "New", names, points, 0, 0

    def pre_update(self, sim_time_ns: int, dt: float, q: dict, qdot: dict) -> dict:
        update = False
        if self.status == "New":
            if self.start == 0:
                self.start, self.status = sim_time_ns, "Active"
            if not self.points:
                self.status = "Reached"
            update = True
        if self.status == "Active":
            while self.index + 1 < len(self.points) and round(self.points[self.index]["t"] * 1e9) < (
                    sim_time_ns - self.start):
                self.index += 1
                update = True
        if update and self.status != "Reached":
            point = self.points[self.index]
            for k, name in enumerate(self.names):
                for field, key in (("positions", "position"), ("velocities", "velocity"), ("effort", "effort")):
                    if k < len(point.get(field, [])):
                        self.target[name][key] = point[field][k]
            if self.index + 1 >= len(self.points):
                self.status = "Reached"
        force = {}
        for name in self.joints:
            position, velocity = self.pids[name]
            f = (position.update(q[name] - self.target[name]["position"], dt)
                 + velocity.update(qdot[name] - self.target[name]["velocity"], dt) + self.target[name]["effort"])
            force[name] = min(max(f, -self.effort), self.effort)  # DART: command clipped to the limit
        return force


def script() -> dict[int, tuple[list[str], list[dict]]]:
    """Trajectories by the step before which they arrive."""
    return {
        0: (["shoulder", "elbow"], [{"t": 0.0, "positions": [0.6, -0.5], "velocities": [0.5, 0.0],
                                     "effort": [1.0, -0.5]}]),
        150: (["elbow", "shoulder"], [{"t": 0.05, "positions": [0.4, -0.3]},
                                      {"t": 0.1, "positions": [0.9, 0.2], "velocities": [1.0, -2.0]},
                                      {"t": 0.2, "positions": [-0.2, 0.5], "effort": [0.3, 2.0]}]),
        400: (["shoulder"], [{"t": 0.02, "positions": [1.2]}]),
        520: (["elbow", "shoulder"], [{"t": 0.0, "positions": [2.4, -2.0]}]),  # saturates
        700: (["shoulder", "elbow"], [{"t": 0.1, "positions": [0.0, 0.0], "velocities": [0.0, 0.0]},
                                      {"t": 0.3, "positions": [0.3, 0.1]}]),
        760: (["shoulder"], []),  # no points: stops the trajectory being followed
    }


def embedded(sim: Simulator, names: list[str], points: list[dict]) -> Trajectory:
    """The trajectory as embedded_sim builds it from the message (a point without a field: NaN)."""
    index = np.array([sim.joint_names.index(n) for n in names])

    def column(field: str) -> np.ndarray:
        return np.array([p.get(field, [np.nan] * len(names)) for p in points]).reshape(len(points), len(names))

    return Trajectory(index, np.array([p["t"] for p in points]), column("positions"), column("velocities"),
                      column("effort"))


@pytest.mark.parametrize("gains", [EVERY_TERM, HELD_TERMS], ids=["every_term", "held_terms"])
def test_applied_force_is_gz_sims_on_the_recorded_states(gains, tmp_path):
    effort = 28.0
    sim = arm(tmp_path, gains, effort)
    arrivals = script()
    recorded = []
    for step in range(900):
        if step in arrivals:
            sim.follow(embedded(sim, *arrivals[step]))
        q, qdot = sim.state().joint_positions, sim.state().joint_velocities
        sim.step()
        recorded.append((q, qdot, sim.state().joint_efforts))
    reference = GzController(gains, effort)
    dt = sim.timestep
    clipped = 0
    for step, (q, qdot, applied) in enumerate(recorded):
        if step in arrivals:
            reference.receive(*arrivals[step])
        expected = reference.pre_update((step + 1) * round(dt * 1e9), dt, dict(zip(sim.joint_names, q)),
                                        dict(zip(sim.joint_names, qdot)))
        assert applied == pytest.approx([expected[n] for n in sim.joint_names], rel=1e-9, abs=1e-9), step
        clipped += int(np.any(np.abs(applied) >= effort - 1e-9))
    assert clipped > 0  # the effort limit was reached, so its clip was checked too
    assert np.ptp([r[0][0] for r in recorded]) > 1.0  # and the arm moved


def test_held_targets_step_the_same_in_one_call_or_one_by_one(tmp_path):
    """With held targets the simulator steps many steps per call (inputs computed once; the D term's
    kick on the first step after a target moves): the same as stepping one by one."""
    runs = []
    for bulk in (False, True):
        sim = arm(tmp_path, HELD_TERMS)
        for step, (names, points) in script().items():
            if bulk:
                sim.step_to(step * sim.timestep)
            while not bulk and sim.time < (step - 0.5) * sim.timestep:
                sim.step()
            sim.follow(embedded(sim, names, points))
        sim.step(200)
        runs.append(np.concatenate([sim.data.qpos, sim.data.qvel]))
    assert np.array_equal(runs[0], runs[1])


def test_play_kicks_as_the_step_loop_does(tmp_path):
    """Simulator.play (the replay's rollout) with a D term: each new row's first step kicks."""
    times = np.arange(1, 301) * 0.002 + 0.0003
    positions = np.column_stack([0.5 * np.sin(3 * times), 0.4 * np.cos(2 * times)])
    velocities = np.gradient(positions, times, axis=0)
    velocities[::7] = np.nan  # samples without velocities keep the previous targets
    efforts = np.full_like(positions, 0.2)
    joints = np.arange(2)
    runs = []
    for batch in (False, True):
        sim = arm(tmp_path, HELD_TERMS)
        if batch:
            reached, poses = sim.play(times, joints, positions, velocities, efforts)
        else:
            reached, poses = play_step_by_step(sim, times, joints, positions, velocities, efforts)
        sim.step(10)
        runs.append((reached, poses, np.concatenate([sim.data.qpos, sim.data.qvel])))
    for loop, batch in zip(*runs):
        assert np.array_equal(loop, batch)
