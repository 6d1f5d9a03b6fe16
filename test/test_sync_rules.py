"""What twin_sync does to each physical sample, and the physical robot's profiles (no ROS)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.robots import write_featured_humanoid, write_other_humanoid

from digital_twin_gz.emulator import (
    MeasurementPerturbation,
    Motion,
    PhysicalRobot,
    PhysicsPerturbation,
    Profile,
    ProfileError,
    apply_physics,
    command_refusal,
    load_profile,
)
from digital_twin_gz.gazebo import GazeboControl, SimControlError
from digital_twin_gz.robot import BodyParts, load_description, load_roles
from digital_twin_gz.sim import Simulator
from digital_twin_gz.teleop import joint_speeds
from digital_twin_gz.twin import JointMap, JointMapError, ResyncWatch, SampleError, SampleGate, StaleWatch


def test_joint_map_renames_ignores_and_names_the_file(description, tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("joints:\n  LeftKnee: l_knee_pitch\nignore: [finger_1]\n")
    joint_map = JointMap.load(description, path)
    used, indices = joint_map.order(["finger_1", "LeftKnee", "r_knee_pitch"])
    assert used.tolist() == [1, 2]
    assert indices.tolist() == [description.index("l_knee_pitch"), description.index("r_knee_pitch")]
    with pytest.raises(SampleError, match="unknown joints \\['Toe'\\]"):
        joint_map.order(["Toe"])
    path.write_text("joints:\n  LeftKnee: no_such_joint\n")
    with pytest.raises(JointMapError, match=f"{path}.*no_such_joint"):
        JointMap.load(description, path)
    path.write_text("joints: [oops\n")
    with pytest.raises(JointMapError, match=str(path)):
        JointMap.load(description, path)


def test_gate_rejects_bad_samples_with_reasons_and_clamps(description):
    gate = SampleGate(description, JointMap(description))
    names = list(description.joint_names)
    q = description.default_positions
    command = gate.accept(1.0, names, q, np.zeros(len(q)), np.ones(len(q)))
    assert np.allclose(command.positions, q) and command.clamped == ()
    assert np.allclose(command.efforts, 1.0)
    cases = [
        (1.0, names, q, "out_of_order"),
        (0.5, names, q, "out_of_order"),
        (2.0, names, np.where(np.arange(len(q)) == 3, np.nan, q), "not_finite"),
        (2.0, names + ["tail_joint"], np.append(q, 0.0), "unknown_joint"),
        (2.0, names, q[:-1], "length_mismatch"),
        (float("nan"), names, q, "bad_stamp"),
    ]
    for stamp, n, values, reason in cases:
        with pytest.raises(SampleError) as err:
            gate.accept(stamp, n, values)
        assert err.value.reason == reason
    assert gate.rejected == {"out_of_order": 2, "not_finite": 1, "unknown_joint": 1, "length_mismatch": 1,
                             "bad_stamp": 1}
    knee = description.index("l_knee_pitch")
    past = q.copy()
    past[knee] = description.upper[knee] + 1.0
    command = gate.accept(2.0, names, past, np.full(len(q), 100.0))
    assert command.positions[knee] == description.upper[knee]
    assert command.clamped == ("l_knee_pitch",)
    assert command.velocities[knee] == 0.0
    assert np.all(np.abs(command.velocities) <= description.velocity_limit)
    assert gate.accepted == 2 and gate.last_stamp == 2.0
    partial = gate.accept(3.0, ["l_knee_pitch"], [0.3])
    assert partial.joint_index.tolist() == [knee] and partial.velocities is None


def test_a_jump_of_the_physical_clock_starts_a_session_a_late_sample_is_rejected(description):
    gate = SampleGate(description, JointMap(description), clock_jump=2.0)
    names, q = list(description.joint_names), description.default_positions
    assert not gate.accept(500.0, names, q).new_session and gate.sessions == 1
    with pytest.raises(SampleError, match="not after"):
        gate.accept(498.5, names, q)  # 1.5 s back: late, not a restart
    rebooted = gate.accept(0.01, names, q)
    assert rebooted.new_session and gate.jumps == [(500.0, 0.01)] and gate.sessions == 2
    assert not gate.accept(0.012, names, q).new_session
    with pytest.raises(SampleError):
        gate.accept(0.012, names, q)
    assert gate.accept(1.7e9, names, q).new_session  # the clock set to the epoch
    assert not gate.accept(1.7e9 + 1.9, names, q).new_session  # a 1.9 s hole: the same session
    assert gate.sessions == 3 and gate.rejected == {"out_of_order": 2}
    with pytest.raises(SampleError):  # without a clock_jump every step back is out of order
        SampleGate(description, JointMap(description), last_stamp=500.0).accept(0.01, names, q)


def test_stale_watch():
    watch = StaleWatch(0.5)
    assert not watch.stale(10.0) and watch.age(10.0) is None
    watch.feed(10.0)
    assert not watch.stale(10.4) and watch.stale(10.6)
    with pytest.raises(ValueError):
        StaleWatch(0.0)


def test_a_simulator_is_silent_only_while_the_physical_feed_runs():
    """A simulator steps on the commands the physical feed drives: its silence counts from the later
    of its last state and the feed's (re)start, so a new session's first commands may take their
    time (a busy machine) without the simulator being taken for dead."""
    physical, virtual = StaleWatch(0.5), StaleWatch(0.5)
    for t in np.arange(0.0, 2.0, 0.002):
        physical.feed(t)
        virtual.feed(t)
    assert not virtual.silent_while(physical, 2.3)  # both stopped (the robot restarts): neither is silent
    assert physical.stale(2.6) and not virtual.silent_while(physical, 2.6)
    physical.feed(5.0)  # the robot is back; the simulator answers 0.4 s later
    assert physical.since == 5.0 and not virtual.silent_while(physical, 5.39)
    virtual.feed(5.4)
    for t in np.arange(5.0, 6.0, 0.002):
        physical.feed(t)
    assert physical.since == 5.0 and not virtual.silent_while(physical, 5.85)
    assert virtual.silent_while(physical, 6.0)  # the feed ran on; nothing from the simulator for 0.6 s
    assert not StaleWatch(0.5).silent_while(physical, 6.0)  # never heard: not silent (still starting)


def test_profiles_load_and_bad_ones_name_file_and_field(tmp_path):
    assert load_profile("nominal").physics.mass_scale == 1.0
    default = load_profile("default")
    assert default.physics.foot_friction == 0.7 and default.measurement.drop_rate > 0
    with pytest.raises(ProfileError, match="no profile 'marsbot'.*default, lab, nominal"):
        load_profile("marsbot")
    bad = tmp_path / "bad.yaml"
    bad.write_text("physics:\n  mass_scale: -1\n")
    with pytest.raises(ProfileError, match=f"{bad}: physics.mass_scale must be a positive number"):
        load_profile(bad)
    bad.write_text("physics:\n  wheel_slip: 2\n")
    with pytest.raises(ProfileError, match="unknown fields \\['wheel_slip'\\]"):
        load_profile(bad)


def test_physics_perturbation_changes_the_model(description):
    roles = load_roles(description)
    nominal, perturbed = Simulator(description), Simulator(description)
    physics = load_profile("default").physics
    apply_physics(perturbed.model, perturbed.built, physics, BodyParts.of(description, roles))
    torso = perturbed.model.body("torso_link").id
    pelvis = perturbed.model.body("base_link").id
    assert perturbed.model.body_mass[pelvis] == pytest.approx(1.06 * nominal.model.body_mass[pelvis])
    assert perturbed.model.body_mass[torso] == pytest.approx(1.06 * 1.10 * nominal.model.body_mass[torso])
    foot = perturbed.model.body("l_foot_link").id
    foot_geoms = [g for g in perturbed.built.robot_geoms if perturbed.model.geom_bodyid[g] == foot]
    assert foot_geoms and np.all(perturbed.model.geom_friction[foot_geoms, 0] == 0.7)
    dofs = perturbed.built.dof_index
    assert np.allclose(perturbed.model.dof_damping[dofs], nominal.model.dof_damping[dofs] + 2.0)
    gain = perturbed.model.actuator_gainprm[perturbed.built.actuators[0], 0]
    assert 0.7 < gain.mean() < 1.0 and gain.std() > 0


def test_physics_per_body_group(description, tmp_path):
    """Mass scales and joint values per group (legs, arms, torso) reach the links and joints of
    that group only; joint values add to the description's and their sum never goes below zero."""
    roles = load_roles(description)
    parts = BodyParts.of(description, roles)
    assert parts.groups() == ("legs", "arms", "torso")
    assert parts.links["l_foot_link"] == "legs" and parts.links["r_hand_link"] == "arms"
    assert parts.links["base_link"] == parts.links["head_link"] == "torso"
    nominal, perturbed = Simulator(description), Simulator(description)
    physics = PhysicsPerturbation(mass_scale={"legs": 1.2}, joint_damping={"arms": -5.0, "legs": 3.0},
                                  joint_armature={"torso": 0.04})
    apply_physics(perturbed.model, perturbed.built, physics, parts)
    for link, scale in (("l_shin_link", 1.2), ("r_hand_link", 1.0), ("torso_link", 1.0)):
        body = perturbed.model.body(link).id
        assert perturbed.model.body_mass[body] == pytest.approx(scale * nominal.model.body_mass[body]), link
    dofs = perturbed.built.dof_index
    groups = np.array(parts.joints)
    damping, armature = perturbed.model.dof_damping[dofs], perturbed.model.dof_armature[dofs]
    base = nominal.model.dof_damping[dofs]
    assert np.allclose(damping[groups == "legs"], base[groups == "legs"] + 3.0)
    assert np.all(damping[groups == "arms"] == 0.0)  # 1.0 - 5.0, kept at zero
    assert np.allclose(damping[groups == "torso"], base[groups == "torso"])
    assert np.allclose(armature[groups == "torso"], 0.04) and np.all(armature[groups != "torso"] == 0.0)
    # A profile says the same in YAML, and names a group that does not exist.
    path = tmp_path / "groups.yaml"
    path.write_text("physics:\n  mass_scale: {legs: 1.2}\n  joint_damping: {arms: -5.0, legs: 3.0}\n"
                    "  joint_armature: {torso: 0.04}\n")
    assert load_profile(path).physics == physics
    path.write_text("physics:\n  joint_damping: {tail: 1.0}\n")
    with pytest.raises(ProfileError, match="joint_damping: unknown body groups \\['tail'\\]"):
        load_profile(path)


