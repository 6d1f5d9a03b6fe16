"""A robot's twin in a namespace, checked where it is decided: the node graph, the params file rcl
reads, the launch arguments and the Gazebo side (two robots, one world, as Gazebo's own parser reads it).

The live half (robots side by side on one domain) is in test_fleet.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from helpers import REPO
from lxml import etree

from digital_twin_gz.gazebo import bridge, checks
from digital_twin_gz.robot import load_description, load_world, params_file
from digital_twin_gz.run import (
    CONTAINER,
    PACKAGE,
    TwinOptions,
    check_namespace,
    gazebo_setup,
    launch_options,
    system_topics,
    twin_nodes,
    write_params,
)

LAUNCH_ACTIONS = REPO / PACKAGE / "run" / "launch_actions.py"


def test_a_namespace_puts_every_node_of_the_robot_under_it_and_nothing_else_changes():
    plain = twin_nodes(TwinOptions())
    robot = twin_nodes(TwinOptions(namespace="robot_1"))
    assert [s.name for s in robot] == [s.name for s in plain]
    for before, after in zip(plain, robot):
        assert before.namespace == "" and after.namespace == "/robot_1"
        assert after.ros_args()[:3] == ["--ros-args", "-r", "__ns:=/robot_1"]
        assert "__ns" not in " ".join(before.ros_args())  # no namespace: today's command lines
        changed = {k for k in {*before.parameters, *after.parameters}
                   if before.parameters.get(k) != after.parameters.get(k)}
        # The robot's own name and its own report directory; every topic comes from the namespace.
        assert changed <= {"robot_name", "out_dir"}, (after.name, changed)
    monitor = {s.name: s for s in robot}["gap_monitor"]
    assert monitor.parameters["out_dir"] == str(Path("gap_report") / "robot_1")
    assert monitor.parameters["robot_name"] == {s.name: s for s in robot}["twin_sync"].parameters["robot_name"]


def test_namespaces_are_checked_as_ros_checks_them():
    assert check_namespace("robot_1") == check_namespace("/robot_1") == "/robot_1"
    assert check_namespace("fleet/robot_2") == "/fleet/robot_2"
    assert check_namespace("") == check_namespace("/") == ""
    for bad in ("1robot", "robot 1", "robot_1/", "a//b"):
        with pytest.raises(ValueError, match=f"namespace '{bad}'"):
            check_namespace(bad)
    with pytest.raises(ValueError, match="launch arguments: namespace '2nd'"):
        launch_options("embedded", {"namespace": "2nd"})
    with pytest.raises(ValueError, match="launch argument x: 'left' is not a number"):
        launch_options("gazebo", {"x": "left"})


def test_robots_sharing_out_and_record_keep_their_own_files():
    one, two = (TwinOptions(namespace=f"robot_{k}", out_dir="/tmp/r", record="/tmp/run.mcap") for k in (1, 2))
    assert (one.report_dir, two.report_dir) == (Path("/tmp/r/robot_1"), Path("/tmp/r/robot_2"))
    assert (one.record_file, two.record_file) == ("/tmp/run.robot_1.mcap", "/tmp/run.robot_2.mcap")
    plain = TwinOptions(out_dir="/tmp/r", record="/tmp/run.mcap")
    assert (plain.report_dir, plain.record_file) == (Path("/tmp/r"), "/tmp/run.mcap")
    nested = TwinOptions(namespace="/fleet/a", record="run.mcap")
    assert (nested.robot, nested.record_file) == ("a", "run.fleet.a.mcap")


def test_under_gazebo_a_robots_nodes_on_sim_time_read_its_own_clock():
    options = launch_options("gazebo", {"namespace": "robot_2", "physical_joint_states": "/robot_2/joint_states"})
    assert (options.robot, options.xacro_args) == ("robot_2", ("robot_name:=robot_2",))
    specs = {s.name: s for s in twin_nodes(options)}
    physical = ("physical/joint_states", "/robot_2/joint_states")
    for name in ("gap_monitor", "twin_sync"):
        assert specs[name].parameters["use_sim_time"] is True
        assert specs[name].remappings == (physical, ("/clock", "clock"))
    assert specs["physical_emulator"].remappings == (physical,)  # its own clock: the robot's
    # Without a namespace there is one simulator and its /clock, as before.
    assert all(("/clock", "clock") not in s.remappings for s in twin_nodes(launch_options("gazebo", {})))
    named = launch_options("gazebo", {"namespace": "robot_2", "robot_name": "atlas", "x": "3", "y": "-1.5"})
    assert (named.robot, named.position) == ("atlas", (3.0, -1.5))
    emulator = {s.name: s for s in twin_nodes(named)}["physical_emulator"]
    assert emulator.parameters["position"] == [3.0, -1.5]
    assert "position:=[3.0,-1.5]" in emulator.ros_args()


def test_every_node_the_launch_code_starts_takes_the_robots_namespace():
    nodes = [call for call in ast.walk(ast.parse(LAUNCH_ACTIONS.read_text()))
             if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "Node"]
    assert len(nodes) >= 4
    for call in nodes:
        keywords = {k.arg: ast.unparse(k.value) for k in call.keywords}
        assert keywords.get("namespace") in ("namespace", "spec.namespace or None"), ast.unparse(call)


@pytest.mark.ros
@pytest.mark.parametrize("one_process", [True, False], ids=["one process", "separate processes"])
def test_each_node_of_a_namespaced_robot_reads_its_own_section_of_twin_yaml(one_process, domain, tmp_path):
    """rcl gives a params file section to the node whose fully qualified name it is: in /robot_1 the
    nodes must find their sections under /robot_1/, and the command line still wins over them."""
    import rclpy
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    options = TwinOptions(namespace="robot_1", out_dir=str(tmp_path), rate=200.0, one_process=one_process)
    processes = write_params(twin_nodes(options), one_process, tmp_path / "params.yaml")
    base = yaml.safe_load(params_file().read_text())
    nodes = {CONTAINER: ("embedded_sim", "gap_monitor", "twin_sync")} if one_process else {}
    for spec, params in processes:
        assert params == tmp_path / "params.yaml"
        context = rclpy.Context()
        rclpy.init(args=["node", *spec.ros_args(params)], context=context, domain_id=domain.id)
        try:
            for name in nodes.get(spec.name, (spec.name,)):
                node = Node(name, context=context)
                assert node.get_fully_qualified_name() == f"/robot_1/{name}"
                section = base[name]["ros__parameters"]
                first = next(iter(section))  # a value only twin.yaml's section of this node gives
                kind = Parameter.Type.from_parameter_value(section[first])  # no default: unset if not given
                assert node.declare_parameter(first, kind).value == section[first], (name, first)
                assert node.declare_parameter("clock_jump", 0.0).value == base["/**"]["ros__parameters"]["clock_jump"]
                if name == "physical_emulator":
                    assert node.declare_parameter("rate", 0.0).value == 200.0  # the command line's
                if name == "gap_monitor":
                    assert node.declare_parameter("out_dir", "").value == str(tmp_path / "robot_1")
                node.destroy_node()
        finally:
            rclpy.shutdown(context=context)


def _model(setup, tmp_path: Path) -> etree._Element:
    """The model Gazebo makes of the setup's robot_description (``ign sdf -p``), named and placed as
    ros_gz_sim's create spawns it (-name, -x, -y, -z)."""
    import subprocess

    urdf = tmp_path / f"{setup.model}.urdf"
    urdf.write_text(setup.robot_description)
    result = subprocess.run([*checks.sdf_command(), "-p", str(urdf)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    model = etree.fromstring(result.stdout.encode()).find("model")
    model.set("name", setup.model)
    pose = etree.Element("pose")
    pose.text = f"{setup.position[0]} {setup.position[1]} {setup.spawn_z} 0 0 0"
    model.insert(0, pose)
    return model


def _plugin_topics(model: etree._Element) -> dict[str, str]:
    """The gz topics the model's systems name explicitly (plugin name -> topic)."""
    return {plugin.get("name"): element.text.strip() for plugin in model.iter("plugin")
            for element in plugin if element.tag in ("topic", "odom_topic")}


@pytest.mark.ros
def test_two_robots_share_one_gazebo_world(other_humanoid, tmp_path):
    """The bundled humanoid as robot_1 and a user's robot (derived systems) as robot_2, spawned
    into one world: each model named after its robot, its systems on gz topics of its own, a bridge
    file of its own that `check` passes; and the world holding both, as Gazebo's own parser reads it."""
    urdf, packages = other_humanoid
    package_text = " ".join(f"{k}={v}" for k, v in packages.items())
    setups = [gazebo_setup(launch_options("gazebo", {"namespace": "robot_1", "out_dir": str(tmp_path), "y": "1.5"})),
              gazebo_setup(launch_options("gazebo", {"namespace": "robot_2", "out_dir": str(tmp_path), "y": "-1.5",
                                                     "urdf": str(urdf), "packages": package_text}))]
    world = load_world()
    bridged: list[dict[str, str]] = []
    for setup, out in zip(setups, ("robot_1", "robot_2")):
        assert (setup.model, setup.namespace, setup.world_name) == (out, f"/{out}", world.name)
        assert setup.bridge_file == tmp_path / out / "bridge.yaml"
        entries = bridge.load_bridge(setup.bridge_file)
        assert [f for f in checks.check_bridge(setup.bridge_file, setup.model, world.name) if f.level != "note"] == []
        # The ROS side stays the contract, relative: the bridge node in /robot_k speaks /robot_k/virtual/...
        assert {e.ros_topic for e in entries} == {"clock", "virtual/joint_states", "virtual/odom",
                                                   "virtual/joint_trajectory"}
        bridged.append({e.ros_type: e.gz_topic for e in entries})
    models = [_model(setup, tmp_path) for setup in setups]
    # robot_1's systems name its topics (the bundled xacro, robot_name:=robot_1); robot_2's derived
    # systems name none, so gz-sim's defaults follow the name it is spawned under.
    assert set(_plugin_topics(models[0]).values()) == {"/model/robot_1/odometry", "/model/robot_1/joint_trajectory"}
    assert _plugin_topics(models[1]) == {}
    for setup, topics in zip(setups, bridged):
        description = load_description(None if setup.model == "robot_1" else urdf,
                                       xacro_args={"robot_name": setup.model}, packages=packages)
        expected = system_topics(description, setup.model, world.name)
        assert {kind: topics[kind] for kind in expected} == expected
    assert not {*bridged[0].values()} & {*bridged[1].values()} - {"/clock"}  # only the world's clock is shared
    shared = etree.parse(str(world.source))
    for model in models:
        shared.getroot().find("world").append(model)
    path = tmp_path / "two_robots.sdf"
    shared.write(str(path))
    assert checks.sdf_check(path) == []
    names = [m.get("name") for m in etree.parse(str(path)).getroot().iter("model")]
    assert names == ["ground_plane", "robot_1", "robot_2"]
