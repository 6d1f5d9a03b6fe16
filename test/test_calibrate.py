"""Calibration against ground truth: the emulated robot recorded with known physics (profile ``lab``:
physics the parameters express exactly, lab-grade sensors), the nominal model fitted to it, the
truth recovered within its intervals and the held-out gap cut; what the recording cannot tell
apart is reported as such."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
from helpers import BIN, cli
from helpers.recordings import emulated
from lxml import etree
from scipy.special import stdtrit
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from digital_twin_gz.calibration import (
    Calibration,
    CalibrationError,
    Parameter,
    calibrated_urdf,
    gain_xacro_args,
    load_settings,
    parse_params,
)
from digital_twin_gz.calibration.identify import correlation_time, identify
from digital_twin_gz.calibration.signals import PhysicalSignals
from digital_twin_gz.calibration.startstate import StartStates
from digital_twin_gz.emulator import MeasurementPerturbation, PhysicsPerturbation, Profile, apply_physics, load_profile
from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import STATE_QOS
from digital_twin_gz.recording import read_physical, record_emulated
from digital_twin_gz.robot import BodyParts, load_description, load_roles, load_world, parse_description
from digital_twin_gz.robot.groups import sole_links
from digital_twin_gz.run import TwinOptions, twin_nodes
from digital_twin_gz.sim import Simulator

# s of the tour recorded for the ground truth: 14 s fitted (7 segments), 6 s held out.
SECONDS = 20.0


@pytest.fixture(scope="module")
def lab_recording(tmp_path_factory, description):
    return emulated(tmp_path_factory.mktemp("calibrate") / "lab.mcap", "lab", "tour", SECONDS)


@pytest.mark.slow
@pytest.mark.ros
def test_calibration_recovers_the_truth_within_its_intervals_and_cuts_the_held_out_gap(lab_recording, tmp_path):
    out = tmp_path / "calibration"
    result = cli("calibrate", str(lab_recording), "--out", str(out), "--threads", "2")
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "calibration.json").read_text())
    parameters = report["parameters"]
    assert list(parameters) == list(load_settings().params)  # the default set
    for name, p in parameters.items():
        assert p["determined"], name  # a 20 s tour determines every default parameter
        # Within 3 % of the truth, or for the delay the half physics step the twin resolves.
        assert abs(p["value"] - p["truth"]) <= max(0.03 * p["truth"], p["resolution"]), name
        assert abs(p["value"] - p["truth"]) <= p["half_width"], name
    holdout = report["gap"]["holdout"]
    assert report["gap"]["holdout_reduction"] >= 0.6
    assert holdout["nominal"]["paired"] > 2500 and report["identification"]["undetermined"] == []
    assert "held-out" in result.stderr and "not determined" not in result.stderr
    # The profile is what the twin loads: the fitted physics, and the joint delay as the measurement's.
    profile = load_profile(out / "calibrated.yaml")
    assert profile.physics.mass_scale == pytest.approx(parameters["mass_scale"]["value"], rel=1e-6)
    assert profile.measurement.joint_delay_s == pytest.approx(parameters["joint_delay"]["value"], rel=1e-6)
    # replay --virtual-profile uses it: the whole recording's gap shrinks as the held-out part's did.
    gaps = {}
    for name, extra in (("nominal", []), ("calibrated", ["--virtual-profile", str(out / "calibrated.yaml")])):
        result = cli("replay", str(lab_recording), "--out", str(tmp_path / name), *extra)
        assert result.returncode == 0, result.stderr
        gaps[name] = json.loads((tmp_path / name / "report.json").read_text())["mpjpe_mm"]["rms"]
    assert gaps["calibrated"] < 0.5 * gaps["nominal"]
    page = etree.parse(str(out / "calibration.html"), etree.HTMLParser())
    headings = [h.text for h in page.iter("h2")]
    assert {"Parameters", "Correlation of the estimates", "Held-out part: key-link error (MPJPE)"} <= set(headings)
    assert page.xpath("count(//svg)") >= 2 and "inside the interval" in etree.tostring(page, encoding=str)


@pytest.mark.slow
def test_masses_and_actuator_gain_together_are_reported_as_their_ratio(tmp_path, description):
    """Masses and actuator forces scaled alike move the twin alike: fitted together to a robot 8 %
    heavier (and otherwise its model), neither is determined, their ratio is (1.08: the gain's
    truth is 1), and what is written out keeps that ratio at the point of the ridge nearest the
    nominal model (the two scales equal: as far above 1 as below)."""
    path = tmp_path / "heavy.mcap"
    record_emulated(path, description, load_world(), Profile("heavy", PhysicsPerturbation(mass_scale=1.08),
                                                             MeasurementPerturbation()), "tour", 12.0)
    calibration = Calibration(read_physical(path, description), description, load_world(),
                              ("mass_scale", "actuator_gain"), threads=2)
    calibration.run_fit()
    ident = calibration.identify()
    assert not ident.determined.any()
    (combination,) = ident.combinations
    assert set(combination.names) == {"mass_scale", "actuator_gain"}
    assert combination.determined == "mass_scale/actuator_gain"
    assert combination.value == pytest.approx(1.08, rel=0.01)
    mass, gain = ident.values
    assert mass / gain == pytest.approx(combination.value, rel=0.002)
    assert mass - 1.0 == pytest.approx(1.0 - gain, abs=0.005)
    report = calibration.report()
    assert report["parameters"]["mass_scale"]["value"] is None
    assert report["identification"]["undetermined"][0]["determined"] == "mass_scale/actuator_gain"


@pytest.mark.slow
def test_ctrl_c_keeps_the_best_so_far_and_still_writes_the_files(lab_recording, description, tmp_path):
    calibration = Calibration(read_physical(lab_recording, description), description, load_world(),
                              ("mass_scale", "foot_friction"), threads=2)
    seen = []

    def on_progress(progress) -> None:
        seen.append(progress.best_cost)
        raise KeyboardInterrupt  # what Ctrl-C raises in the main process, mid-fit

    out = tmp_path / "out"
    paths = calibration.run(out, on_progress)
    assert [p.name for p in paths] == ["calibrated.yaml", "calibrated.urdf", "calibration.json", "calibration.html"]
    report = json.loads((out / "calibration.json").read_text())
    assert report["fit"]["stopped"] == "interrupted" and report["fit"]["interrupted"]
    assert calibration.result.progress.best_cost == seen[-1]
    assert report["parameters"]["mass_scale"]["fitted"] == calibration.result.values[0]
    assert report["gap"]["holdout"]["calibrated"]["paired"] > 0


@pytest.mark.slow
@pytest.mark.ros
def test_ctrl_c_to_the_cli_saves_the_best_values(lab_recording, tmp_path):
    """The best values so far are on disk after every iteration (what a kill leaves); Ctrl-C then
    ends the fit, saves them and exits 130."""
    out = tmp_path / "out"
    process = subprocess.Popen([str(BIN / "digital-twin-gz"), "calibrate", str(lab_recording), "--out", str(out)],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"})
    deadline = time.monotonic() + 600
    while not (out / "calibration.json").is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    checkpoint = json.loads((out / "calibration.json").read_text())
    assert checkpoint["fit"]["stopped"] == "running" and checkpoint["fit"]["iterations"] >= 1
    assert load_profile(out / "calibrated.yaml").physics.mass_scale == checkpoint["parameters"]["mass_scale"]["fitted"]
    process.send_signal(signal.SIGINT)
    _, output = process.communicate(timeout=600)
    assert process.returncode == 130, output
    assert "interrupted" in output
    assert json.loads((out / "calibration.json").read_text())["fit"]["interrupted"]


def test_start_states_from_the_stance_foot_are_within_a_fraction_of_a_millimetre(tmp_path, description):
    """The base state a segment starts from, estimated from noisy mocap through the feet, against
    the true state (the same robot recorded with perfect sensors)."""
    roles = load_roles(description)
    physics = PhysicsPerturbation(mass_scale=1.05)
    states = {}
    for name, measurement in (("true", MeasurementPerturbation()),
                              ("noisy", MeasurementPerturbation(mocap_noise_position_m=0.002,
                                                                mocap_noise_orientation_rad=0.003))):
        path = tmp_path / f"{name}.mcap"
        record_emulated(path, description, load_world(), Profile(name, physics, measurement), "tour", 6.0)
        signals = PhysicalSignals.of(read_physical(path, description), description)
        states[name] = StartStates(signals, signals.smoothed(0.03), description, sole_links(description, roles))
    errors = []
    for t in np.arange(0.5, 5.5, 0.25):
        true, noisy = states["true"].at(t, 0.0), states["noisy"].at(t, 0.0)
        true_pose = states["true"].signals.base_poses_at(np.array([t]))
        errors.append([np.linalg.norm(noisy[0] - true[0]), np.linalg.norm(true[0] - true_pose[0][0]),
                       np.linalg.norm(noisy[2] - true[2])])
    noisy_position, fit_position, velocity = np.sqrt(np.mean(np.square(errors), axis=0))
    assert noisy_position < 0.0005  # from mocap noise of 2 mm
    assert fit_position < 0.0001 and velocity < 0.005


def test_correlation_time_of_white_and_of_correlated_residuals():
    rng = np.random.default_rng(0)
    white = rng.standard_normal((8, 2000, 3))
    assert correlation_time(white.ravel(), 8, 2000) == pytest.approx(1.0, abs=0.2)
    correlated = white.copy()
    for k in range(1, 2000):  # AR(1) with 0.9: integrated time (1 + 0.9) / (1 - 0.9) = 19
        correlated[:, k] = 0.9 * correlated[:, k - 1] + np.sqrt(1 - 0.81) * white[:, k]
    assert correlation_time(correlated.ravel(), 8, 2000) == pytest.approx(19.0, rel=0.2)


def test_intervals_cover_the_truth_of_a_linear_model_at_their_confidence():
    """On a problem where Gauss-Newton is exact (linear, white Gaussian noise), the 95 % intervals
    hold the truth in about 95 % of the draws, and a column that is a multiple of another is
    reported as undetermined together with its partner."""
    rng = np.random.default_rng(1)
    parameters = [Parameter(f"p{k}", "joint_damping", None, -10, 10, 0.0, 1.0, "", "") for k in range(3)]
    design = rng.standard_normal((400, 3))
    truth = np.array([0.5, -1.0, 2.0])
    covered = 0
    for _ in range(200):
        residual_at_truth = 0.3 * rng.standard_normal(400)
        fitted = truth + np.linalg.lstsq(design, residual_at_truth, rcond=None)[0]
        residual = design @ (fitted - truth) - residual_at_truth
        ident = identify(parameters, fitted, design, residual, 1, 400, 0.95, 0.5)
        covered += int(abs(fitted[0] - truth[0]) <= ident.half_widths[0])
    assert 0.9 * 200 <= covered <= 0.99 * 200
    ridge = np.column_stack([design[:, 0], 2.0 * design[:, 0], design[:, 2]])
    ident = identify(parameters, np.zeros(3), ridge, 0.3 * rng.standard_normal(400), 1, 400, 0.95, 0.5)
    assert ident.determined.tolist() == [False, False, True]
    (combination,) = ident.combinations
    assert combination.names == ("p0", "p1") and combination.determined == "p0 + 2 p1"
    assert stdtrit(397, 0.975) == pytest.approx(1.966, abs=1e-3)


def test_parameters_are_checked_and_named_per_group(description):
    catalogue = load_settings().catalogue
    assert parse_params("mass_scale.legs, joint_damping.arms,joint_delay", catalogue) == (
        "mass_scale.legs", "joint_damping.arms", "joint_delay")
    with pytest.raises(CalibrationError, match="unknown parameters \\['stiffness', 'foot_friction.legs'\\]"):
        parse_params("stiffness,foot_friction.legs", catalogue)
    with pytest.raises(CalibrationError, match="joint_damping \\(the whole robot\\) and joint_damping.GROUP"):
        parse_params("joint_damping,joint_damping.legs", catalogue)
    with pytest.raises(CalibrationError, match="no parameters given"):
        parse_params(" , ", catalogue)


def test_calibrated_urdf_and_xacro_args_carry_the_physics_to_gazebo(description, tmp_path):
    physics = PhysicsPerturbation(mass_scale={"legs": 1.1, "arms": 0.9}, foot_friction=0.5,
                                  joint_damping={"legs": 2.0}, joint_friction=0.5, actuator_gain=0.9)
    world, roles = load_world(), load_roles(description)
    parts = BodyParts.of(description, roles)
    expected = Simulator(description, world)
    apply_physics(expected.model, expected.built, physics, parts)
    path = tmp_path / "calibrated.urdf"
    path.write_text(calibrated_urdf(description, physics, parts))
    calibrated = load_description(path)
    model, reference = Simulator(calibrated, world).model, expected.model
    for field in ("body_mass", "body_inertia", "dof_damping", "dof_frictionloss", "geom_friction"):
        assert np.allclose(getattr(model, field), getattr(reference, field)), field
    # PID gains scaled as apply_physics scales them; the feed-forward gain has no URDF form.
    assert np.allclose(model.actuator_biasprm, reference.actuator_biasprm)
    assert np.all(model.actuator_gainprm[:, 0] == 1.0) and np.allclose(reference.actuator_gainprm[:, 0], 0.9)
    assert parse_description(calibrated.urdf, path).joint_names == description.joint_names

    args = gain_xacro_args(description, {"leg_kp": "2000"}, 0.9)
    assert args["leg_kp"] == "1800" and args["arm_kv"] == "3.6" and "robot_name" not in args
    scaled = load_description(xacro_args=args)
    assert np.allclose(scaled.gains.position_p_gain, 0.9 * load_description(xacro_args={"leg_kp": "2000"})
                       .gains.position_p_gain)
    assert gain_xacro_args(calibrated, {}, 0.9) == {}  # a plain URDF declares no arguments


@pytest.mark.ros
def test_cli_calibrate_says_what_is_wrong(tmp_path, lab_recording):
    result = cli("calibrate", str(lab_recording), "--params", "mass_scale,stiffness")
    assert result.returncode == 2 and "unknown parameters ['stiffness']" in result.stderr
    assert "joint_armature" in result.stderr and "NAME.GROUP" not in result.stderr
    result = cli("calibrate", str(lab_recording), "--holdout", "1.5")
    assert result.returncode == 2 and "--holdout must be between 0 and 1" in result.stderr
    result = cli("calibrate", str(tmp_path / "missing.mcap"))
    assert result.returncode == 1 and "no such file" in result.stderr
    short = emulated(tmp_path / "short.mcap", "nominal", "stand", 1.5)
    result = cli("calibrate", str(short), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "each part needs at least 1 s" in result.stderr
    assert not (tmp_path / "out").exists()
    roles = tmp_path / "roles.yaml"
    roles.write_text("{}\n")
    nameless = tmp_path / "nameless.urdf"
    nameless.write_text(load_description().urdf.replace("l_hip", "a_hip").replace("r_hip", "b_hip")
                        .replace("l_knee", "a_knee").replace("r_knee", "b_knee").replace("l_ankle", "a_ankle")
                        .replace("r_ankle", "b_ankle"))
    result = cli("calibrate", str(lab_recording), "--params", "mass_scale.legs", "--urdf", str(nameless),
                 "--joint-map", str(_joint_map(tmp_path)))
    assert result.returncode == 1 and "mass_scale.legs: 'legs' is not a body group of this robot" in result.stderr


def _joint_map(tmp_path):
    path = tmp_path / "map.yaml"
    renames = {f"{side}_{part}": f"{new}_{part}" for side, new in (("l", "a"), ("r", "b"))
               for part in ("hip_yaw", "hip_roll", "hip_pitch", "knee_pitch", "ankle_pitch", "ankle_roll")}
    path.write_text("joints:\n" + "".join(f"  {k}: {v}\n" for k, v in renames.items()))
    return path


@pytest.mark.ros
def test_the_live_twin_takes_the_calibrated_physics(tmp_path, description, nodes, probe):
    """embedded_sim with physics_profile stands on heavier legs: its knees bend further under the
    weight (its joint states carry no effort: Gazebo's do not)."""
    profile = tmp_path / "heavy.yaml"
    profile.write_text("physics:\n  mass_scale: {legs: 1.5, torso: 1.5}\n")
    specs = {s.name: s for s in twin_nodes(TwinOptions(virtual_profile=str(profile)))}
    assert specs["embedded_sim"].parameters["physics_profile"] == str(profile)
    with pytest.raises(ValueError, match="calibrated URDF"):
        TwinOptions(simulator="gazebo", virtual_profile=str(profile))

    sim = nodes("embedded_sim", {"physics_profile": str(profile), "pacing": "lockstep"})
    received = probe.collect(JointState, "/virtual/joint_states")
    commands = probe.node.create_publisher(JointTrajectory, "/virtual/joint_trajectory", STATE_QOS)
    probe.wait_for(lambda: commands.get_subscription_count() >= 1 and probe.hears("/virtual/joint_states"),
                   timeout=60, what="embedded_sim")
    # Lockstep: each command steps the simulation to its stamp; the default pose held for 1 s.
    for k in range(11):
        commands.publish(convert.trajectory_message(100.0 + 0.1 * k, description.joint_names,
                                                    description.default_positions))
    probe.wait_for(lambda: received and convert.to_seconds(received[-1].header.stamp) >= 101.0 - 1e-6,
                   timeout=30, what="joint states at 1 s")
    assert "virtual model physics from" in sim.output()
    published = received[-1].position[received[-1].name.index("l_knee_pitch")]
    world, parts = load_world(), BodyParts.of(description, load_roles(description))
    standing = {}
    for name, physics in (("nominal", PhysicsPerturbation()), ("heavy", load_profile(profile).physics)):
        local = Simulator(description, world)
        apply_physics(local.model, local.built, physics, parts)
        local.reset()
        local.settle()
        local.step(1000)
        standing[name] = local.state().joint_positions[description.index("l_knee_pitch")]
    assert standing["heavy"] - standing["nominal"] > 0.003  # rad: 50 % more weight on kp 3000
    assert published == pytest.approx(standing["heavy"], abs=1e-6)


@pytest.mark.ros
def test_the_live_twin_acts_on_the_calibrated_joint_delay(tmp_path, description, nodes, probe):
    """A calibrated joint delay reaches twin_sync and gap_monitor (demo and launch files through the
    graph): twin_sync forwards each physical sample stamped when it was measured."""
    profile = tmp_path / "calibrated.yaml"
    profile.write_text("physics: {}\nmeasurement:\n  joint_delay_s: 0.004\n")
    specs = {s.name: s for s in twin_nodes(TwinOptions(virtual_profile=str(profile)))}
    assert specs["twin_sync"].parameters["joint_delay"] == specs["gap_monitor"].parameters["joint_delay"] == 0.004
    assert "joint_delay" not in twin_nodes(TwinOptions())[1].parameters

    nodes("twin_sync", {"resync_on_start": False, "joint_delay": 0.004})
    received = probe.collect(JointTrajectory, "/virtual/joint_trajectory")
    states = probe.node.create_publisher(JointState, "/physical/joint_states", STATE_QOS)
    probe.wait_for(lambda: states.get_subscription_count() >= 1 and probe.hears("/virtual/joint_trajectory"),
                   timeout=60, what="twin_sync")
    for k in range(5):
        states.publish(convert.joint_state(200.0 + 0.002 * k, description.joint_names, description.default_positions,
                                           np.zeros(len(description.joint_names)),
                                           np.zeros(len(description.joint_names))))
    probe.wait_for(lambda: len(received) >= 5, timeout=30, what="five trajectories")
    stamps = [msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec for msg in received[:5]]
    assert stamps == [200_000_000_000 + 2_000_000 * k - 4_000_000 for k in range(5)]
