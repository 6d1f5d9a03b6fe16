"""What teleop and mirroring do to joint targets, free of ROS: selection, limits, presets, gate."""

from __future__ import annotations

import numpy as np
import pytest

from digital_twin_gz.emulator import motions
from digital_twin_gz.robot import load_description, load_roles
from digital_twin_gz.teleop import (
    FALLBACK_VELOCITY,
    STEPS,
    MirrorGate,
    MirrorLimiter,
    Teleop,
    Ticks,
    joint_speeds,
    limit_step,
)
from digital_twin_gz.teleop.ui import bar, joint_row


@pytest.fixture(scope="module")
def roles(description):
    return load_roles(description)


@pytest.fixture
def teleop(description, roles):
    return Teleop(description, roles, description.default_positions, speed=0.5)


def settle(teleop: Teleop, dt: float = 0.02, seconds: float = 5.0) -> np.ndarray:
    for _ in range(int(seconds / dt)):
        teleop.advance(dt)
    return teleop.command


def test_groups_come_from_roles_and_selection_cycles(description, teleop):
    names = {g.name: [description.joint_names[j] for j in g.joints] for g in teleop.groups}
    assert list(names) == ["all joints", "torso", "head", "left arm", "right arm", "left leg", "right leg"]
    assert names["left arm"] == ["l_shoulder_pitch", "l_shoulder_roll", "l_shoulder_yaw", "l_elbow_pitch",
                                 "l_wrist_yaw"]
    assert names["right leg"] == ["r_hip_yaw", "r_hip_roll", "r_hip_pitch", "r_knee_pitch", "r_ankle_pitch",
                                  "r_ankle_roll"]
    assert names["head"] == ["neck_yaw", "neck_pitch"] and len(names["all joints"]) == len(description.joint_names)
    # The group of all joints is picked joint by joint; the others start as a whole.
    assert teleop.selected.name == "all joints" and not teleop.whole_group
    teleop.select_joint(-1)
    assert teleop.selected_joints()[0] == (len(description.joint_names) - 1,)
    teleop.select_group(2)
    assert teleop.selected.name == "head" and teleop.whole_group
    assert teleop.selected_joints()[0] == (description.index("neck_yaw"), description.index("neck_pitch"))
    teleop.select_joint(1)
    assert teleop.selected_joints()[0] == (description.index("neck_yaw"),)
    teleop.select_joint(2)
    assert teleop.whole_group
    teleop.select_group(-3)
    assert teleop.selected.name == "right leg"


def test_groups_of_another_humanoid(other_humanoid):
    urdf, packages = other_humanoid
    description = load_description(urdf, packages=packages)
    teleop = Teleop(description, load_roles(description), description.default_positions)
    names = {g.name: [description.joint_names[j] for j in g.joints] for g in teleop.groups}
    assert names["torso"] == ["TorsoYaw"] and names["head"] == ["HeadYaw", "HeadPitch"]
    assert names["left arm"] == ["LShoulderPitch", "LShoulderRoll", "LElbowRoll", "LWristYaw"]
    teleop.preset("stand")  # covers the torso roles this robot lacks: sets the ones it has
    teleop.preset("squat")
    knee = description.index("LKneePitch")
    assert teleop.goal[knee] > description.default_positions[knee] + 0.5


def test_nudges_are_clamped_to_the_limits_and_say_so(description, teleop):
    neck = description.index("neck_yaw")
    teleop.select_group(2)
    teleop.select_joint(1)
    for _ in range(3):
        teleop.change_step(+1)
    assert teleop.step == 0.5
    assert teleop.nudge(+1) == [] and teleop.goal[neck] == pytest.approx(0.5)
    held = [teleop.nudge(+1) for _ in range(4)]
    assert held[-1] == ["neck_yaw"] and teleop.goal[neck] == description.upper[neck]
    assert settle(teleop)[neck] == pytest.approx(description.upper[neck])
    for _ in range(10):
        teleop.nudge(-1)
    assert teleop.goal[neck] == description.lower[neck]
    assert np.all(teleop.goal >= description.lower) and np.all(teleop.goal <= description.upper)
    teleop.change_step(+5)
    assert teleop.step == STEPS[-1]
    for _ in range(20):
        teleop.change_step(-1)
    assert teleop.step == STEPS[0]


