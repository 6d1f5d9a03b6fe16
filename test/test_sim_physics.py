"""The embedded simulator without ROS: standing, squatting, determinism, controller law."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.stepping import play_step_by_step
from scipy.integrate import solve_ivp
from scipy.spatial.transform import Rotation

from digital_twin_gz.emulator import Motion
from digital_twin_gz.robot import load_description, load_roles, parse_description
from digital_twin_gz.sim import Simulator, Trajectory, TrajectoryController
from digital_twin_gz.sim.view import FrameRenderer, Ghost


@pytest.fixture(scope="module")
def humanoid():
    return load_description()


def tilt_degrees(orientation: np.ndarray) -> float:
    return float(np.degrees(Rotation.from_quat(orientation).magnitude()))


def test_stands_for_ten_seconds_with_default_gains(humanoid):
    sim = Simulator(humanoid)
    start = sim.state()
    heights, tilts = [], []
    for _ in range(100):
        sim.step(100)
        state = sim.state()
        heights.append(state.base_position[2] - start.base_position[2])
        tilts.append(tilt_degrees(state.base_orientation))
    assert sim.time == pytest.approx(10.0)
    assert max(abs(h) for h in heights) < 0.005
    assert max(tilts) < 2.0
    assert np.max(np.abs(sim.state().joint_positions - humanoid.default_positions)) < 0.05


def follow_motion(sim: Simulator, motion: Motion, rate: float = 500.0):
    index = np.arange(len(sim.joint_names))
    for k in range(int(motion.duration * rate)):
        t = k / rate
        sim.follow(Trajectory.hold(index, motion.positions(t)))
        sim.step_to(t + 1.0 / rate)
        yield t, sim.state()


def test_follows_a_squat_upright(humanoid):
    sim = Simulator(humanoid)
    motion = Motion("squat", humanoid, load_roles(humanoid))
    knee = humanoid.index("l_knee_pitch")
    lowest, worst_tilt, worst_knee = np.inf, 0.0, 0.0
    for t, state in follow_motion(sim, motion):
        lowest = min(lowest, state.base_position[2])
        worst_tilt = max(worst_tilt, tilt_degrees(state.base_orientation))
        worst_knee = max(worst_knee, abs(state.joint_positions[knee] - motion.positions(t)[knee]))
    standing = Simulator(humanoid).state().base_position[2]
    assert standing - lowest > 0.12  # it really squats
    assert worst_tilt < 3.0
    assert worst_knee < 0.05


def test_two_lockstep_runs_with_the_same_inputs_are_identical(humanoid):
    motion = Motion("tour", humanoid, load_roles(humanoid))
    finals = []
    for _ in range(2):
        sim = Simulator(humanoid)
        for t, _ in follow_motion(sim, motion, rate=250.0):
            if t > 12.0:
                break
        finals.append(np.concatenate([sim.data.qpos, sim.data.qvel]))
    assert np.array_equal(finals[0], finals[1])



def test_hold_is_a_one_point_trajectory_reached_at_once(humanoid):
    """The replay's shortcut (``Simulator.hold``) must move the robot exactly as
    ``follow(Trajectory.hold(...))`` does, feed-forward included and joints left out kept."""
    motion = Motion("squat", humanoid, load_roles(humanoid))
    some = np.arange(0, len(humanoid.joint_names), 2)
    finals = []
    for shortcut in (False, True):
        sim = Simulator(humanoid)
        for k in range(1, 1501):
            t = k * 0.002
            positions = motion.positions(t)[some]
            velocities = (positions - motion.positions(t - 0.002)[some]) / 0.002
            efforts = np.full(len(some), 0.5)
            if shortcut:
                sim.hold(some, positions, velocities, efforts)
            else:
                sim.follow(Trajectory.hold(some, positions, velocities, efforts))
            sim.step_to(t)
        finals.append(np.concatenate([sim.data.qpos, sim.data.qvel, sim.data.ctrl]))
    assert np.array_equal(finals[0], finals[1])
    assert np.abs(finals[0][:len(sim.data.qpos)] - Simulator(humanoid).data.qpos).max() > 0.05  # it moved


def test_samples_stamped_on_the_step_grid_reach_their_step_at_epoch_time(humanoid):
    """A lockstep twin steps to stamps in epoch seconds minus a clock origin: float64 rounding
    leaves them up to a few 1e-7 s short of the step they name, and each must still reach it
    (else the virtual stream alternates 1 and 3 steps and shows holes it does not have)."""
    sim = Simulator(humanoid)
    step = sim.model.opt.timestep
    origin = 1_796_000_000.123456 - sim.time  # a stamp of December 2026, as SimClock.start_at sets it
    stamps = origin + sim.time + np.arange(1, 501) * 2 * step
    reached = []
    for stamp in stamps:
        sim.step_to(stamp - origin)
        reached.append(sim.time)
    assert np.round(np.diff(reached) / step).tolist() == [2.0] * 499
    assert np.array_equal(sim.steps_until(stamps - origin), np.zeros(len(stamps)) - (500 - np.arange(1, 501)) * 2)


def test_play_is_step_pose_hold_row_by_row(humanoid):
    """The replay's batch (``Simulator.play``) against the loop it stands for, starting while
    a trajectory is still being interpolated (those rows take the per-step path)."""
    motion = Motion("squat", humanoid, load_roles(humanoid))
    joints = np.arange(len(humanoid.joint_names))
    times = np.arange(1, 801) * 0.002 + 0.0004
    positions = np.array([motion.positions(t) for t in times])
    velocities = np.gradient(positions, times, axis=0)
    efforts = np.full_like(positions, 0.3)
    runs = []
    for batch in (False, True):
        sim = Simulator(humanoid)
        sim.follow(Trajectory(joints, np.array([0.01]), positions[:1]))
        if batch:
            reached, poses = sim.play(times, joints, positions, velocities, efforts)
        else:
            reached, poses = play_step_by_step(sim, times, joints, positions, velocities, efforts)
        sim.step(10)
        runs.append((reached, poses, np.concatenate([sim.data.qpos, sim.data.qvel])))
    for loop, batch in zip(*runs):
        assert np.array_equal(loop, batch)
    assert np.ptp(runs[1][1][:, 2]) > 0.01  # the base went down: it squatted

SPINNER = """<?xml version="1.0"?>
<robot name="spinner">
  <link name="base"><inertial><mass value="500"/>
    <inertia ixx="50" ixy="0" ixz="0" iyy="50" iyz="0" izz="80"/></inertial>
    <collision><origin xyz="0 0 0.05"/><geometry><box size="1.5 1.5 0.1"/></geometry></collision></link>
  <link name="arm"><inertial><origin xyz="0.2 0 0"/><mass value="2.0"/>
    <inertia ixx="0.001" ixy="0" ixz="0" iyy="0.01" iyz="0" izz="0.01"/></inertial></link>
  <joint name="spin" type="revolute"><parent link="base"/><child link="arm"/><origin xyz="0 0 0.2"/>
    <axis xyz="0 0 1"/><limit lower="-3" upper="3" effort="{effort}" velocity="10"/>
    <dynamics damping="{damping}"/></joint>
  <gazebo><plugin filename="gz-sim-joint-trajectory-controller-system"
                  name="gz::sim::systems::JointTrajectoryController">
    <joint_name>spin</joint_name><initial_position>0</initial_position>
    <position_p_gain>{kp}</position_p_gain><velocity_p_gain>{kv}</velocity_p_gain>
    <position_cmd_min>-{effort}</position_cmd_min><position_cmd_max>{effort}</position_cmd_max>
  </plugin></gazebo>
