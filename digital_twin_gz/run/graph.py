"""The twin's node graph, declared once: which nodes run, with which parameters and remappings.

``digital-twin-gz demo`` starts these as processes; the launch files turn the same
specs into ``launch_ros`` Node actions. A node or parameter added here is there for both.
The launch files' arguments and what they mean as :class:`TwinOptions` are declared here
too, where they can be tested without ``launch``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from digital_twin_gz.gazebo import SIMULATORS
from digital_twin_gz.robot import params_file

PACKAGE = "digital_twin_gz"
PHYSICAL_SOURCES = ("emulator", "live")
# The executable that holds several nodes in one process, and the nodes it may hold.
CONTAINER = "twin_container"
CONTAINED = ("embedded_sim", "gap_monitor", "twin_sync")
ParameterValue = str | int | float | bool | list[str]


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph: its executable (= node name) and what it is given on top of twin.yaml."""

    executable: str
    parameters: dict[str, ParameterValue] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    package: str = PACKAGE
    arguments: tuple[str, ...] = ()  # before --ros-args (twin_container: the nodes it holds)

    @property
    def name(self) -> str:
        return self.executable

    def ros_args(self, params: Path | None = None) -> list[str]:
        """``--ros-args`` as ``ros2 run`` would take them."""
        args = ["--ros-args"]
        if params is not None:
            args += ["--params-file", str(params)]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={format_parameter(value)}"]
        for source, target in self.remappings:
            args += ["-r", f"{source}:={target}"]
        return args


