"""Calibration against ground truth: the emulated robot recorded with known physics, the
nominal model fitted to it, the injected values recovered and the held-out gap shrunk."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import cli
from helpers.recordings import emulated
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from digital_twin_gz.calibration import (
    Budget,
    Calibration,
    Candidate,
    Evaluator,
    calibrated_urdf,
    gain_xacro_args,
    training_part,
)
from digital_twin_gz.emulator import (
    MeasurementPerturbation,
    PhysicsPerturbation,
    Profile,
    apply_physics,
    foot_links,
    load_profile,
)
from digital_twin_gz.gap import key_links, monitor_settings
from digital_twin_gz.nodes import convert
from digital_twin_gz.nodes.common import STATE_QOS
from digital_twin_gz.recording import read_physical, record_emulated
from digital_twin_gz.robot import load_description, load_roles, load_world, parse_description
from digital_twin_gz.run import TwinOptions, twin_nodes
from digital_twin_gz.sim import Simulator

# The perturbation to recover. Squats: the load on the legs changes with the mass, and the
# feet creep on the floor (soft contact) by an amount that depends on their friction.
TRUTH = PhysicsPerturbation(mass_scale=1.08, foot_friction=0.6)


@pytest.fixture(scope="module")
def truth_recording(tmp_path_factory, description):
    """Two squats (8 s) of a robot 8 % heavier with slippier feet, measured perfectly; the
    messages arrive 4 ms after their stamps, which a lockstep replay never sees."""
    path = tmp_path_factory.mktemp("calibrate") / "truth.mcap"
    profile = Profile("truth", TRUTH, MeasurementPerturbation(latency_s=0.004))
    record_emulated(path, description, load_world(), profile, "squat", 8.0)
    return path


@pytest.mark.slow
@pytest.mark.ros
def test_calibration_recovers_the_injected_physics_and_halves_the_held_out_gap(truth_recording, tmp_path):
    out = tmp_path / "calibration"
    result = cli("calibrate", str(truth_recording), "--params", "mass_scale,foot_friction", "--restarts", "2",
                 "--generations", "10", "--workers", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "calibration.json").read_text())
    fitted = {name: p["value"] for name, p in report["parameters"].items()}
    assert fitted["mass_scale"] == pytest.approx(1.08, rel=0.03)
    assert fitted["foot_friction"] == pytest.approx(0.6, rel=0.10)
    holdout = report["gap"]["holdout"]
    assert holdout["calibrated"]["key_link_mm"] <= 0.5 * holdout["nominal"]["key_link_mm"]
    assert holdout["nominal"]["paired"] > 1000  # the last 30 % of 4000 samples at 500 Hz
    # Confidence: two restarts, each with its own best; the spread is theirs.
    spread = report["parameters"]["mass_scale"]
    assert len(spread["restarts"]) == 2 and spread["spread"] == pytest.approx(np.std(spread["restarts"], ddof=1))
    search = report["search"]
    assert not search["interrupted"] and search["evaluations"] == len(report["history"]["rows"])
    assert search["evaluations"] <= Budget(2, 10, 5).evaluations(2)
    assert "calibrated" in result.stderr and "held-out" in result.stderr

    # The profile is what the twin loads: its physics are the fitted values.
    profile = load_profile(out / "calibrated.yaml")
    assert profile.physics.mass_scale == pytest.approx(fitted["mass_scale"], rel=1e-4)
    assert profile.physics.foot_friction == pytest.approx(fitted["foot_friction"], rel=1e-4)
    assert profile.physics.actuator_gain == 1.0 and profile.measurement == MeasurementPerturbation()

    # replay --virtual-profile uses it: the whole recording's gap shrinks as the held-out part's did.
    gaps = {}
    for name, extra in (("nominal", []), ("calibrated", ["--virtual-profile", str(out / "calibrated.yaml")])):
        result = cli("replay", str(truth_recording), "--out", str(tmp_path / name), *extra)
        assert result.returncode == 0, result.stderr
        replayed = json.loads((tmp_path / name / "report.json").read_text())
        gaps[name] = replayed["mpjpe_mm"]["rms"]
    assert replayed["source"] == "replay of truth.mcap, virtual model calibrated"
    assert gaps["calibrated"] < 0.5 * gaps["nominal"]


@pytest.mark.slow
def test_latency_of_a_recording_stamped_at_measurement_fits_to_zero(tmp_path, description):
    """The emulator's messages arrive 20 ms late, but the replay runs on their stamps: the
    twin need not act late at all, and acting late would widen the gap."""
    path = tmp_path / "late.mcap"
    record_emulated(path, description, load_world(), Profile("late", PhysicsPerturbation(),
                                                             MeasurementPerturbation(latency_s=0.02)), "squat", 4.0)
    recording = read_physical(path, description)
    with Calibration(recording, description, load_world(), ("latency",),
                     budget=Budget(restarts=1, generations=4, population=5, workers=2)) as calibration:
        fit = calibration.run_fit()
    values, best = fit.best
    assert values[0] < 0.002  # quantised to the 1 ms physics step: [0, 1 ms) is one model
    late = [score for _, v, score in fit.history if v[0] > 0.02]
    assert late and min(late) > 3 * best
    assert calibration.report()["search"]["restarts"][0]["evaluations"] == len(fit.history)


@pytest.mark.slow
def test_ctrl_c_keeps_the_best_so_far_and_still_measures_the_gaps(tmp_path, description):
    path = emulated(tmp_path / "squat.mcap", "default", "squat", 4.0)
    recording = read_physical(path, description)
    seen = []

    def status(s) -> None:
        seen.append(s)
        if s.evaluations >= 10:
            raise KeyboardInterrupt  # what Ctrl-C raises in the main process, mid-search

    out = tmp_path / "out"
    with Calibration(recording, description, load_world(), ("mass_scale", "actuator_gain"),
                     budget=Budget(restarts=2, generations=5, population=5, workers=2)) as calibration:
        paths = calibration.run(out, status)
    report = json.loads((out / "calibration.json").read_text())
    assert [p.name for p in paths] == ["calibrated.yaml", "calibrated.urdf", "calibration.json"]
    assert report["search"]["interrupted"] and report["search"]["evaluations"] == 10  # the first population
    assert [r["stopped"] for r in report["search"]["restarts"]] == ["interrupted"]
    best = seen[-1].best
    assert {n: p["value"] for n, p in report["parameters"].items()} == best
    assert report["parameters"]["mass_scale"]["spread"] is None
    assert report["ratios"]["mass_scale/actuator_gain"]["value"] == best["mass_scale"] / best["actuator_gain"]
    assert report["gap"]["holdout"]["calibrated"]["paired"] > 0
    physics = load_profile(out / "calibrated.yaml").physics
    assert physics.mass_scale == pytest.approx(best["mass_scale"], rel=1e-4)
    assert physics.actuator_gain == pytest.approx(best["actuator_gain"], rel=1e-4)


def test_mass_and_actuator_gain_scaled_alike_make_the_same_twin(truth_recording, description):
    """Why the two are reported as a ratio: along mass_scale = 1.08 k, actuator_gain = k
    the twin barely changes, while mass alone off by the same factor is far worse."""
    roles = load_roles(description)
    evaluator = Evaluator(description, load_world(), foot_links(description, roles),
                          tuple(key_links(description, roles)), monitor_settings())
    train, _ = training_part(read_physical(truth_recording, description), 0.3, 0.1)

    def score(mass_scale: float, actuator_gain: float) -> float:
        physics = PhysicsPerturbation(mass_scale=mass_scale, foot_friction=0.6, actuator_gain=actuator_gain)
        return evaluator.gap(train, Candidate(physics)).objective

    truth = score(1.08, 1.0)
    for k in (0.85, 1.15):
        assert score(1.08 * k, k) == pytest.approx(truth, rel=0.05)
        assert score(1.08 * k, 1.0) > 3 * truth


def test_calibrated_urdf_and_xacro_args_carry_the_physics_to_gazebo(description, tmp_path):
    physics = PhysicsPerturbation(mass_scale=1.1, foot_friction=0.5, joint_damping=2.0, joint_friction=0.5,
                                  actuator_gain=0.9)
    world = load_world()
    feet = foot_links(description, load_roles(description))
    expected = Simulator(description, world)
    apply_physics(expected, physics, feet)
    path = tmp_path / "calibrated.urdf"
    path.write_text(calibrated_urdf(description, physics, feet))
    calibrated = load_description(path)
    assert calibrated.total_mass == pytest.approx(1.1 * description.total_mass)
    model, reference = Simulator(calibrated, world).model, expected.model
    for field in ("body_mass", "body_inertia", "dof_damping", "dof_frictionloss", "geom_friction"):
        assert np.allclose(getattr(model, field), getattr(reference, field)), field
    # PID gains scaled as apply_physics scales them; the feed-forward gain has no URDF form.
    assert np.allclose(model.actuator_biasprm, reference.actuator_biasprm)
    assert np.all(model.actuator_gainprm[:, 0] == 1.0) and np.allclose(reference.actuator_gainprm[:, 0], 0.9)
    # The same round trip as parse_description: nothing else changed.
    assert parse_description(calibrated.urdf, path).joint_names == description.joint_names

    args = gain_xacro_args(description, {"leg_kp": "2000"}, 0.9)
    assert args["leg_kp"] == "1800" and args["arm_kv"] == "3.6" and "robot_name" not in args
    scaled = load_description(xacro_args=args)
    assert np.allclose(scaled.gains.position_p_gain, 0.9 * load_description(xacro_args={"leg_kp": "2000"})
                       .gains.position_p_gain)
    assert gain_xacro_args(calibrated, {}, 0.9) == {}  # a plain URDF declares no arguments


@pytest.mark.slow
@pytest.mark.ros
def test_cli_calibrate_says_what_is_wrong(tmp_path, truth_recording):
    result = cli("calibrate", str(truth_recording), "--params", "mass_scale,stiffness")
    assert result.returncode == 2 and "unknown parameters ['stiffness']" in result.stderr
    assert "mass_scale, foot_friction, joint_damping, joint_friction, actuator_gain, latency" in result.stderr
    result = cli("calibrate", str(truth_recording), "--holdout", "1.5")
    assert result.returncode == 2 and "--holdout must be between 0 and 1" in result.stderr
    result = cli("calibrate", str(tmp_path / "missing.mcap"))
    assert result.returncode == 1 and "no such file" in result.stderr
    short = emulated(tmp_path / "short.mcap", "nominal", "stand", 1.5)
    result = cli("calibrate", str(short), "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "each part needs at least 1 s" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.ros
def test_the_live_twin_takes_the_calibrated_physics(tmp_path, description, nodes, probe):
    """embedded_sim with physics_profile stands on heavier legs: its knees bend further under the
    weight (its joint states carry no effort: Gazebo's do not)."""
    profile = tmp_path / "heavy.yaml"
    profile.write_text("physics:\n  mass_scale: 1.5\n")
    specs = {s.name: s for s in twin_nodes(TwinOptions(virtual_profile=str(profile)))}
    assert specs["embedded_sim"].parameters["physics_profile"] == str(profile)
    with pytest.raises(ValueError, match="calibrated URDF"):
        TwinOptions(simulator="gazebo", virtual_profile=str(profile))

    sim = nodes("embedded_sim", {"physics_profile": str(profile), "pacing": "lockstep"})
    received = probe.collect(JointState, "/virtual/joint_states")
    commands = probe.node.create_publisher(JointTrajectory, "/virtual/joint_trajectory", STATE_QOS)
    probe.wait_for(lambda: commands.get_subscription_count() >= 1, timeout=60, what="embedded_sim")
    # Lockstep: each command steps the simulation to its stamp; the default pose held for 1 s.
    for k in range(11):
        commands.publish(convert.trajectory_message(100.0 + 0.1 * k, description.joint_names,
                                                    description.default_positions))
    probe.wait_for(lambda: received and convert.to_seconds(received[-1].header.stamp) >= 101.0 - 1e-6,
                   timeout=30, what="joint states at 1 s")
    assert "virtual model physics from" in sim.output()
    published = received[-1].position[received[-1].name.index("l_knee_pitch")]
    world = load_world()
    standing = {}
    for name, physics in (("nominal", PhysicsPerturbation()), ("heavy", PhysicsPerturbation(mass_scale=1.5))):
        local = Simulator(description, world)
        apply_physics(local, physics, foot_links(description, load_roles(description)))
        local.reset()
        local.settle()
        local.step(1000)
        standing[name] = local.state().joint_positions[description.index("l_knee_pitch")]
    assert standing["heavy"] - standing["nominal"] > 0.003  # rad: 50 % more weight on kp 3000
    assert published == pytest.approx(standing["heavy"], abs=1e-6)
