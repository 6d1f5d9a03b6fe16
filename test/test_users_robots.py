"""Users' humanoids: one generated robot per feature that once broke a command (issue 16).

Each robot is the test humanoid with one change (``helpers.robots.write_featured_humanoid``):
meshes in the formats Gazebo reads, links without <inertial>, a massless root, a mimic joint,
continuous joints without limits, joint names that say nothing. Real parts throughout:
Gazebo's parser in ``check``, MuJoCo, the replay and the demo's ROS processes.
"""

from __future__ import annotations

import json

import mujoco
import numpy as np
import pytest
from helpers import cli, require_tool
from helpers.robots import FEATURES, PACKAGE, other_humanoid_urdf, write_featured_humanoid, write_other_humanoid

from digital_twin_gz.emulator import load_profile
from digital_twin_gz.gap import GapTracker, monitor_settings
from digital_twin_gz.recording import record_emulated
from digital_twin_gz.replay import replay_file
from digital_twin_gz.robot import DescriptionError, load_description, load_roles, load_world
from digital_twin_gz.sim import Simulator
from digital_twin_gz.sim.builder import build_model
from digital_twin_gz.twin import JointMap, SampleGate

HEAD = (0.16, 0.16, 0.18)


def featured(tmp_path, feature):
    urdf, packages = write_featured_humanoid(tmp_path, feature)
    return urdf, packages, [f"--package={name}={path}" for name, path in packages.items()]


def load(tmp_path, feature):
    urdf, packages, _ = featured(tmp_path, feature)
    return load_description(urdf, packages=packages)


def head_mesh_size(model: mujoco.MjModel) -> np.ndarray:
    head = model.body("Skull").id
    geom = next(g for g in range(model.ngeom) if model.geom_bodyid[g] == head and model.geom_dataid[g] >= 0)
    mesh = model.geom_dataid[geom]
    start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
    vertices = model.mesh_vert[start:start + count]
    return vertices.max(axis=0) - vertices.min(axis=0)


@pytest.mark.parametrize("feature", ["ascii_stl", "dae_mesh", "scaled_mesh"])
def test_meshes_in_every_format_gazebo_reads_reach_mujoco_at_their_size(tmp_path, feature):
    model = build_model(load(tmp_path, feature), load_world()).model
    assert np.allclose(head_mesh_size(model), HEAD, atol=1e-6)


@pytest.mark.parametrize("uri", ["model://other_robot/meshes/head.stl", "file://{share}/meshes/head.stl",
                                 "../meshes/head.stl", "{share}/meshes/head.stl"])
def test_mesh_uris_resolve_as_gazebo_resolves_them(tmp_path, uri):
    urdf, packages = write_other_humanoid(tmp_path)
    uri = uri.format(share=packages[PACKAGE])
    urdf.write_text(urdf.read_text().replace(f"package://{PACKAGE}/meshes/head.stl", uri))
    description = load_description(urdf, packages=packages if uri.startswith("model") else {})
    model = build_model(description, load_world()).model
    assert np.allclose(head_mesh_size(model), HEAD, atol=1e-6)


@pytest.mark.parametrize("edit, message", [
    (lambda meshes: (meshes / "head.stl").unlink(), "mesh package://other_robot/meshes/head.stl does not exist"),
    (lambda meshes: (meshes / "head.stl").write_text("solid nothing\nendsolid\n"), "cannot be read"),
])
def test_a_mesh_that_cannot_be_read_names_link_uri_and_path(tmp_path, edit, message):
    urdf, packages = write_other_humanoid(tmp_path)
    edit(packages[PACKAGE] / "meshes")
    with pytest.raises(DescriptionError, match=message) as error:
        build_model(load_description(urdf, packages=packages), load_world())
    assert "link 'Skull'" in str(error.value) and str(packages[PACKAGE] / "meshes" / "head.stl") in str(error.value)


@pytest.fixture(autouse=False)
def tools():
    require_tool("check_urdf")
    require_tool("ign")


@pytest.mark.parametrize("feature", [f for f in FEATURES if f != "massless_moving_child"])
@pytest.mark.ros
def test_check_passes_every_feature_and_says_what_the_commands_use(tmp_path, tools, feature):
    _, _, package = featured(tmp_path, feature)
    result = cli("check", "--urdf", str(tmp_path / PACKAGE / "urdf" / "other.urdf"), *package)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for used in ("joint roles", "key links", "trajectory gains", "embedded model"):
        assert f"uses: {tmp_path}" in result.stderr and used in result.stderr
    assert "it falls" not in result.stderr
    expected = {
        "massless_fixed_child": "lumped into their parents by Gazebo's URDF->SDF conversion, 1 of them without "
                                "<inertial> (camera_frame -> Skull)",
        "massless_root": "1 link(s) on fixed joints are lumped into their parents",
        "mimic_joint": "RWristYaw = -1 LWristYaw +0.1",
        "continuous_joint": "without a effort limit (no <limit effort=>): LWristYaw, RWristYaw",
        "no_key_links": "key links: no left foot, right foot, left hand, right hand, head found",
    }.get(feature)
    if expected:
        assert expected in " ".join(result.stderr.split())