def test_whole_group_nudge_moves_each_joint_about_its_world_axis(description, roles, teleop):
    teleop.select_group(3)  # left arm, as a whole
    before = teleop.goal.copy()
    teleop.nudge(+1)
    moved = np.flatnonzero(teleop.goal != before)
    arm = [roles.joints[f"left_{r}"] for r in ("shoulder_pitch", "shoulder_roll", "shoulder_yaw", "elbow", "wrist")]
    assert sorted(moved.tolist()) == sorted(j for j, _ in arm)
    for j, sign in arm:
        expected = np.clip(before[j] + sign * teleop.step, description.lower[j], description.upper[j])
        assert teleop.goal[j] == pytest.approx(expected)


def test_commands_move_no_faster_than_the_velocity_limit_and_arrive_together(description, teleop):
    speeds = 0.5 * description.velocity_limit
    teleop.preset("squat")
    teleop.preset("arms up")
    goal = teleop.goal.copy()
    previous, moving, dt = teleop.command.copy(), [], 0.02
    for _ in range(200):
        command = teleop.advance(dt).copy()
        assert np.all(np.abs(command - previous) <= speeds * dt + 1e-12)
        moving.append(np.abs(command - goal) > 1e-9)
        previous = command
    assert np.allclose(previous, goal)
    # Every joint moved on the way arrives on the same tick: the posture keeps its shape.
    moving = np.array(moving)
    arrivals = {int(np.argmin(moving[:, j])) for j in np.flatnonzero(moving[0])}
    assert len(arrivals) == 1
    # The slowest joint sets the pace: it moves at its full allowed speed.
    ticks = arrivals.pop() + 1  # index of the first advance that arrived
    distance = np.abs(goal - description.default_positions)
    assert ticks == int(np.ceil(np.max(distance / (speeds * dt)) - 1e-9))


def test_a_stalled_loop_slows_the_robot_instead_of_jumping(description, roles):
    teleop = Teleop(description, roles, description.default_positions, speed=1.0, max_dt=0.05)
    teleop.to_default()
    teleop.goal[:] = description.upper
    command = teleop.advance(2.0)
    assert np.all(np.abs(command - description.default_positions) <= description.velocity_limit * 0.05 + 1e-12)


def test_start_outside_the_limits_is_clamped_and_limit_step_reaches_the_goal(description, roles):
    start = description.upper + 0.3
    teleop = Teleop(description, roles, start)
    assert np.array_equal(teleop.command, description.upper) and np.array_equal(teleop.goal, description.upper)
    current, goal = np.zeros(3), np.array([1.0, -0.5, 0.0])
    step = limit_step(current, goal, np.array([0.1, 0.1, 0.1]))
    assert step == pytest.approx([0.1, -0.05, 0.0])
    assert limit_step(current, goal, np.array([2.0, 2.0, 2.0])) == pytest.approx(goal)