def test_emulated_joint_feed_lags_the_robot_by_its_delay(description):
    """measurement.joint_delay_s: a joint sample holds the joints of that long before its stamp
    (the base pose does not lag); efforts are the mean torque since the sample before."""
    roles = load_roles(description)
    profile = lambda delay: Profile("p", PhysicsPerturbation(), MeasurementPerturbation(joint_delay_s=delay))  # noqa: E731
    robots = {d: PhysicalRobot(description, Simulator(description).world, profile(d), Motion("squat", description,
                                                                                              roles), roles)
              for d in (0.0, 0.006)}
    samples = {d: [] for d in robots}
    for k in range(1, 401):
        for d, robot in robots.items():
            robot.advance((k + 0.5) / 500.0)
            samples[d].append(robot.measure())
    now, late = samples[0.0], samples[0.006]
    for k in range(10, 400):  # 6 ms = 3 samples at 500 Hz
        assert np.allclose(late[k].joint_positions, now[k - 3].joint_positions, atol=1e-12)
        assert np.allclose(late[k].joint_efforts, now[k - 3].joint_efforts, atol=1e-9)
        assert np.allclose(late[k].base_position, now[k].base_position, atol=1e-12)
    with pytest.raises(ProfileError, match="cannot measure its joints after their stamps"):
        PhysicalRobot(description, Simulator(description).world, profile(-0.001), Motion("squat", description, roles),
                      roles)


