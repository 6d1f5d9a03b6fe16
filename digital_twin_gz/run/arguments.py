"""The launch files' arguments, declared once: their defaults and descriptions (``ros2 launch ... --show-args``)
and the :class:`~digital_twin_gz.run.graph.TwinOptions` their values stand for, testable without ``launch``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from digital_twin_gz.gazebo import SIMULATORS
from digital_twin_gz.run.graph import PHYSICAL_SOURCES, TwinOptions


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
    LaunchArgument("physical_joint_states", "physical/joint_states",
                   "Topic of the physical robot's sensor_msgs/JointState; every node is remapped to it. A "
                   "relative name is in the namespace."),
    LaunchArgument("physical_odom", "physical/odom",
                   "Topic of the physical robot's base pose (nav_msgs/Odometry); every node is remapped to it. "
                   "A relative name is in the namespace."),
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
    LaunchArgument("namespace", _default("namespace"),
                   "ROS namespace of the robot's twin (robot_1): every node runs in it, so its topics and "
                   "services are /robot_1/physical/..., /robot_1/virtual/..., /robot_1/twin/gap/...; /diagnostics "
                   "stays one for all, each status named robot_1/<node>. Its report goes into out_dir/robot_1/. "
                   "Empty: no namespace (/physical/..., /virtual/...)."),
    LaunchArgument("robot_name", _default("robot_name"),
                   "The Gazebo model's name: spawned under it, its gz topics named after it (passed to xacro as "
                   "robot_name:=NAME, which the bundled humanoid names them by), resynced by it; also the robot's "
                   "name on /diagnostics and in the report. Empty: the namespace's last part, else the "
                   "description's <robot name>.", simulators=("gazebo",)),
    LaunchArgument("x", "0.0", "m: where in the world the robot is spawned, and where the emulated robot stands "
                   "(its twin is resynced there), so that robots sharing a world stand apart.",
                   simulators=("gazebo",)),
    LaunchArgument("y", "0.0", "m: as x.", simulators=("gazebo",)),
    LaunchArgument("start_gazebo", "true",
                   "true: start gz sim on the world; false: spawn the robot into the gz sim another robot's "
                   "launch started (the same world), so several robots share one world.",
                   simulators=("gazebo",), choices=BOOLEANS),
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
    remappings = tuple((declared[name].default, given[name]) for name in ("physical_joint_states", "physical_odom")
                       if given[name] != declared[name].default)
    warn = _number(given, "base_position_warn") if given["base_position_warn"] else None
    if warn is not None and not warn > 0:
        raise ValueError(f"launch argument base_position_warn: must be positive, got {warn:g}")
    embedded = {"pacing": given["pacing"], "gui": given["gui"] == "true",
                "virtual_profile": given["virtual_profile"]} if simulator == "embedded" else {}
    gazebo = {"robot_name": given["robot_name"], "position": (_number(given, "x"), _number(given, "y")),
              "start_gazebo": given["start_gazebo"] == "true"} if simulator == "gazebo" else {}
    try:
        options = TwinOptions(
            simulator=simulator, physical=given["physical"], profile=given["profile"], motion=given["motion"],
            urdf=given["urdf"], xacro_args=xacro_args, packages=_pairs(given["packages"], "=", "packages"),
            joint_roles=given["joint_roles"], key_links=tuple(given["key_links"].split()), out_dir=given["out_dir"],
            base_position_warn=warn, record=given["record"], remappings=remappings, world=given["world"],
            joint_map=given["joint_map"], one_process=given["one_process"] == "true", namespace=given["namespace"],
            **embedded, **gazebo)
    except ValueError as err:
        raise ValueError(f"launch arguments: {err}") from err
    if simulator == "gazebo" and options.robot:
        # The model's name, which the bundled humanoid names its gz topics after; every node loads it so.
        options = replace(options, xacro_args=(*options.xacro_args, f"robot_name:={options.robot}"))
    return options


def _number(given: Mapping[str, str], name: str) -> float:
    try:
        return float(given[name])
    except ValueError as err:
        raise ValueError(f"launch argument {name}: '{given[name]}' is not a number") from err