@pytest.mark.ros
def test_a_massless_link_on_a_moving_joint_is_refused_with_the_fix(tmp_path, tools):
    urdf, _, package = featured(tmp_path, "massless_moving_child")
    message = ("link 'LHumerus' has no mass (no <inertial> with a mass) but the revolute joint 'LShoulderRoll'")
    fix = "give 'LHumerus' an <inertial> with a mass and inertia, or make 'LShoulderRoll' fixed"
    for command in (("check",), ("demo", "--duration", "1")):
        result = cli(*command, "--urdf", str(urdf), *package)
        flat = " ".join(result.stderr.split())
        assert result.returncode in (1, 2) and message in flat and fix in flat, result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.ros
def test_line_numbers_are_those_of_the_users_file(tmp_path, tools):
    urdf, packages = write_other_humanoid(tmp_path)
    text = other_humanoid_urdf().replace('<limit lower="-0.4" upper="0.4" effort="60"', '<limit lower="0.4" '
                                         'upper="0.4" effort="60"', 1)
    urdf.write_text(text)
    line = text[:text.index('upper="0.4" effort="60"')].count("\n") + 1
    joint_line = max(k + 1 for k, row in enumerate(text.splitlines()[:line]) if "<joint " in row)
    result = cli("check", "--urdf", str(urdf), f"--package={PACKAGE}={packages[PACKAGE]}")
    assert result.returncode == 1
    assert f"line {joint_line}: joint 'LAnkleRoll': limits [0.4, 0.4] are empty" in result.stderr


def test_a_massless_root_stands(tmp_path):
    description = load(tmp_path, "massless_root")
    assert description.root_link == "base_link" and description.links["base_link"].mass == 0
    sim = Simulator(description, load_world())
    height = sim.state().base_position[2]
    sim.step(2000)
    assert sim.state().base_position[2] > 0.9 * height


def test_a_mimic_joint_follows_in_the_simulator_and_is_not_commanded(tmp_path):
    description = load(tmp_path, "mimic_joint")
    assert description.mimic_joints == ("RWristYaw",)
    right, left = description.index("RWristYaw"), description.index("LWristYaw")
    assert description.gains.position_p_gain[right] == 0 and description.gains.position_p_gain[left] > 0
    sim = Simulator(description, load_world())
    targets = description.default_positions
    targets[left] = 0.5
    sim.hold(np.arange(len(targets)), targets)
    sim.step(1500)
    q = sim.state().joint_positions
    assert q[left] == pytest.approx(0.5, abs=0.02)
    assert q[right] == pytest.approx(-1.0 * q[left] + 0.1, abs=5e-3)  # a soft constraint, under gravity
    gate = SampleGate(description, JointMap(description))
    command = gate.accept(1.0, description.joint_names, q)
    assert right not in command.joint_index.tolist() and left in command.joint_index.tolist()


def test_continuous_joints_without_limits_get_stated_defaults(tmp_path):
    description = load(tmp_path, "continuous_joint")
    wrist = description.joints["LWristYaw"]
    assert wrist.type == "continuous" and not np.isfinite(wrist.effort) and not np.isfinite(wrist.lower)
    notes = " ".join(description.notes)
    assert "Gazebo applies none, derived gains rate them for 100 N m" in notes
    sim = Simulator(description, load_world())
    sim.step(500)
    assert np.isfinite(sim.state().joint_positions).all()


@pytest.fixture
def nameless(tmp_path):
    urdf, packages, package = featured(tmp_path, "no_key_links")
    return urdf, packages, package, load_description(urdf, packages=packages)


@pytest.mark.ros
def test_without_recognisable_names_the_gap_is_base_and_joints(nameless, tmp_path):
    urdf, packages, package, description = nameless
    roles = load_roles(description)
    assert roles.joints == {}
    tracker = GapTracker(description, monitor_settings(), roles)
    assert tracker.meter.key_links == ()
    assert "name the joints in a joint-role file" in tracker.missing and "--key-links" in tracker.missing
    recording = tmp_path / "stand.mcap"
    record_emulated(recording, description, load_world(), load_profile("default"), "stand", 2.0, roles=roles)
    said = []
    run = replay_file(recording, description, load_world(), tmp_path / "replay", roles=roles, on_missing=said.append)
    assert said == [tracker.missing]
    report = run.report
    assert report["samples"]["paired"] > 0 and report["key_link_position_error_mm"] == {}
    assert report["mpjpe_mm"]["rms"] is None and report["base_position_error_m"]["rms"] < 0.02
    # The frame of a massless link, or any link, can be named instead.
    result = cli("replay", str(recording), "--urdf", str(urdf), *package, "--key-links", "j4", "--out",
                 str(tmp_path / "named"))
    assert result.returncode == 2 and "has no link 'j4'" in result.stderr
    link = description.joints["j4"].child
    result = cli("replay", str(recording), "--urdf", str(urdf), *package, "--key-links", link, "--out",
                 str(tmp_path / "named"))
    assert result.returncode == 0, result.stderr
    assert list(json.loads((tmp_path / "named" / "report.json").read_text())["key_link_position_error_mm"]) == [link]


