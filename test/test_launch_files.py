"""The launch files, checked here where neither ``launch`` nor Gazebo exists.

They compile; every package, executable, command and share file they name exists in this
package or belongs to a dependency package.xml declares; the bridge file of the Gazebo
launches is the one ``digital-twin-gz check`` validates, retargeted when the robot or the
world is another; and the embedded launch starts exactly the processes the demo starts.
"""

from __future__ import annotations

import ast
import os
import py_compile
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from helpers import BIN, REPO, children
from lxml import etree

from digital_twin_gz.gazebo import bridge, checks, control
from digital_twin_gz.nodes.common import GAP_TOPICS, PHYSICAL_JOINT_STATES, PHYSICAL_ODOM
from digital_twin_gz.robot import JSP_PLUGIN, load_description, load_world, params_file
from digital_twin_gz.run import (
    CONTAINER,
    LAUNCH_ARGUMENTS,
    LAUNCH_MODES,
    PACKAGE,
    RETARGETED_BRIDGE,
    SIMULATORS,
    GazeboSetupError,
    TwinOptions,
    bridge_file_for,
    gazebo_setup,
    gz_sim_version,
    in_one_process,
    launch_arguments,
    launch_options,
    simulator_of,
    twin_nodes,
)
from digital_twin_gz.sim import Simulator

LAUNCH_FILES = sorted((REPO / "launch").glob("*.launch.py"))
LAUNCH_CODE = [*LAUNCH_FILES, REPO / PACKAGE / "run" / "launch_actions.py"]
LAUNCH_TEST = REPO / "test" / "test_twin_launch.py"
MODES = {"twin_embedded.launch.py": "embedded", "twin_gazebo.launch.py": "gui",
         "twin_headless.launch.py": "headless"}
# What the packages the launch files use provide (ros_gz on Jazzy and Kilted; `gz` is the
# Gazebo command line that ros_gz_sim's own launch file runs).
EXECUTABLES = {"ros_gz_sim": {"create"}, "ros_gz_bridge": {"parameter_bridge"},
               "robot_state_publisher": {"robot_state_publisher"}}
SHARE_FILES = {"ros_gz_sim": {"launch/gz_sim.launch.py"}}
COMMANDS = {"gz": "gz_tools_vendor"}
# Python modules whose ROS package (rosdep key) has another name.
MODULE_PACKAGES = {"yaml": "python3-yaml", "pytest": "python3-pytest", "numpy": "python3-numpy",
                   "lxml": "python3-lxml"}
DATA_SUFFIXES = (".yaml", ".sdf", ".urdf", ".xacro", ".launch.py")


def manifest_depends(*kinds: str) -> set[str]:
    root = etree.parse(str(REPO / "package.xml")).getroot()
    return {e.text.strip() for kind in kinds for e in root.findall(kind)}