def test_presets_follow_roles_and_wave_plays_then_returns(description, roles, teleop):
    default = description.default_positions
    teleop.preset("squat")
    squat = roles.apply(default, motions.squat(0.5, period=1.0))
    legs = [description.index(n) for n in ("l_hip_pitch", "l_knee_pitch", "l_ankle_pitch", "r_knee_pitch")]
    assert teleop.goal[legs] == pytest.approx(squat[legs])
    knee = description.index("l_knee_pitch")
    assert teleop.goal[knee] == pytest.approx(default[knee] + 0.9)
    teleop.preset("arms up")
    shoulder = description.index("l_shoulder_pitch")
    assert teleop.goal[shoulder] == pytest.approx(-2.5)
    assert teleop.goal[legs] == pytest.approx(squat[legs])  # arms up leaves the legs as they are
    teleop.preset("stand")
    assert teleop.goal[legs] == pytest.approx(default[legs]) and teleop.goal[shoulder] == pytest.approx(-2.5)
    teleop.to_default()
    assert teleop.goal == pytest.approx(default)

    elbow, roll = description.index("r_elbow_pitch"), description.index("r_shoulder_roll")
    teleop.preset("wave")
    assert teleop.playing
    lowest_roll, elbows = 0.0, set()
    for _ in range(int(7.5 / 0.02) + 2):
        command = teleop.advance(0.02)
        lowest_roll = min(lowest_roll, teleop.goal[roll])
        elbows.add(round(float(teleop.goal[elbow]), 1))
    assert not teleop.playing
    assert lowest_roll < default[roll] - 1.0  # the right arm went up sideways
    assert len(elbows) > 5  # and the forearm waved
    assert teleop.goal == pytest.approx(default)  # then it came back down
    assert command == pytest.approx(default, abs=0.05)
    teleop.preset("wave")
    teleop.advance(1.0)
    teleop.nudge(+1)
    assert not teleop.playing


def test_presets_name_the_roles_a_robot_lacks(description):
    legless = load_roles(description, {})
    legless = type(legless)({k: v for k, v in legless.joints.items() if "knee" not in k})
    teleop = Teleop(description, legless, description.default_positions)
    with pytest.raises(ValueError, match="needs joint roles this robot lacks: left_knee, right_knee"):
        teleop.preset("squat")


def test_joint_speeds_and_ticks(description):
    assert np.array_equal(joint_speeds(description, 0.5), 0.5 * description.velocity_limit)
    for bad in (0.0, 1.5):
        with pytest.raises(ValueError, match="fraction"):
            joint_speeds(description, bad)
    ticks = Ticks(50.0, 100.0)
    assert ticks.tick(100.0) == pytest.approx((100.0, 0.02))
    assert ticks.tick(100.004) is None  # the same slot
    assert ticks.tick(100.027) == pytest.approx((100.02, 0.02))  # late: keeps its slot
    assert ticks.tick(100.081) == pytest.approx((100.08, 0.06))  # two slots missed


def test_fallback_velocity_for_joints_without_one(other_humanoid):
    urdf, packages = other_humanoid
    text = urdf.read_text().replace('velocity="6"', 'velocity="0"', 1)
    urdf.write_text(text)
    description = load_description(urdf, packages=packages)
    speeds = joint_speeds(description)
    assert speeds[0] == FALLBACK_VELOCITY and np.all(speeds[1:] == 6.0)


# Mirror ------------------------------------------------------------------------------