def format_parameter(value: ParameterValue) -> str:
    """A value as the ``-p name:=value`` command line reads it (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(f"'{v}'" for v in value) + "]" if value else "['']"
    return str(value)


@dataclass(frozen=True)
class TwinOptions:
    """The choices a user makes when starting the twin (everything else is in twin.yaml)."""

    simulator: str = "embedded"
    physical: str = "emulator"
    profile: str = "default"
    motion: str = "tour"
    urdf: str = ""
    xacro_args: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    joint_roles: str = ""
    key_links: tuple[str, ...] = ()
    out_dir: str = "gap_report"
    gui: bool = False
    pacing: str = "lockstep"
    base_position_warn: float | None = None
    record: str = ""
    virtual_profile: str = ""
    remappings: tuple[tuple[str, str], ...] = ()
    world: str = ""
    bridge: str = ""
    joint_map: str = ""
    # The twin's nodes in one process (twin_container): 0.6x the CPU of one process each, measured
    # side by side (bench/bench_load.py, README "Measured here").
    one_process: bool = True

    def __post_init__(self) -> None:
        if self.simulator not in SIMULATORS:
            raise ValueError(f"simulator '{self.simulator}' is not one of {SIMULATORS}")
        if self.physical not in PHYSICAL_SOURCES:
            raise ValueError(f"physical source '{self.physical}' is not one of {PHYSICAL_SOURCES}")
        if self.virtual_profile and self.simulator != "embedded":
            raise ValueError("a virtual profile sets the embedded simulator's physics; for Gazebo, give it the "
                             "calibrated URDF (calibrated.urdf from digital-twin-gz calibrate) instead")

    def xacro_mappings(self) -> dict[str, str]:
        """``xacro_args`` (NAME:=VALUE) as xacro takes them."""
        return dict(arg.split(":=", 1) for arg in self.xacro_args)

    def package_dirs(self) -> dict[str, Path]:
        """``packages`` (NAME=DIR) as package name -> share directory."""
        return {name: Path(directory) for name, directory in (p.split("=", 1) for p in self.packages)}


def twin_nodes(options: TwinOptions) -> list[NodeSpec]:
    """The digital_twin_gz nodes of a run, in start order (simulator side first)."""
    robot: dict[str, ParameterValue] = {}
    if options.urdf:
        robot["urdf"] = options.urdf
    if options.xacro_args:
        robot["xacro_args"] = list(options.xacro_args)
    if options.packages:
        robot["packages"] = list(options.packages)
    robot |= {key: getattr(options, key) for key in ("world", "bridge") if getattr(options, key)}
    # Under Gazebo the twin's nodes run on the simulator's /clock. The physical side keeps
    # its own clock: its samples carry the stamps of the moment of measurement.
    sim_time: dict[str, ParameterValue] = {"use_sim_time": True} if options.simulator == "gazebo" else {}
    joint_map = {"joint_map": options.joint_map} if options.joint_map else {}
    label = {"profile": options.profile, "motion": options.motion} if options.physical == "emulator" else {}
    thresholds = {} if options.base_position_warn is None else {
        "base_position_warn": options.base_position_warn, "base_position_error": 2.0 * options.base_position_warn}
    remap = options.remappings
    roles = {"joint_roles": options.joint_roles} if options.joint_roles else {}
    key_links = {"key_links": list(options.key_links)} if options.key_links else {}
    nodes = []
    if options.simulator == "embedded":
        ghost = {"ghost_joint_states": "/physical/joint_states", "ghost_odom": "/physical/odom"} if options.gui else {}
        physics = {"physics_profile": options.virtual_profile} if options.virtual_profile else {}
        nodes.append(NodeSpec("embedded_sim", {**robot, "pacing": options.pacing, "gui": options.gui, **ghost,
                                               **physics}, remap))
    nodes += [
        NodeSpec("gap_monitor", {**robot, **label, **roles, **key_links, "simulator": options.simulator,
                                 "out_dir": options.out_dir,
                                 **thresholds, **({"record": options.record} if options.record else {}),
                                 **joint_map, **sim_time}, remap),
        NodeSpec("twin_sync", {**robot, "simulator": options.simulator, **joint_map, **sim_time}, remap),
    ]
    if options.physical == "emulator":
        # twin_sync and gap_monitor hear its first sample: none of it is lost to discovery.
        nodes.append(NodeSpec("physical_emulator", {**robot, "profile": options.profile, "motion": options.motion,
                                                    "start_after_subscribers": 2, **roles}, remap))
    return nodes


def in_one_process(specs: list[NodeSpec], base: Mapping) -> tuple[list[NodeSpec], dict]:
    """``specs`` with the twin's own nodes (all but the physical robot, which stays a process of
    its own) folded into one ``twin_container`` in their start order, and the params file it
    must be given: ``base`` (twin.yaml's contents) with each node's parameters on top of its
    section, since a ``-p`` would reach every node of the process."""
    twin = [spec for spec in specs if spec.name in CONTAINED]
    if len({spec.remappings for spec in twin}) > 1:
        raise ValueError("the nodes of one process share their remappings")
    params = {name: {"ros__parameters": dict(section.get("ros__parameters", {}))}
              for name, section in base.items()}
    for spec in twin:
        # Copies: the nodes share list values (packages, xacro_args), which YAML would write as an
        # alias, and rcl's params parser refuses aliases.
        params.setdefault(spec.name, {"ros__parameters": {}})["ros__parameters"].update(copy.deepcopy(spec.parameters))
    container = NodeSpec(CONTAINER, remappings=twin[0].remappings, arguments=tuple(spec.name for spec in twin))
    return [container, *(spec for spec in specs if spec.name not in CONTAINED)], params


def write_one_process(specs: list[NodeSpec], path: Path) -> list[NodeSpec]:
    """:func:`in_one_process` on config/twin.yaml, its params written to ``path`` (the file the
    container must be given, as the demo and the launch files give it)."""
    processes, params = in_one_process(specs, yaml.safe_load(params_file().read_text()))
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return processes


@dataclass(frozen=True)
class LaunchArgument:
    """A ``ros2 launch`` argument of the twin: declared by the launch files, read by :func:`launch_options`."""

    name: str
    default: str
    description: str
    simulators: tuple[str, ...] = SIMULATORS
    choices: tuple[str, ...] = ()


def _default(name: str) -> str:
    """A TwinOptions default as launch argument text, so the launch files cannot drift from it."""
    value = next(f.default for f in fields(TwinOptions) if f.name == name)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


BOOLEANS = ("true", "false")
LAUNCH_ARGUMENTS = (
    LaunchArgument("physical", _default("physical"),
                   "Where the physical robot's measured states come from: emulator (physical_emulator, a "
                   "perturbed copy of the model) or live (a robot, or a recording played back, on "
                   "physical_joint_states and physical_odom).", choices=PHYSICAL_SOURCES),
    LaunchArgument("profile", _default("profile"),
                   "physical:=emulator only. How the emulated robot differs from its model: a name in "
                   "config/physical_profiles (nominal, default) or a path to a profile YAML."),
    LaunchArgument("motion", _default("motion"),
                   "physical:=emulator only. What the emulated robot does: stand, squat, arm_wave, torso_twist, "
                   "weight_shift or tour."),
    LaunchArgument("physical_joint_states", "/physical/joint_states",
                   "Topic of the physical robot's sensor_msgs/JointState; every node is remapped to it."),
    LaunchArgument("physical_odom", "/physical/odom",
                   "Topic of the physical robot's base pose (nav_msgs/Odometry); every node is remapped to it."),
    LaunchArgument("joint_map", _default("joint_map"),
                   "YAML (joints: {physical_name: twin_joint}, ignore: [names]) for a robot whose joint names "
                   "differ from the description's."),
    LaunchArgument("urdf", _default("urdf"),
                   "Robot description (.urdf or .urdf.xacro). Empty: the bundled humanoid."),
    LaunchArgument("xacro_args", "", "NAME:=VALUE pairs for xacro, separated by spaces."),
    LaunchArgument("packages", "",
                   "NAME=DIR pairs, separated by spaces: where package://NAME/ and $(find NAME) of the "
                   "description point."),
    LaunchArgument("joint_roles", _default("joint_roles"),
                   "YAML role: joint_name for joints whose names do not say their role."),
    LaunchArgument("key_links", "",
                   "Links gap_monitor measures, separated by spaces. Empty: the feet, hands and head the joint "
                   "roles give."),
    LaunchArgument("world", _default("world"),
                   "World SDF (physics step, gravity; its <world name> names the gz topics). Empty: "
                   "worlds/twin.sdf of this package."),
    LaunchArgument("robot_name", "",
                   "Passed to xacro as robot_name:=NAME (the bundled humanoid names its gz topics after it). "
                   "The Gazebo model takes the description's <robot name>.", simulators=("gazebo",)),
    LaunchArgument("base_position_warn", _default("base_position_warn"),
                   "m, windowed RMS base position error above which gap_monitor warns (error at twice "
                   "that). Empty: config/twin.yaml."),
    LaunchArgument("out_dir", _default("out_dir"),
                   "Directory gap_monitor writes report.json and report.html into on shutdown."),
    LaunchArgument("record", _default("record"),
                   "MCAP file to record the physical, virtual and gap topics into. Empty: no recording."),
    LaunchArgument("pacing", _default("pacing"),
                   "lockstep: the embedded simulator steps to the stamp of each physical sample; realtime: "
                   "it runs on the wall clock, as Gazebo does.", simulators=("embedded",),
                   choices=("lockstep", "realtime")),
    LaunchArgument("one_process", _default("one_process"),
                   "true: the twin's nodes (embedded simulator, twin_sync, gap_monitor) in one process "
                   "(twin_container, one executor; 0.6x the CPU of one process each, measured); false: one "
                   "process each.", choices=BOOLEANS),
    LaunchArgument("gui", _default("gui"),
                   "Open the embedded simulator's viewer, the physical robot as a ghost (needs a display).",
                   simulators=("embedded",), choices=BOOLEANS),
    LaunchArgument("virtual_profile", _default("virtual_profile"),
                   "Profile YAML whose physics the embedded simulator's model takes (calibrated.yaml from "
                   "digital-twin-gz calibrate).", simulators=("embedded",)),
)


def launch_arguments(simulator: str) -> list[LaunchArgument]:
    """The arguments a launch file on ``simulator`` declares."""
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator '{simulator}' is not one of {SIMULATORS}")
    return [a for a in LAUNCH_ARGUMENTS if simulator in a.simulators]


def _pairs(text: str, separator: str, argument: str) -> tuple[str, ...]:
    pairs = tuple(text.split())
    for pair in pairs:
        name, found, _ = pair.partition(separator)
        if not found or not name:
            raise ValueError(f"launch argument {argument}: expected NAME{separator}VALUE, got '{pair}'")
    return pairs


def launch_options(simulator: str, values: Mapping[str, str]) -> TwinOptions:
    """The TwinOptions that launch argument values (as text; missing ones take their default) stand for."""
    declared = {a.name: a for a in launch_arguments(simulator)}
    unknown = set(values) - set(declared)
    if unknown:
        raise ValueError(f"unknown launch arguments for the {simulator} twin: {', '.join(sorted(unknown))}")
    given = {name: values.get(name, argument.default).strip() for name, argument in declared.items()}
    for name, value in given.items():
        if declared[name].choices and value not in declared[name].choices:
            raise ValueError(f"launch argument {name}: '{value}' is not one of {declared[name].choices}")
    xacro_args = _pairs(given["xacro_args"], ":=", "xacro_args")
    if given.get("robot_name"):
        xacro_args += (f"robot_name:={given['robot_name']}",)
    remappings = tuple((declared[name].default, given[name]) for name in ("physical_joint_states", "physical_odom")
                       if given[name] != declared[name].default)
    try:
        warn = float(given["base_position_warn"]) if given["base_position_warn"] else None
    except ValueError as err:
        raise ValueError(f"launch argument base_position_warn: '{given['base_position_warn']}' "
                         "is not a number") from err
    if warn is not None and not warn > 0:
        raise ValueError(f"launch argument base_position_warn: must be positive, got {warn:g}")
    embedded = {"pacing": given["pacing"], "gui": given["gui"] == "true",
                "virtual_profile": given["virtual_profile"]} if simulator == "embedded" else {}
    return TwinOptions(
        simulator=simulator, physical=given["physical"], profile=given["profile"], motion=given["motion"],
        urdf=given["urdf"], xacro_args=xacro_args, packages=_pairs(given["packages"], "=", "packages"),
        joint_roles=given["joint_roles"], key_links=tuple(given["key_links"].split()), out_dir=given["out_dir"],
        base_position_warn=warn,
        record=given["record"], remappings=remappings, world=given["world"], joint_map=given["joint_map"],
        one_process=given["one_process"] == "true", **embedded)