@pytest.mark.parametrize("profile", ["nominal", "default"])
@pytest.mark.slow
def test_emulated_robot_stays_upright_through_the_tour(description, profile):
    roles = load_roles(description)
    robot = PhysicalRobot(description, Simulator(description).world, load_profile(profile),
                          Motion("tour", description, roles), roles)
    heights, tilts = [], []
    for k in range(1, int(robot.motion.duration / 0.05) + 1):
        robot.advance(k * 0.05)
        state = robot.sim.state()
        x, y, z, w = state.base_orientation
        tilts.append(np.degrees(np.arccos(np.clip(1 - 2 * (x * x + y * y), -1, 1))))
        heights.append(state.base_position[2])
    assert max(tilts) < 5.0
    assert min(heights) > 0.7


def test_commands_take_joints_over_and_hold_them_when_they_stop(description):
    roles = load_roles(description)
    robot = PhysicalRobot(description, Simulator(description).world, load_profile("nominal"),
                          Motion("stand", description, roles), roles)
    elbow = description.index("l_elbow_pitch")
    for k in range(1, 21):  # commands at 20 Hz for 1 s, as a mirror sends them
        robot.command(np.array([elbow]), np.array([-1.2]))
        robot.advance(k * 0.05)
    assert robot.sim.state().joint_positions[elbow] == pytest.approx(-1.2, abs=0.05)
    robot.advance(5.0)  # no command for 4 s: the elbow holds where it was sent, the rest stands
    state = robot.sim.state()
    assert state.joint_positions[elbow] == pytest.approx(-1.2, abs=0.05)
    others = np.arange(len(description.joint_names)) != elbow
    assert np.allclose(state.joint_positions[others], robot.motion.positions(5.0)[others], atol=0.05)


