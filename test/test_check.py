"""`digital-twin-gz check` with the real tools: xacro, check_urdf and Gazebo's `ign sdf`."""

from __future__ import annotations

import subprocess

import pytest
from helpers import cli, require_tool
from helpers.robots import other_humanoid_urdf
from lxml import etree

from digital_twin_gz.gazebo import checks
from digital_twin_gz.gazebo.findings import FAILING
from digital_twin_gz.robot import JSP_PLUGIN

# Every test runs Gazebo's own tools (xacro, check_urdf, ign sdf) as processes.
pytestmark = [pytest.mark.ros, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _tools():
    require_tool("check_urdf")
    require_tool("ign")


def errors(findings):
    return [str(f) for f in findings if f.level in FAILING]


def test_bundled_description_world_and_bridge_pass():
    result = cli("check")
    assert result.returncode == 0, result.stderr
    assert "ok: humanoid: 34 links, 27 actuated joints" in result.stderr


def test_bundled_humanoid_survives_sdf_conversion_with_every_link():
    findings, robot = checks.check_description()
    assert errors(findings) == []
    assert {"imu_link", "head_camera_link", "l_sole_link", "r_hand_link"} <= set(robot.links)


def test_second_humanoid_with_package_mesh_passes_with_a_note(other_humanoid):
    urdf, packages = other_humanoid
    (name, share), = packages.items()
    result = cli("check", "--urdf", str(urdf), "--package", f"{name}={share}")
    assert result.returncode == 0, result.stderr
    assert "note:" in result.stderr and "declares no" in result.stderr
    assert "ok: other:" in result.stderr


CHEST_INERTIAL = '<inertial><origin xyz="0 0 0.2"/><mass value="12.0"/>'


def without_chest_inertial(text: str) -> str:
    start = text.index(CHEST_INERTIAL)
    return text[:start] + text[text.index("</inertial>", start) + len("</inertial>"):]


def replacing(old: str, new: str):
    def edit(text: str) -> str:
        assert old in text
        return text.replace(old, new, 1)
    return edit


@pytest.mark.parametrize("edit, message", [
    (without_chest_inertial, "link 'Chest' has no mass (no <inertial> with a mass) but the revolute joint "
                             "'TorsoYaw'"),
    (replacing('<child link="LTibia"/>', '<child link="Nowhere"/>'), "child link 'Nowhere' does not exist"),
    (replacing('<limit lower="0.0" upper="2.2" effort="220" velocity="6"/>', ""), "revolute joint needs <limit"),
    (replacing("meshes/head.stl", "meshes/missing.stl"),
     "mesh package://other_robot/meshes/missing.stl does not exist"),
])
def test_broken_description_fails_with_message(other_humanoid, edit, message):
    urdf, packages = other_humanoid
    urdf.write_text(edit(other_humanoid_urdf()))
    (name, share), = packages.items()
    result = cli("check", "--urdf", str(urdf), "--package", f"{name}={share}")
    assert result.returncode == 1
    assert message in result.stderr
    assert str(urdf) in result.stderr


def test_link_without_inertial_on_a_moving_joint_is_what_gazebo_drops(other_humanoid, tmp_path):
    """What the refusal says is what sdformat does: it drops the link and everything below it."""
    urdf, packages = other_humanoid
    urdf.write_text(without_chest_inertial(other_humanoid_urdf()))
    findings, description = checks.check_description(urdf, packages)
    assert description is None
    assert any("Gazebo's URDF->SDF conversion drops the link, the joint and everything below them" in e
               for e in errors(findings))
    converted = tmp_path / "converted.sdf"
    result = subprocess.run(["ign", "sdf", "-p", str(urdf)], capture_output=True, text=True)
    converted.write_text(result.stdout)
    names = {e.get("name") for e in etree.parse(str(converted)).getroot().iter("link")}
    assert "Chest" not in names and "Skull" not in names and "LTibia" in names


def test_repeated_sdformat_errors_are_printed_once_with_a_count(other_humanoid):
    """sdformat reports a link and a joint of the same name for every element that meets them (NAO)."""
    urdf, packages = other_humanoid
    urdf.write_text(other_humanoid_urdf().replace('"LTalus"', '"LAnklePitch"'))
    result = cli("check", "--urdf", str(urdf), *(f"--package={k}={v}" for k, v in packages.items()))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == len(set(lines)) and any(line.endswith("times)") for line in lines)
    assert "\x1b" not in result.stderr


def test_world_with_broken_value_fails(tmp_path, repo):
    world = tmp_path / "broken.sdf"
    world.write_text((repo / "worlds" / "twin.sdf").read_text().replace(
        "<cast_shadows>true</cast_shadows>", "<cast_shadows>sometimes</cast_shadows>"))
    result = cli("check", "--world", str(world))
    assert result.returncode == 1
    assert f"error: {world}: ign sdf -k: Error" in result.stderr


def test_world_with_non_numeric_step_fails(tmp_path, repo):
    world = tmp_path / "step.sdf"
    world.write_text((repo / "worlds" / "twin.sdf").read_text().replace(
        "<max_step_size>0.001</max_step_size>", "<max_step_size>fast</max_step_size>"))
    findings = checks.check_world(world)
    assert any("max_step_size" in e for e in errors(findings))


def test_world_newer_than_sdformat_is_not_called_valid(tmp_path, repo):
    world = tmp_path / "future.sdf"
    world.write_text((repo / "worlds" / "twin.sdf").read_text().replace('version="1.9"', 'version="1.11"'))
    result = cli("check", "--world", str(world))
    assert result.returncode == 1
    assert "unchecked:" in result.stderr and "SDF 1.11 is newer" in result.stderr and "not checked" in result.stderr
    assert "valid" not in result.stderr.split("not known to be valid")[-1]


def test_bridge_with_unconvertible_type_pair_fails(tmp_path, repo):
    bridge = tmp_path / "bridge.yaml"
    bridge.write_text((repo / "config" / "bridge.yaml").read_text().replace(
        "gz_type_name: gz.msgs.Odometry", "gz_type_name: gz.msgs.Pose"))
    result = cli("check", "--bridge", str(bridge))
    assert result.returncode == 1
    assert "line 16: virtual/odom: ros_gz_bridge cannot convert nav_msgs/msg/Odometry <-> gz.msgs.Pose" \
        in result.stderr


def test_bridge_naming_another_model_fails(tmp_path, repo):
    bridge = tmp_path / "bridge.yaml"
    bridge.write_text((repo / "config" / "bridge.yaml").read_text().replace(
        "/model/humanoid/joint_trajectory", "/model/rover/joint_trajectory"))
    result = cli("check", "--bridge", str(bridge))
    assert result.returncode == 1
    assert "names model 'rover', the robot is 'humanoid'" in result.stderr


def test_bridge_with_bad_direction_and_missing_field(tmp_path, repo):
    bridge = tmp_path / "bridge.yaml"
    bridge.write_text((repo / "config" / "bridge.yaml").read_text().replace("direction: ROS_TO_GZ", "direction: UP"))
    assert any("direction 'UP'" in f.message for f in checks.check_bridge(bridge, "humanoid", "twin"))
    bridge.write_text("- ros_topic_name: /clock\n  gz_topic_name: /clock\n")
    findings = checks.check_bridge(bridge, "humanoid", "twin")
    assert "line 1: entry lacks ros_type_name, gz_type_name" in findings[0].message


UPSTREAM_FORMS = """\
- topic_name: /clock
  ros_type_name: rosgraph_msgs/msg/Clock
  gz_type_name: ignition.msgs.Clock
  direction: GZ_TO_ROS
  lazy: true
- ros_topic_name: /contacts
  ros_type_name: ros_gz_interfaces/msg/Contacts
  gz_type_name: gz.msgs.Contacts
  publisher_queue: 20
  subscriber_queue: 5
- gz_topic_name: /detections
  ros_type_name: vision_msgs/msg/Detection2DArray
  gz_type_name: gz.msgs.AnnotatedAxisAligned2DBox_V
  qos: reliable
"""


def test_bridge_entries_are_read_as_ros_gz_bridge_reads_them(tmp_path):
    bridge = tmp_path / "bridge.yaml"
    bridge.write_text(UPSTREAM_FORMS)
    clock, contacts, detections = checks.bridge.load_bridge(bridge)
    assert (clock.ros_topic, clock.gz_topic, clock.options) == ("/clock", "/clock", (("lazy", True),))
    assert (contacts.ros_topic, contacts.gz_topic) == ("/contacts", "/contacts")
    assert contacts.options == (("publisher_queue", 20), ("subscriber_queue", 5))
    assert (detections.ros_topic, detections.gz_topic, detections.direction) == ("/detections",) * 2 + (
        "BIDIRECTIONAL",)
    # ignition.msgs names, ros_gz_interfaces and vision_msgs convert; a key ros_gz_bridge does not read is named.
    assert [f.message for f in checks.check_bridge(bridge, "humanoid", "twin")] == [
        "line 11: /detections: ros_gz_bridge ignores the key 'qos'"]


@pytest.mark.parametrize("edit, message", [
    (("- ros_topic_name: /contacts", "- ros_topic_name: /contacts\n  topic_name: /c"),
     "line 6: topic_name and ros_topic_name are mutually exclusive"),
    (("lazy: true", "lazy: sometimes"), "line 1: lazy: 'sometimes' is not a boolean"),
    (("publisher_queue: 20", "publisher_queue: -1"), "line 6: publisher_queue: '-1' is not a queue size"),
    (("- gz_topic_name: /detections", "- direction: GZ_TO_ROS"), "line 11: entry names no topic"),
])
def test_bridge_entries_ros_gz_bridge_would_refuse_are_refused(edit, message, tmp_path):
    bridge = tmp_path / "bridge.yaml"
    bridge.write_text(UPSTREAM_FORMS.replace(*edit))
    with pytest.raises(checks.bridge.BridgeError, match=message):
        checks.bridge.load_bridge(bridge)


def test_a_joint_state_publisher_without_joint_names_fails_the_check(tmp_path):
    robot = etree.fromstring(checks.load_description().urdf.encode())
    publisher = next(p for p in robot.iter("plugin") if p.get("name") == JSP_PLUGIN)
    for name in publisher.findall("joint_name"):
        publisher.remove(name)
    urdf = tmp_path / "all_joints.urdf"
    urdf.write_bytes(etree.tostring(robot))
    findings, _ = checks.check_description(urdf)
    problems = [f.message for f in findings if f.level == "error"]
    assert any("would publish joints the twin does not know: imu_link_joint" in p for p in problems), problems