</robot>
"""


def spinner(tmp_path, kp=40.0, kv=2.0, damping=0.1, effort=50.0) -> Simulator:
    text = SPINNER.format(kp=kp, kv=kv, damping=damping, effort=effort)
    return Simulator(parse_description(text, tmp_path / "spinner.urdf"))


def test_step_response_matches_the_pid_law_computed_by_hand(tmp_path):
    kp, kv, damping, target = 40.0, 2.0, 0.1, 0.5
    sim = spinner(tmp_path, kp, kv, damping)
    # Inertia of the arm about the axis: its mass at 0.2 m plus its own izz.
    inertia = 2.0 * 0.2**2 + 0.01
    sim.follow(Trajectory.hold(np.array([0]), np.array([target])))
    times = np.arange(1, 1501) * sim.timestep
    simulated = []
    for _ in times:
        sim.step()
        simulated.append(sim.state().joint_positions[0])
    # I q'' = kp (target - q) - (kv + damping) q'   (position P, velocity P towards a velocity target of 0)
    solution = solve_ivp(lambda t, y: [y[1], (kp * (target - y[0]) - (kv + damping) * y[1]) / inertia],
                         (0, times[-1]), [0.0, 0.0], t_eval=times, rtol=1e-8, atol=1e-10)
    assert np.max(np.abs(np.array(simulated) - solution.y[0])) < 0.01
    # The effort of a step is the law at the state the step started from.
    fresh = spinner(tmp_path, kp, kv, damping)
    fresh.follow(Trajectory.hold(np.array([0]), np.array([target])))
    fresh.step()
    assert fresh.state().joint_efforts[0] == pytest.approx(kp * target)
    before = fresh.state()
    fresh.step()
    expected = kp * (target - before.joint_positions[0]) - kv * before.joint_velocities[0]
    assert fresh.state().joint_efforts[0] == pytest.approx(expected, rel=1e-9)


def test_command_is_clamped_to_the_effort_limit(tmp_path):
    sim = spinner(tmp_path, kp=400.0, kv=1.0, effort=5.0)
    sim.follow(Trajectory.hold(np.array([0]), np.array([2.0])))
    sim.step()
    assert sim.state().joint_efforts[0] == pytest.approx(5.0)


def test_joint_limits_hold(tmp_path):
    sim = spinner(tmp_path, kp=400.0, kv=5.0, effort=50.0)
    sim.follow(Trajectory.hold(np.array([0]), np.array([2.9])))
    sim.step(3000)
    # The controller's target is inside the range; push past it with a target outside.
    sim.controller.target_position[0] = 10.0
    sim.step(3000)
    assert sim.state().joint_positions[0] <= 3.0 + 0.02


def test_the_target_jumps_to_the_first_point_still_ahead(humanoid):
    """gz-sim does not interpolate: from a trajectory's arrival the target is its first point, and
    once a point's time is past, the next one; a point without velocities keeps the velocity target."""
    controller = TrajectoryController(humanoid.gains, 0.001)
    j = humanoid.index("neck_yaw")
    trajectory = Trajectory(np.array([j]), np.array([1.0, 3.0]), np.array([[0.4], [-0.2]]),
                            velocities=np.array([[1.0], [np.nan]]))
    controller.start(trajectory, now=10.0)
    assert controller.target_position[j] == 0.4 and controller.target_velocity[j] == 1.0
    controller.update_targets(11.0)  # the first point's time is not past yet
    assert controller.target_position[j] == 0.4
    controller.update_targets(11.001)
    assert controller.target_position[j] == -0.2 and controller.target_velocity[j] == 1.0
    assert not controller.tracking
    others = [k for k in range(len(humanoid.joint_names)) if k != j]
    assert np.array_equal(controller.target_position[others], humanoid.default_positions[others])