def test_mirror_limiter_holds_position_velocity_effort_and_rate(description):
    limiter = MirrorLimiter(description, rate=50.0)
    n = len(description.joint_names)
    kp, effort = description.gains.position_p_gain, description.effort_limit
    assert limiter.max_lead == pytest.approx(effort / kp)
    measured = description.default_positions
    limiter.start(10.0, measured)
    wild = description.upper + 5.0  # far past every limit
    first = limiter.command(10.0, wild, measured)
    assert first is not None
    command, dt = first
    assert dt == pytest.approx(0.02)
    step = description.velocity_limit * 0.02
    assert np.all(np.abs(command - measured) <= np.minimum(step, limiter.max_lead) + 1e-12)
    assert limiter.command(10.01, wild, measured) is None  # the rate limit
    previous, t = command, 10.0
    for _ in range(500):
        t += 0.02
        measured = previous  # a robot that tracks perfectly
        command, dt = limiter.command(t, wild, measured)
        assert np.all(command <= description.upper) and np.all(command >= description.lower)
        assert np.all(np.abs(command - previous) <= description.velocity_limit * dt + 1e-12)
        previous = command
    assert np.array_equal(previous, description.upper)
    # A robot that does not follow: the commands come back to it at the velocity limit, then lead
    # it by at most effort / kp, and never lead it further than before.
    stuck = description.default_positions
    lead = np.abs(command - stuck)
    for _ in range(50):
        t += 0.02
        command, _ = limiter.command(t, description.lower - 1.0, stuck)
        assert np.all(np.abs(command - stuck) <= np.maximum(lead, limiter.max_lead) + 1e-12)
        lead = np.abs(command - stuck)
    assert np.all(np.abs(kp * (command - stuck)) <= effort + 1e-9)
    # A stalled loop: the step is still one period's worth.
    command, dt = limiter.command(t + 1.0, description.lower, command)
    assert dt == pytest.approx(0.02)
    with pytest.raises(ValueError, match="NaN"):
        limiter.command(t + 2.0, np.full(n, np.nan), command)


def test_mirror_limiter_needs_a_start(description):
    limiter = MirrorLimiter(description, rate=20.0)
    assert not limiter.running
    with pytest.raises(RuntimeError):
        limiter.command(0.0, description.default_positions, description.default_positions)
    limiter.start(0.0, description.upper + 1.0)
    command, _ = limiter.command(0.0, description.upper + 1.0, description.upper + 1.0)
    assert np.array_equal(command, description.upper)
    limiter.stop()
    assert not limiter.running


def test_mirror_gate_engages_only_when_safe_and_stops_at_once():
    gate = MirrorGate(max_gap=0.05, gap_timeout=1.0, feed_timeout=0.5)
    assert not gate.engage(0.0) and "no gap reading" in gate.reason
    gate.on_gap(0.0, 0.01)
    assert not gate.engage(0.0) and "no physical joint states" in gate.reason
    gate.on_feed(0.0)
    gate.on_gap(0.0, 0.08)
    assert not gate.engage(0.0) and gate.reason == "refused: gap 0.080 m > 0.050 m"
    gate.on_gap(0.1, 0.01)
    assert gate.engage(0.1) and gate.allows(0.2)
    gate.on_feed(0.2)
    gate.on_gap(0.25, 0.051)  # past the threshold: off at once, before any tick
    assert not gate.engaged and gate.reason == "stopped: gap 0.051 m > 0.050 m"
    gate.on_gap(0.3, 0.01)
    assert not gate.allows(0.3)  # stays off until the operator engages again
    assert gate.engage(0.3)
    gate.on_gap(0.35, float("nan"))
    assert not gate.engaged and "nan" in gate.reason
    gate.on_gap(0.4, 0.01)
    gate.on_feed(0.4)
    assert gate.engage(0.4)
    assert not gate.allows(1.0) and gate.reason == "stopped: no physical joint states for 0.6 s"
    gate.on_feed(1.0)
    assert gate.engage(1.0)
    assert not gate.allows(1.45) and gate.reason == "stopped: no gap reading for 1.0 s"
    gate.on_gap(1.5, 0.01)
    gate.on_feed(1.5)
    assert gate.engage(1.5)
    gate.release()
    assert not gate.allows(1.5) and gate.reason == "released by the operator"


def test_joint_rows_show_value_goal_and_limits():
    assert bar(0.0, 0.4, -1.0, 1.0, 11) == "[-----O-+---]"
    assert bar(-2.0, 2.0, -1.0, 1.0, 5) == "[O---+]"  # drawn at the limits
    assert bar(0.3, 0.3, -np.inf, np.inf, 9) == "[no limits]"
    row = joint_row(">", "neck_yaw", 0.25, 1.2, -1.2, 1.2, 10, 9)
    assert row == "> neck_yaw     +0.250   +1.200   -1.20 [-----O--+]  +1.20"