@pytest.mark.parametrize("profile", ["nominal", "default"])
@pytest.mark.parametrize(("which", "joint"), [
    ("ours", "l_shoulder_roll"), ("ours", "r_elbow_pitch"), ("ours", "l_wrist_yaw"),
    ("other", "RShoulderPitch"), ("other", "LWristYaw"),  # its wrist: 0.14 s with a servo run per control period
    ("mimic_joint", "LWristYaw"),  # leading a mimic joint: 0.6 s with a servo that left the follower out
])
def test_commands_that_stop_mid_motion_are_held_within_100_ms(description, tmp_path, profile, which, joint):
    """The mirror sends every commanded joint at 50 Hz, one of them moving at teleop's speed, and
    stops (teleop killed): within 0.1 s of the last command that joint is within 5 mrad of it and
    stays there, gravity and all, and the robot stands still (the controller's soft gains alone
    left our shoulder 0.06 rad under it, still moving a second on). Also on the generated
    humanoid and with a joint that another mimics (JVRC-1's thumb leads five fingers)."""
    if which != "ours":
        urdf, packages = (write_other_humanoid(tmp_path) if which == "other"
                          else write_featured_humanoid(tmp_path, which))
        description = load_description(urdf, packages=packages)
    roles = load_roles(description)
    robot = PhysicalRobot(description, Simulator(description).world, load_profile(profile),
                          Motion("stand", description, roles), roles)
    j, step = description.index(joint), 0.02
    commanded = np.array([description.index(name) for name in description.commanded_joints])
    command, height = robot.sim.state().joint_positions, robot.sim.state().base_position[2]
    start = command[j]
    room_up = description.upper[j] - command[j] > command[j] - description.lower[j]
    speed = joint_speeds(description, 0.25)[j] * (1 if room_up else -1)
    for k in range(1, 16):
        command[j] += speed * step
        robot.command(commanded, command[commanded])
        robot.advance(k * step)
    stopped = robot.sim.time
    assert abs(command[j] - start) > 0.05  # the commands moved it
    errors = []
    while robot.sim.time < stopped + 1.0:
        robot.advance(robot.sim.time + 0.002)
        errors.append((robot.sim.time - stopped, robot.sim.state().joint_positions - command))
    late = [t for t, error in errors if abs(error[j]) > 0.005]
    assert max(late, default=0.0) < 0.1, f"{joint} outside 5 mrad of its last command {max(late):.3f} s after it"
    assert np.abs(errors[-1][1][commanded]).max() < 0.05  # standing as sent
    assert abs(robot.sim.state().base_position[2] - height) < 0.02


def test_a_command_is_obeyed_only_while_fresh():
    assert command_refusal(10.0, 10.05, 0.1) is None
    assert "older than 0.1 s" in command_refusal(10.0, 10.2, 0.1)
    assert "ahead" in command_refusal(10.5, 10.0, 0.1)


def test_gazebo_control_says_what_is_missing():
    control = GazeboControl("twin", "humanoid")
    with pytest.raises(SimControlError, match="python3-gz-transport13"):
        control.set_base_pose(np.zeros(3), np.array([0, 0, 0, 1.0]))
    with pytest.raises(SimControlError, match="gz_transport_vendor"):
        control.pause(True)