def test_base_pose_and_links_are_reported_in_ros_conventions(humanoid):
    sim = Simulator(humanoid)
    yaw = Rotation.from_euler("z", 0.3)
    sim.set_base_pose(np.array([1.0, 2.0, 0.95]), yaw.as_quat())
    state = sim.state()
    assert np.allclose(state.base_orientation, yaw.as_quat())  # x, y, z, w
    head, sole = sim.link_positions(["head_link", "l_sole_link"])
    assert head[2] > sole[2] + 1.2
    with pytest.raises(KeyError, match="nowhere"):
        sim.link_positions(["nowhere"])


def test_offscreen_render_shows_the_robot_and_its_ghost(humanoid):
    sim = Simulator(humanoid)
    renderer = FrameRenderer(sim, 320, 240)
    alone = renderer.render("front").astype(int)
    assert alone.shape == (240, 320, 3) and alone.std() > 10
    ghost = Ghost(sim)
    state = sim.state()
    ghost.pose(state.base_position + [0.0, 0.6, 0.0], state.base_orientation, state.joint_positions)
    both = renderer.render("front", ghost).astype(int)
    changed = np.any(np.abs(both - alone) > 30, axis=2)
    assert changed.mean() > 0.01  # the ghost is drawn beside the robot
    renderer.close()