def console_scripts() -> set[str]:
    tree = ast.parse((REPO / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                if isinstance(key, ast.Constant) and key.value == "console_scripts":
                    return {ast.literal_eval(e).split("=")[0].strip() for e in value.elts}
    raise AssertionError("setup.py declares no console_scripts")


def literal(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def keyword(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def calls(path: Path) -> list[ast.Call]:
    return [n for n in ast.walk(ast.parse(path.read_text(), str(path))) if isinstance(n, ast.Call)]


def all_options() -> list[TwinOptions]:
    return [TwinOptions(simulator=s, physical=p, gui=g) for s in SIMULATORS for p in ("emulator", "live")
            for g in ((False, True) if s == "embedded" else (False,))]


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_compiles(path, tmp_path):
    py_compile.compile(str(path), cfile=str(tmp_path / "compiled.pyc"), doraise=True)


def test_each_launch_file_is_one_call_to_the_shared_description():
    assert {p.name for p in LAUNCH_FILES} == set(MODES)
    assert set(MODES.values()) == set(LAUNCH_MODES)
    for path in LAUNCH_FILES:
        tree = ast.parse(path.read_text())
        functions = {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}
        assert set(functions) == {"generate_launch_description"}, path.name
        (statement,) = functions["generate_launch_description"].body
        assert isinstance(statement, ast.Return) and isinstance(statement.value, ast.Call), path.name
        assert call_name(statement.value) == "twin_launch_description"
        assert [literal(a) for a in statement.value.args] == [MODES[path.name]], path.name
        imported = {(n.module, a.name) for n in tree.body if isinstance(n, ast.ImportFrom) for a in n.names}
        assert imported == {(f"{PACKAGE}.run.launch_actions", "twin_launch_description")}, path.name


@pytest.mark.parametrize("path", [*LAUNCH_CODE, LAUNCH_TEST], ids=lambda p: p.name)
def test_every_module_imported_is_a_declared_dependency(path):
    declared = manifest_depends("depend", "exec_depend") | (
        manifest_depends("test_depend") if path == LAUNCH_TEST else set())
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    third_party = {m for m in modules if m not in sys.stdlib_module_names and m not in (PACKAGE, "__future__")}
    missing = {m for m in third_party if MODULE_PACKAGES.get(m, m) not in declared}
    assert not missing, f"{path.name} imports {missing}, which package.xml does not declare"


def test_every_package_executable_command_and_share_file_named_exists():
    declared = manifest_depends("depend", "exec_depend")
    scripts = console_scripts()
    checked_files: set[str] = set()
    nodes = 0
    for path in LAUNCH_CODE:
        for call in calls(path):
            name = call_name(call)
            if name == "Node":
                nodes += 1
                package, executable = keyword(call, "package"), keyword(call, "executable")
                if literal(package) is None:
                    # The twin's own nodes: from graph.NodeSpec, checked against setup.py below.
                    assert ast.unparse(package) == "spec.package" and ast.unparse(executable) == "spec.executable"
                    continue
                assert literal(package) in declared, f"{path.name}: package {literal(package)} is not declared"
                assert literal(executable) in EXECUTABLES[literal(package)], ast.unparse(call)
            elif name in ("get_package_share_directory", "FindPackageShare"):
                package = literal(call.args[0])
                assert package in declared or package == PACKAGE, f"{path.name}: {ast.unparse(call)}"
            elif name == "Path" and call.args and isinstance(call.args[0], ast.Call) and \
                    call_name(call.args[0]) == "get_package_share_directory":
                package, parts = literal(call.args[0].args[0]), [literal(a) for a in call.args[1:]]
                assert None not in parts, f"{path.name}: {ast.unparse(call)} is not all literals"
                assert "/".join(parts) in SHARE_FILES[package], ast.unparse(call)
                checked_files.add(parts[-1])
            elif name == "ExecuteProcess":
                cmd = keyword(call, "cmd")
                if isinstance(cmd, ast.Call):  # GazeboSetup.gz_sim_command
                    assert ast.unparse(cmd.func) == "setup.gz_sim_command", ast.unparse(call)
                    command = gazebo_setup(launch_options("gazebo", {})).gz_sim_command("headless", "8")[0]
                else:
                    command = literal(cmd.elts[0])
                assert command in COMMANDS and COMMANDS[command] in declared, ast.unparse(call)
    assert nodes >= 4
    named = {literal(n) for p in LAUNCH_CODE for n in ast.walk(ast.parse(p.read_text()))
             if literal(n) and literal(n).endswith(DATA_SUFFIXES)}
    assert named <= checked_files, f"files named but not checked: {named - checked_files}"
    for options in all_options():
        for spec in twin_nodes(options):
            assert spec.package == PACKAGE and spec.executable in scripts, spec
    for own in (params_file(), bridge.bundled_bridge(), load_world().source, load_description().source):
        assert own.is_file() and REPO in own.resolve().parents


def test_the_launch_test_names_a_launch_file_its_arguments_and_the_gap_topics_that_exist():
    tree = ast.parse(LAUNCH_TEST.read_text())
    launch_files = {literal(n) for n in ast.walk(tree) if literal(n) and literal(n).endswith(".launch.py")}
    assert launch_files == {"twin_headless.launch.py"}
    assert (REPO / "launch" / "twin_headless.launch.py").is_file()
    arguments = next(ast.literal_eval(n.value) for n in tree.body
                     if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "ARGUMENTS")
    names = {a.name for a in launch_arguments(simulator_of("headless"))}
    assert {*arguments, "out_dir"} <= names
    launch_options("gazebo", arguments)
    monitor = (REPO / PACKAGE / "nodes" / "gap_monitor.py").read_text()
    gap_topics = {literal(n) for n in ast.walk(tree) if literal(n) and literal(n).startswith(f"/{GAP_TOPICS}/")}
    # gap_monitor's names are relative (its namespace's); the launch test's node listens at the top.
    assert len(gap_topics) == 4 and all(f'"{{GAP_TOPICS}}/{topic.rsplit("/", 1)[1]}"' in monitor
                                        for topic in gap_topics)


def test_launch_arguments_mean_what_the_nodes_read():
    names = [a.name for a in LAUNCH_ARGUMENTS]
    assert len(names) == len(set(names))
    defaults = {a.name: a.default for a in LAUNCH_ARGUMENTS}
    assert (defaults["physical_joint_states"], defaults["physical_odom"]) == (PHYSICAL_JOINT_STATES, PHYSICAL_ODOM)
    assert launch_options("embedded", {}) == TwinOptions()
    assert launch_options("gazebo", {}) == TwinOptions(simulator="gazebo")

    options = launch_options("embedded", {
        "gui": "true", "pacing": "realtime", "base_position_warn": "0.02", "xacro_args": "leg_kp:=2000 arm_kp:=100",
        "packages": "my_robot=/opt/my_robot", "physical_joint_states": "/joint_states", "joint_map": "/m.yaml"})
    assert options.gui and options.pacing == "realtime" and options.base_position_warn == 0.02
    assert options.xacro_mappings() == {"leg_kp": "2000", "arm_kp": "100"}
    assert options.package_dirs() == {"my_robot": Path("/opt/my_robot")}
    assert options.remappings == ((PHYSICAL_JOINT_STATES, "/joint_states"),)
    specs = {s.name: s for s in twin_nodes(options)}
    assert specs["twin_sync"].parameters["joint_map"] == specs["gap_monitor"].parameters["joint_map"] == "/m.yaml"
    assert specs["gap_monitor"].parameters["base_position_error"] == 0.04
    assert all(s.remappings == options.remappings for s in specs.values())

    live = {s.name: s for s in twin_nodes(launch_options("gazebo", {"physical": "live", "robot_name": "atlas"}))}
    assert set(live) == {"gap_monitor", "twin_sync"}
    assert all(s.parameters["use_sim_time"] is True for s in live.values())
    assert live["twin_sync"].parameters["xacro_args"] == ["robot_name:=atlas"]
    emulated = {s.name: s for s in twin_nodes(launch_options("gazebo", {}))}
    assert "use_sim_time" not in emulated["physical_emulator"].parameters  # the physical side keeps its clock
    assert all("use_sim_time" not in s.parameters for s in twin_nodes(launch_options("embedded", {})))

    for simulator, values, message in [
        ("gazebo", {"physical": "replay"}, "physical"), ("gazebo", {"pacing": "lockstep"}, "unknown"),
        ("embedded", {"robot_name": "atlas"}, "unknown"), ("embedded", {"gui": "yes"}, "gui"),
        ("embedded", {"base_position_warn": "-1"}, "positive"), ("embedded", {"xacro_args": "leg_kp"}, "NAME:=")]:
        with pytest.raises(ValueError, match=message):
            launch_options(simulator, values)


def test_one_process_holds_the_twins_nodes_each_with_its_own_parameters():
    options = launch_options("embedded", {"one_process": "true", "out_dir": "/tmp/r", "pacing": "realtime",
                                          "physical_joint_states": "/joint_states", "packages": "a=/x b=/y"})
    assert options.one_process
    specs = twin_nodes(options)
    base = yaml.safe_load(params_file().read_text())
    processes, params = in_one_process(specs, base)
    assert [p.name for p in processes] == [CONTAINER, "physical_emulator"]
    container = processes[0]
    # Start order kept; the physical robot stays a process of its own, as the robot would.
    assert container.arguments == ("embedded_sim", "gap_monitor", "twin_sync") and container.parameters == {}
    assert container.remappings == ((PHYSICAL_JOINT_STATES, "/joint_states"),)
    # Each node's parameters in its own section, on top of twin.yaml's (-p would reach every node).
    sections = {name: section["ros__parameters"] for name, section in params.items()}
    assert sections["gap_monitor"]["out_dir"] == "/tmp/r" and "out_dir" not in sections["embedded_sim"]
    assert sections["embedded_sim"]["pacing"] == "realtime" and sections["embedded_sim"]["state_rate"] == 500.0
    assert sections["twin_sync"] == {**base["twin_sync"]["ros__parameters"], "simulator": "embedded",
                                     "packages": ["a=/x", "b=/y"]}
    assert base["embedded_sim"]["ros__parameters"]["pacing"] == "lockstep"  # twin.yaml itself untouched
    # rcl's parser refuses YAML aliases, which shared list values (packages) would become.
    assert "&id" not in yaml.safe_dump(params) and sections["gap_monitor"]["packages"] == ["a=/x", "b=/y"]
    for spec in processes:
        assert spec.executable in console_scripts()


def test_gazebo_launches_pass_the_bridge_file_check_validates(tmp_path):
    before = os.environ.get("AMENT_PREFIX_PATH")
    setup = gazebo_setup(launch_options("gazebo", {"out_dir": str(tmp_path)}))
    assert os.environ.get("AMENT_PREFIX_PATH") == before  # launch_ros finds the installed executables
    assert (setup.model, setup.world_name) == ("humanoid", "twin")
    assert setup.bridge_file == bridge.bundled_bridge().resolve() == (REPO / "config" / "bridge.yaml").resolve()
    assert not (tmp_path / RETARGETED_BRIDGE).exists()
    # What `digital-twin-gz check` runs when given no --bridge, and the file the launch passes.
    for path in (None, setup.bridge_file):
        assert [f for f in checks.check_bridge(path, setup.model, setup.world_name) if f.level != "note"] == []
    assert setup.gz_sim_args("headless") == ["-s", "-r", "--headless-rendering", str(REPO / "worlds" / "twin.sdf")]
    assert setup.gz_sim_args("gui") == ["-r", str(REPO / "worlds" / "twin.sdf")]


# The line ros_gz_sim's CMake writes into gz_sim.launch.py from its template (ros_gz jazzy 1.0.5:
# DeclareLaunchArgument('gz_version', default_value='@GZ_SIM_VER@', ...), gz-sim 8 on Jazzy.
INSTALLED_GZ_SIM_LAUNCH = """\
        DeclareLaunchArgument('gz_version', default_value='8',
                              description='Gazebo Sim\\'s major version'),
"""


def test_headless_gz_sim_forces_the_version_ros_gz_sim_was_built_for(tmp_path):
    launch_file = tmp_path / "gz_sim.launch.py"
    launch_file.write_text(INSTALLED_GZ_SIM_LAUNCH)
    setup = gazebo_setup(launch_options("gazebo", {"out_dir": str(tmp_path)}))
    version = gz_sim_version(launch_file)
    assert setup.gz_sim_command("headless", version) == [
        "gz", "sim", "-s", "-r", "--headless-rendering", str(REPO / "worlds" / "twin.sdf"), "--force-version", "8"]
    launch_file.write_text("DeclareLaunchArgument('gz_args', default_value='')\n")
    with pytest.raises(GazeboSetupError, match="gz_sim.launch.py: no gz_version launch argument"):
        gz_sim_version(launch_file)


def test_package_xml_declares_what_the_gazebo_path_needs():
    root = etree.parse(str(REPO / "package.xml")).getroot()
    bridge_dependency = next(e for e in root.findall("exec_depend") if e.text.strip() == "ros_gz_bridge")
    # The launches set override_timestamps_with_wall_time, a parameter of ros_gz_bridge 1.0.4 and later.
    assert "override_timestamps_with_wall_time" in (REPO / PACKAGE / "run" / "launch_actions.py").read_text()
    assert tuple(int(v) for v in bridge_dependency.get("version_gte", "0").split(".")) >= (1, 0, 4)
    # twin_sync's Gazebo resync imports the gz-transport and gz-msgs bindings of the vendor packages.
    assert {"gz.transport13", "gz.msgs10.pose_pb2"} <= set(control.BINDINGS)
    assert {"gz_transport_vendor", "gz_msgs_vendor"} <= manifest_depends("exec_depend")


def test_another_robot_and_world_get_a_retargeted_bridge(other_humanoid, tmp_path):
    urdf, packages = other_humanoid
    world = tmp_path / "lab.sdf"
    world.write_text(load_world().source.read_text().replace('<world name="twin">', '<world name="lab">'))
    out = tmp_path / "out"
    setup = gazebo_setup(launch_options("gazebo", {
        "urdf": str(urdf), "packages": " ".join(f"{k}={v}" for k, v in packages.items()), "world": str(world),
        "out_dir": str(out)}))
    assert (setup.model, setup.world_name, setup.world_file) == ("other", "lab", world.resolve())
    assert setup.bridge_file == out / RETARGETED_BRIDGE
    entries = bridge.load_bridge(setup.bridge_file)
    assert {e.ros_topic: e.gz_topic for e in entries} == {
        "clock": "/clock", "virtual/joint_states": "/world/lab/model/other/joint_state",
        "virtual/odom": "/model/other/odometry", "virtual/joint_trajectory": "/model/other/joint_trajectory"}
    bundled = bridge.load_bridge(bridge.bundled_bridge())
    assert [(e.ros_topic, e.ros_type, e.gz_type, e.direction) for e in entries] == \
        [(e.ros_topic, e.ros_type, e.gz_type, e.direction) for e in bundled]
    assert [f for f in checks.check_bridge(setup.bridge_file, "other", "lab") if f.level != "note"] == []
    # package:// URIs of the description resolve for Gazebo through GZ_SIM_RESOURCE_PATH.
    (name, share), = packages.items()
    assert (setup.resource_path / name).resolve() == Path(share).resolve()
    assert bridge_file_for(bridge.bundled_bridge(), "humanoid", "twin", tmp_path / "unused") == bridge.bundled_bridge()


def test_a_users_bridge_file_keeps_its_keys_when_retargeted(other_humanoid, tmp_path):
    """For another robot the launch rewrites the bridge file's gz topics; every other key stays as
    the user wrote it, and a single name shared by both sides is split only where they now differ."""
    urdf, packages = other_humanoid
    user = tmp_path / "my_bridge.yaml"
    user.write_text(bridge.bundled_bridge().read_text().replace(
        "- ros_topic_name: clock\n  gz_topic_name: /clock", "- topic_name: /clock\n  lazy: true").replace(
        "direction: ROS_TO_GZ", "direction: ROS_TO_GZ\n  subscriber_queue: 50").replace(
        "- ros_topic_name: virtual/odom\n  gz_topic_name: /model/humanoid/odometry",
        "- topic_name: /model/humanoid/odometry"))
    options = replace(launch_options("gazebo", {
        "urdf": str(urdf), "packages": " ".join(f"{k}={v}" for k, v in packages.items()),
        "out_dir": str(tmp_path / "out")}), bridge=str(user))
    setup = gazebo_setup(options)
    assert setup.bridge_file == tmp_path / "out" / RETARGETED_BRIDGE
    text = setup.bridge_file.read_text()
    written = {e.ros_topic: e for e in bridge.load_bridge(setup.bridge_file)}
    assert written["/clock"].names == ("topic_name",) and written["/clock"].options == (("lazy", True),)
    assert written["virtual/joint_trajectory"].options == (("subscriber_queue", 50),)
    assert written["virtual/joint_trajectory"].gz_topic == "/model/other/joint_trajectory"
    # The odometry's one name served both sides; the ROS side (the contract) stays, the gz side follows.
    odometry = written["/model/humanoid/odometry"]
    assert (odometry.gz_topic, odometry.names) == ("/model/other/odometry", ("ros_topic_name", "gz_topic_name"))
    assert "topic_name: /clock" in text and "lazy: true" in text


def test_a_description_whose_joint_state_publisher_lists_no_joints_is_refused(tmp_path):
    robot = etree.fromstring(load_description().urdf.encode())
    publisher = next(p for p in robot.iter("plugin") if p.get("name") == JSP_PLUGIN)
    for name in publisher.findall("joint_name"):
        publisher.remove(name)
    urdf = tmp_path / "humanoid.urdf"
    urdf.write_bytes(etree.tostring(robot))
    with pytest.raises(GazeboSetupError, match="would publish joints the twin does not know: imu_link_joint"):
        gazebo_setup(launch_options("gazebo", {"urdf": str(urdf), "out_dir": str(tmp_path)}))


def test_a_description_whose_gz_topics_do_not_follow_the_model_is_refused(tmp_path):
    # The bundled xacro names its odometry and trajectory topics after its robot_name argument, given
    # here behind the launch's back: the model stays 'humanoid', and Gazebo and the bridge would not meet.
    with pytest.raises(GazeboSetupError, match="/model/atlas/odometry"):
        gazebo_setup(launch_options("gazebo", {"xacro_args": "robot_name:=atlas", "out_dir": str(tmp_path)}))


def test_the_robot_is_spawned_with_its_feet_on_the_ground(tmp_path):
    setup = gazebo_setup(launch_options("gazebo", {"out_dir": str(tmp_path)}))
    standing = Simulator(load_description(), load_world()).state().base_position[2]  # knees bent
    assert standing < setup.spawn_z < standing + 0.1  # straight legs: a little higher


@pytest.mark.ros
def test_the_demo_starts_the_embedded_launch_graph(tmp_path):
    """The demo with its defaults runs the processes twin_embedded.launch.py declares with its defaults."""
    out = tmp_path / "report"
    demo = subprocess.Popen([str(BIN / "digital-twin-gz"), "demo", "--duration", "3", "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started: dict[int, list[str]] = {}
    deadline = time.monotonic() + 180
    while demo.poll() is None and time.monotonic() < deadline:
        started |= children(demo.pid)
        time.sleep(0.1)
    output = demo.communicate(timeout=60)[0]
    assert demo.returncode == 0, output
    expected = replace(launch_options(simulator_of("embedded"), {}), out_dir=str(out.resolve()))
    scripts, by_executable = console_scripts(), {}
    for argv in started.values():
        script = next(i for i, arg in enumerate(argv) if Path(arg).parent == BIN and Path(arg).name in scripts)
        by_executable[Path(argv[script]).name] = argv[script + 1:]
    # The twin's nodes in one process by default, given their parameters in a params file of sections.
    specs, params = in_one_process(twin_nodes(expected), yaml.safe_load(params_file().read_text()))
    container = out / "logs" / f"{CONTAINER}.yaml"
    assert yaml.safe_load(container.read_text()) == params
    assert by_executable == {spec.executable: [*spec.arguments, *spec.ros_args(container if spec.arguments
                                                                              else params_file())]
                             for spec in specs}