def test_a_resync_is_confirmed_by_the_odometry_that_follows_not_by_the_request():
    watch = ResyncWatch(timeout=2.0)
    level = np.array([0.0, 0.0, 0.0, 1.0])
    target = np.array([1.0, 2.0, 0.9])
    watch.requested(target, level, now=0.0)
    assert watch.state == "pending"
    assert not watch.confirms(np.zeros(3), level)  # the odometry still shows the old pose
    assert not watch.expired(1.0)
    assert not watch.confirms(target, np.array([0.0, 0.0, 0.2, 1.0]))  # 0.4 rad off
    assert watch.confirms(target + 0.005, np.array([0.0, 0.0, 0.01, 1.0]))
    assert watch.state == "confirmed" and not watch.expired(5.0)
    watch.requested(target, -level, now=10.0)
    assert not watch.expired(11.9) and watch.expired(12.1) and watch.state == "not confirmed"
    assert not watch.confirms(target, level)  # too late: it stays not confirmed



def test_one_sample_at_a_time_is_the_batch_one_row_at_a_time(description):
    """twin_sync's accept and replay's accept_many are one rule set: the same stream through
    both gives the same commands, clamps and rejections."""
    rng = np.random.default_rng(7)
    names = list(description.joint_names)
    n = len(names)
    stamps = np.cumsum(rng.choice([0.002, -0.004, 0.0], size=200, p=[0.85, 0.1, 0.05])) + 100.0
    stamps[120:] -= 100.0  # the physical robot restarted: its clock back near zero
    stamps[170:] += 1e6  # and then set forwards
    stamps[17] = np.nan
    positions = description.default_positions + rng.normal(0.0, 0.8, size=(200, n))  # some past the limits
    positions[40, 5] = np.inf
    velocities = rng.normal(0.0, 8.0, size=(200, n))
    velocities[60, 2] = np.nan  # that row then carries no velocity targets
    efforts = rng.normal(0.0, 50.0, size=(200, n))
    one, batch = (SampleGate(description, JointMap(description), clock_jump=2.0) for _ in range(2))
    commands = []
    for k in range(200):
        try:
            commands.append((k, one.accept(float(stamps[k]), names, positions[k], velocities[k], efforts[k])))
        except SampleError:
            pass
    many = batch.accept_many(stamps, names, positions, velocities, efforts)
    assert [k for k, _ in commands] == many.rows.tolist()
    assert one.rejected == batch.rejected and one.accepted == batch.accepted == len(many)
    assert set(one.rejected) == {"out_of_order", "bad_stamp", "not_finite"}
    assert one.jumps == batch.jumps and len(one.jumps) == 2 and one.sessions == 3
    assert [k for k, c in commands if c.new_session] == [120, 170]
    for row, (_, command) in enumerate(commands):
        assert np.array_equal(command.positions, many.positions[row])
        moved = tuple(description.joint_names[i] for i in many.joint_index[many.clamped[row]])
        assert command.clamped == moved
        for single, rows, has in ((command.velocities, many.velocities, many.has_velocities),
                                  (command.efforts, many.efforts, many.has_efforts)):
            assert (single is not None) == has[row]
            if single is not None:
                assert np.array_equal(single, rows[row])
    assert any(c.clamped for _, c in commands) and any(c.velocities is None for _, c in commands)


@pytest.mark.parametrize("rate", [500.0, 250.0, 100.0])
def test_the_emulated_robot_measures_at_evenly_spaced_stamps(description, rate):
    """As the node measures (each period's middle, rounded up to the 2 ms controller): a rate whose
    period is whole control periods gives stamps exactly one period apart, every one."""
    roles = load_roles(description)
    robot = PhysicalRobot(description, Simulator(description).world, load_profile("nominal"),
                          Motion("stand", description, roles), roles)
    stamps = []
    for k in range(int(2.5 * rate)):
        robot.advance((k + 0.5) / rate)
        stamps.append(robot.measure().stamp)
    assert np.diff(stamps) == pytest.approx(np.full(len(stamps) - 1, 1.0 / rate), abs=1e-9)
