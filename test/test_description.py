"""The robot model every part of the project reads: the bundled humanoid and a user's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from digital_twin_gz.gazebo.checks import sdf_command
from digital_twin_gz.robot import (
    JSP_PLUGIN,
    JTC_PLUGIN,
    ODOM_PLUGIN,
    DescriptionError,
    load_description,
    parse_description,
    zero_pose_frames,
)
from digital_twin_gz.robot.gains import explicit_damping_eigenvalue


@pytest.fixture(scope="module")
def humanoid():
    return load_description()


def test_bundled_humanoid_is_full_size(humanoid):
    assert humanoid.name == "humanoid"
    assert humanoid.root_link == "base_link"
    assert 26 <= len(humanoid.joint_names) <= 30
    assert 40.0 <= humanoid.total_mass <= 70.0
    for side in ("l", "r"):
        legs = [n for n in humanoid.joint_names if n.startswith(f"{side}_") and
                any(k in n for k in ("hip", "knee", "ankle"))]
        arms = [n for n in humanoid.joint_names if n.startswith(f"{side}_") and
                any(k in n for k in ("shoulder", "elbow", "wrist"))]
        assert len(legs) == 6 and len(arms) == 5
    assert len([n for n in humanoid.joint_names if n.startswith("waist")]) in (2, 3)
    assert len([n for n in humanoid.joint_names if n.startswith("neck")]) == 2


def test_height_from_sole_to_crown(humanoid):
    frames = zero_pose_frames(humanoid)
    sole = frames["l_sole_link"][0][2]
    crown = frames["head_link"][0][2] + 0.12 + 0.10  # head sphere centre offset + radius
    assert 1.4 <= crown - sole <= 1.7


def test_limits_and_gains_are_arrays_in_joint_order(humanoid):
    n = len(humanoid.joint_names)
    for array in (humanoid.lower, humanoid.upper, humanoid.effort_limit, humanoid.velocity_limit,
                  humanoid.gains.position_p_gain, humanoid.default_positions):
        assert array.shape == (n,)
    assert np.all(humanoid.lower < humanoid.upper)
    assert np.all(humanoid.gains.position_p_gain > 0)
    knee = humanoid.index("l_knee_pitch")
    assert humanoid.default_positions[knee] == pytest.approx(0.5)
    assert humanoid.gains.position_cmd_max[knee] == humanoid.effort_limit[knee]
    assert np.all((humanoid.default_positions >= humanoid.lower) & (humanoid.default_positions <= humanoid.upper))


def test_fixed_frames_exist(humanoid):
    for frame in ("imu_link", "head_camera_link", "l_hand_link", "r_hand_link", "l_sole_link", "r_sole_link"):
        assert frame in humanoid.links


def test_contract_systems_declared(humanoid):
    assert {s.name for s in humanoid.systems} >= {JSP_PLUGIN, ODOM_PLUGIN, JTC_PLUGIN}
    odom = humanoid.system(ODOM_PLUGIN)
    assert odom.param("dimensions") == "3"
    assert odom.param("robot_base_frame") == humanoid.root_link
    assert humanoid.system(JTC_PLUGIN).params["joint_name"] == list(humanoid.joint_names)


def test_xacro_arguments_reach_the_model():
    custom = load_description(xacro_args={"robot_name": "atlas", "leg_kp": "555"})
    jtc = custom.system(JTC_PLUGIN)
    assert jtc.param("topic") == "/model/atlas/joint_trajectory"
    assert custom.gains.position_p_gain[custom.index("l_knee_pitch")] == 555.0


def test_user_urdf_gets_contract_systems_with_derived_gains(other_humanoid):
    urdf, packages = other_humanoid
    robot = load_description(urdf, packages=packages)
    assert robot.root_link == "Pelvis"
    assert "LKneePitch" in robot.joint_names
    assert {s.name for s in robot.systems} >= {JSP_PLUGIN, ODOM_PLUGIN, JTC_PLUGIN}
    assert any("declares no" in note for note in robot.notes)
    kp, kv = robot.gains.position_p_gain, robot.gains.velocity_p_gain
    assert np.all(kp > 0) and np.all(kv > 0) and not np.any(robot.gains.position_d_gain)
    # Heavier subtrees get stiffer, better-damped joints than the wrists.
    assert kv[robot.index("LHipPitch")] > 10 * kv[robot.index("LWristYaw")]
    assert np.all(np.abs(robot.gains.position_cmd_max - robot.effort_limit) < 1e-9)
    assert robot.published_joints == tuple(j for j in robot.model_joints if j in robot.joint_names)


def test_damping_stays_stable_applied_explicitly(humanoid, other_humanoid):
    """gz-sim applies the damping explicitly, stable while dt * eig((M + dt B)^-1 K_v) < 2 (the robot
    in the air): the humanoid's gains, and those derived for a user's robot (to a quarter of it)."""
    urdf, packages = other_humanoid
    robot = load_description(urdf, packages=packages)
    assert explicit_damping_eigenvalue(humanoid, humanoid.gains.velocity_p_gain, 0.001) < 1.5
    assert explicit_damping_eigenvalue(robot, robot.gains.velocity_p_gain, 0.001) <= 0.5 + 1e-9
    # The same measure flags the gains the humanoid had before (kd 50 on the legs, explicit under gz-sim).
    old = np.array([50.0 if any(k in n for k in ("hip", "knee", "ankle")) else 1.0 for n in humanoid.joint_names])
    assert explicit_damping_eigenvalue(humanoid, old, 0.001) > 2


def test_gain_overrides_from_config(other_humanoid, tmp_path, repo):
    urdf, packages = other_humanoid
    config = tmp_path / "gains.yaml"
    config.write_text((repo / "config" / "derived_gains.yaml").read_text().replace(
        "overrides: {}", "overrides: {LKneePitch: {kp: 321, kv: 7}}"))
    robot = load_description(urdf, packages=packages, gains_config=config)
    assert robot.gains.position_p_gain[robot.index("LKneePitch")] == 321
    assert robot.gains.velocity_p_gain[robot.index("LKneePitch")] == 7


@pytest.mark.parametrize("mutation, message", [
    (("<child link=\"LTibia\"/>", "<child link=\"Nowhere\"/>"), "child link 'Nowhere' does not exist"),
    (("<robot name=\"other\">", "<robot name=\"other\"><link"), r"line \d+: error parsing"),
])
def test_parse_errors_name_file_and_problem(mutation, message, tmp_path):
    from helpers.robots import other_humanoid_urdf

    text = other_humanoid_urdf().replace(*mutation)
    with pytest.raises(DescriptionError, match=message) as err:
        parse_description(text, tmp_path / "broken.urdf")
    assert "broken.urdf" in str(err.value)


def test_xacro_error_names_file(tmp_path):
    broken = tmp_path / "broken.urdf.xacro"
    broken.write_text('<robot name="x" xmlns:xacro="http://www.ros.org/wiki/xacro"><link name="${nope}"/></robot>')
    with pytest.raises(DescriptionError, match="broken.urdf.xacro.*nope"):
        load_description(broken)


def _without(text: str, pattern: str, replacement: str = "") -> str:
    changed = re.sub(pattern, replacement, text, flags=re.DOTALL)
    assert changed != text, pattern
    return changed


def _gazebo_joint_order(urdf: Path) -> list[str]:
    """The joints of the model ``ign sdf -p`` (Gazebo's URDF conversion) makes, in SDF order."""
    result = subprocess.run([*sdf_command(), "-p", str(urdf)], capture_output=True, text=True, timeout=120)
    return [joint.get("name") for joint in etree.fromstring(result.stdout.encode()).iter("joint")]


@pytest.mark.parametrize("variant", ["bundled", "lumped", "unlumped", "massless", "massless_root", "user"])
@pytest.mark.ros
def test_model_joints_are_those_of_gazebos_urdf_conversion(variant, humanoid, other_humanoid, tmp_path):
    text = humanoid.urdf
    if variant == "lumped":  # no preserveFixedJoint: the fixed frames merge into their parents
        text = _without(text, r"<preserveFixedJoint>true</preserveFixedJoint>")
    elif variant == "unlumped":  # one kept as a zero-range revolute joint
        text = _without(text, r'(<gazebo reference="imu_link_joint">\s*)<preserveFixedJoint>true</preserveFixedJoint>',
                        r"\1<disableFixedJointLumping>true</disableFixedJointLumping>")
    elif variant == "massless":  # a thigh without mass: Gazebo drops it and the leg below it
        text = _without(text, r'(<link name="l_thigh_link">\s*)<inertial>.*?</inertial>', r"\1")
    elif variant == "massless_root":  # massless root -> fixed -> body (JVRC-1, NAO): the lumped body has mass
        root = humanoid.root_link
        link = f'<link name="{root}">'
        assert text.count(link) == 1
        text = text.replace(link, '<link name="origin_link"/><joint name="origin_fixed" type="fixed">'
                            f'<parent link="origin_link"/><child link="{root}"/></joint>' + link)
    elif variant == "user":
        urdf, packages = other_humanoid
        text = load_description(urdf, packages=packages).urdf
    path = tmp_path / "robot.urdf"
    path.write_text(text)
    if variant == "massless":
        # Gazebo drops the leg; the twin refuses the description and says why, naming the link.
        gazebo = _gazebo_joint_order(path)
        assert "l_hip_pitch" not in gazebo and "l_ankle_roll" not in gazebo and "r_hip_pitch" in gazebo
        with pytest.raises(DescriptionError, match="l_thigh_link.*drops the link"):
            parse_description(text, path)
        return
    description = parse_description(text, path)
    assert description.model_joints == tuple(_gazebo_joint_order(path))
    assert set(description.joint_names) <= set(description.model_joints)


def test_joint_state_publisher_publishes_exactly_the_actuated_joints(humanoid, tmp_path):
    """What /virtual/joint_states carries under Gazebo: the actuated joints, in the model's order."""
    assert set(humanoid.published_joints) == set(humanoid.joint_names)
    assert humanoid.published_joints == tuple(j for j in humanoid.model_joints if j in humanoid.joint_names)
    # Without its <joint_name> list gz-sim publishes every joint of the model, the preserved fixed ones too.
    robot = etree.fromstring(humanoid.urdf.encode())
    publisher = next(p for p in robot.iter("plugin") if p.get("name") == JSP_PLUGIN)
    for name in publisher.findall("joint_name"):
        publisher.remove(name)
    bare = parse_description(etree.tostring(robot).decode(), tmp_path / "bare.urdf")
    assert bare.published_joints == bare.model_joints
    assert {"imu_link_joint", "l_sole_link_joint", "head_camera_link_joint"} <= set(bare.published_joints)