@pytest.mark.slow
@pytest.mark.ros
def test_calibration_without_key_links_fits_the_base(nameless, tmp_path):
    urdf, packages, package, description = nameless
    recording = tmp_path / "stand.mcap"
    record_emulated(recording, description, load_world(), load_profile("default"), "stand", 4.0)
    result = cli("calibrate", str(recording), "--urdf", str(urdf), *package, "--params", "joint_damping",
                 "--max-iterations", "2", "--threads", "2", "--out", str(tmp_path / "cal"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "key links: no left foot" in " ".join((result.stdout + result.stderr).split())
    report = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    assert report["key_links"] == [] and report["fit"]["segments"] >= 1  # its base and joints compared
    assert report["gap"]["holdout"]["calibrated"]["paired"] > 0
    assert report["parameters"]["joint_damping"]["truth"] == 2.0  # the default profile's


@pytest.mark.ros
def test_demo_stands_a_robot_without_roles_and_says_once_what_is_missing(nameless, tmp_path):
    urdf, _, package, _ = nameless
    out = tmp_path / "demo"
    result = cli("demo", "--urdf", str(urdf), *package, "--motion", "stand", "--profile", "nominal",
                 "--duration", "6", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["samples"]["paired"] > 0 and report["key_link_position_error_mm"] == {}
    assert report["base_position_error_m"]["rms"] < 0.02
    log = "".join(path.read_text() for path in (out / "logs").glob("*.log"))
    assert log.count("key links: no left foot") == 1
    assert "Traceback" not in log + result.stdout + result.stderr
    result = cli("demo", "--urdf", str(urdf), *package, "--motion", "squat", "--duration", "2")
    assert result.returncode == 2 and "needs joint roles this robot lacks: left_ankle_pitch" in result.stderr


def test_derived_leg_gains_hold_the_body_above_them(tmp_path):
    from digital_twin_gz.robot.gains import toppling_stiffness

    description = load(tmp_path, "no_key_links")  # derived gains, whatever the names
    kp = description.gains.position_p_gain
    ankle = description.joints["j8"]  # where LAnklePitch was: after TorsoYaw, two head and three hip joints
    assert ankle.child == "LTalus"
    below = set(description.below(ankle.child))
    needed = 2.0 * toppling_stiffness(description, "j8", set(description.links) - below)
    assert needed > 0 and kp[description.index("j8")] >= needed


X, Y, Z, DIAGONAL = (np.array(v, dtype=float) for v in ((1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0.71, 0.71)))


@pytest.mark.parametrize("name, axis, role", [
    ("l_knee_pitch", Y, "left_knee"), ("LKneePitch", Y, "left_knee"), ("R_HIP_P", Y, "right_hip_pitch"),
    ("R_HIP_R", X, "right_hip_roll"), ("WAIST_Y", Z, "waist_yaw"), ("l_ank_roll", X, "left_ankle_roll"),
    ("r_sho_pitch", Y, "right_shoulder_pitch"), ("l_el", X, "left_elbow"), ("head_pan", Z, "neck_yaw"),
    ("head_tilt", Y, "neck_pitch"), ("left_ankle_joint", Y, "left_ankle_pitch"), ("torso_joint", Z, "waist_yaw"),
    ("l_hip_y", Y, "left_hip_pitch"),  # Poppy's letters name its own axes: the axis decides
    ("LHipYawPitch", DIAGONAL, None), ("l_hip_pitch", X, None), ("leg_left_4_joint", Y, None),
])
def test_roles_from_names_and_axes(name, axis, role):
    from digital_twin_gz.robot.roles import infer_role

    assert infer_role(name, axis) == role


def test_a_robot_facing_another_way_keeps_its_roles(tmp_path):
    urdf, packages = write_other_humanoid(tmp_path)
    facing = load_roles(load_description(urdf, packages=packages))
    turned = urdf.read_text().replace('<robot name="other">', '<robot name="other">\n<link name="base"/><joint '
                                      'name="turn" type="fixed"><parent link="base"/><child link="Pelvis"/>'
                                      '<origin rpy="0 0 -1.5708"/></joint>')
    urdf.write_text(turned.replace('<link name="base"/>', '<link name="base"><inertial><mass value="0.1"/>'
                                   '<inertia ixx="1e-4" ixy="0" ixz="0" iyy="1e-4" iyz="0" izz="1e-4"/>'
                                   '</inertial></link>'))
    roles = load_roles(load_description(urdf, packages=packages))
    assert roles.joints == facing.joints
    assert not np.allclose(roles.heading, np.eye(3))
