"""The twin's node graph, declared once: which nodes run, with which parameters and remappings.

``digital-twin-gz demo`` starts these as processes; the launch files turn the same
specs into ``launch_ros`` Node actions. A node or parameter added here is there for both.
The launch files' arguments and what they mean as :class:`TwinOptions` are declared beside it
(``arguments.py``), where they can be tested without ``launch``.

A robot's twin may run in a ROS namespace (``TwinOptions.namespace``): every node gets it
(``-r __ns:=/robot_1``) and, since every name the nodes use is relative, all of its topics and
services are under it; /diagnostics stays one for all. Several robots' twins then share one domain.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from digital_twin_gz.emulator import load_profile
from digital_twin_gz.gazebo import SIMULATORS
from digital_twin_gz.robot import params_file

PACKAGE = "digital_twin_gz"
PHYSICAL_SOURCES = ("emulator", "live")
# The executable that holds several nodes in one process, and the nodes it may hold.
CONTAINER = "twin_container"
CONTAINED = ("embedded_sim", "gap_monitor", "twin_sync")
ParameterValue = str | int | float | bool | list[str] | list[float]


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph: its executable (= node name) and what it is given on top of twin.yaml."""

    executable: str
    parameters: dict[str, ParameterValue] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    package: str = PACKAGE
    arguments: tuple[str, ...] = ()  # before --ros-args (twin_container: the nodes it holds)
    namespace: str = ""  # the robot's ROS namespace ("/robot_1"), "" for none

    @property
    def name(self) -> str:
        return self.executable

    def ros_args(self, params: Path | None = None) -> list[str]:
        """``--ros-args`` as ``ros2 run`` would take them."""
        args = ["--ros-args"]
        if self.namespace:
            args += ["-r", f"__ns:={self.namespace}"]
        if params is not None:
            args += ["--params-file", str(params)]
        for key, value in self.parameters.items():
            args += ["-p", f"{key}:={format_parameter(value)}"]
        for source, target in self.remappings:
            args += ["-r", f"{source}:={target}"]
        return args


def check_namespace(text: str) -> str:
    """A robot's namespace as ROS takes it: ``robot_1`` or ``/robot_1`` -> ``/robot_1``, "" -> "" (none).
    ValueError (rclpy's own validation) for anything ROS would refuse."""
    from rclpy.exceptions import InvalidNamespaceException
    from rclpy.validate_namespace import validate_namespace

    text = text.strip()
    if not text or text == "/":
        return ""
    namespace = text if text.startswith("/") else f"/{text}"
    try:
        validate_namespace(namespace)
    except InvalidNamespaceException as err:
        raise ValueError(f"namespace '{text}': {err}") from err
    return namespace


def format_parameter(value: ParameterValue) -> str:
    """A value as the ``-p name:=value`` command line reads it (YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, float) for v in value):
            return "[" + ",".join(repr(v) for v in value) + "]"
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
    # The robot's ROS namespace (robot_1 or /robot_1; "": none, today's names) and its name (the
    # Gazebo model, gz topics, /diagnostics' hardware_id; "": the namespace's last part, else the
    # description's <robot name>).
    namespace: str = ""
    robot_name: str = ""
    rate: float | None = None  # Hz of the emulated robot's measurements; None: config/twin.yaml's
    position: tuple[float, float] = (0.0, 0.0)  # m, x y where the robot stands in the world
    start_gazebo: bool = True  # Gazebo launches: start gz sim, or join the one another robot's launch started

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", check_namespace(self.namespace))
        if self.rate is not None and not self.rate > 0:
            raise ValueError(f"rate must be positive, got {self.rate:g}")
        if self.simulator not in SIMULATORS:
            raise ValueError(f"simulator '{self.simulator}' is not one of {SIMULATORS}")
        if self.physical not in PHYSICAL_SOURCES:
            raise ValueError(f"physical source '{self.physical}' is not one of {PHYSICAL_SOURCES}")
        if self.virtual_profile and self.simulator != "embedded":
            raise ValueError("a virtual profile sets the embedded simulator's physics; for Gazebo, give it the "
                             "calibrated URDF (calibrated.urdf from digital-twin-gz calibrate) instead")

    @property
    def robot(self) -> str:
        """The robot's name where the options say it (robot_name, else the namespace's last part); ""
        leaves it to the description's <robot name>."""
        return self.robot_name or self.namespace.rsplit("/", 1)[-1]

    @property
    def report_dir(self) -> Path:
        """Where gap_monitor writes: ``out_dir``, or ``out_dir/<namespace>/`` for a namespaced robot, so
        robots sharing ``out_dir`` (demo --robots, one launch per robot) keep their own reports."""
        return Path(self.out_dir) / self.namespace.strip("/")

    @property
    def record_file(self) -> str:
        """The recording: ``record``, or ``<stem>.<namespace><suffix>`` beside it for a namespaced robot."""
        if not self.record or not self.namespace:
            return self.record
        path = Path(self.record)
        return str(path.with_name(f"{path.stem}.{self.namespace.strip('/').replace('/', '.')}{path.suffix}"))

    def xacro_mappings(self) -> dict[str, str]:
        """``xacro_args`` (NAME:=VALUE) as xacro takes them."""
        return dict(arg.split(":=", 1) for arg in self.xacro_args)

    def package_dirs(self) -> dict[str, Path]:
        """``packages`` (NAME=DIR) as package name -> share directory."""
        return {name: Path(directory) for name, directory in (p.split("=", 1) for p in self.packages)}


def twin_nodes(options: TwinOptions) -> list[NodeSpec]:
    """The digital_twin_gz nodes of a run, in start order (simulator side first), in the robot's namespace."""
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
    # Each robot's simulator has its own clock (clock in the bridge file is relative): the twin's
    # nodes on sim time read /<robot>/clock, never another robot's (rclpy subscribes /clock).
    twin_remap = (*remap, ("/clock", "clock")) if sim_time and options.namespace else remap
    name = {"robot_name": options.robot} if options.robot else {}
    # A calibrated virtual model's joint delay: twin_sync and gap_monitor take the joint feed as measured earlier.
    delay = load_profile(options.virtual_profile).measurement.joint_delay_s if options.virtual_profile else 0.0
    timing = {"joint_delay": delay} if delay else {}
    roles = {"joint_roles": options.joint_roles} if options.joint_roles else {}
    key_links = {"key_links": list(options.key_links)} if options.key_links else {}
    nodes = []
    if options.simulator == "embedded":
        ghost = {"ghost_joint_states": "physical/joint_states", "ghost_odom": "physical/odom"} if options.gui else {}
        physics = {"physics_profile": options.virtual_profile} if options.virtual_profile else {}
        nodes.append(NodeSpec("embedded_sim", {**robot, "pacing": options.pacing, "gui": options.gui, **ghost,
                                               **physics}, remap))
    record = {"record": options.record_file} if options.record else {}
    nodes += [
        NodeSpec("gap_monitor", {**robot, **name, **label, **roles, **key_links, "simulator": options.simulator,
                                 "out_dir": str(options.report_dir), **thresholds, **record, **joint_map, **sim_time,
                                 **timing}, twin_remap),
        NodeSpec("twin_sync", {**robot, **name, "simulator": options.simulator, **joint_map, **sim_time, **timing},
                 twin_remap),
    ]
    if options.physical == "emulator":
        rate = {"rate": options.rate} if options.rate is not None else {}
        position = {"position": list(map(float, options.position))} if any(options.position) else {}
        # twin_sync and gap_monitor hear its first sample: none of it is lost to discovery.
        nodes.append(NodeSpec("physical_emulator", {**robot, "profile": options.profile, "motion": options.motion,
                                                    "start_after_subscribers": 2, **roles, **rate, **position},
                              remap))
    return [replace(node, namespace=options.namespace) for node in nodes]


def node_sections(base: Mapping, namespace: str) -> dict:
    """Copies of twin.yaml's sections (``base``) for nodes in ``namespace``: rcl gives a section to the
    node whose fully qualified name it is, so ``twin_sync`` reaches /twin_sync alone, and in /robot_1
    the section must be /robot_1/twin_sync. Wildcard sections (``/**``) stay as they are."""
    return {(f"{namespace}/{name}" if namespace and not name.startswith("/") else name):
            {"ros__parameters": dict(section.get("ros__parameters", {}))} for name, section in base.items()}


def _namespace_of(specs: list[NodeSpec]) -> str:
    namespaces = {spec.namespace for spec in specs}
    if len(namespaces) > 1:
        raise ValueError(f"one robot's nodes share a namespace, got {sorted(namespaces)}")
    return namespaces.pop() if namespaces else ""


def in_one_process(specs: list[NodeSpec], base: Mapping) -> tuple[list[NodeSpec], dict]:
    """``specs`` with the twin's own nodes (all but the physical robot, which stays a process of
    its own) folded into one ``twin_container`` in their start order, and the params file it
    must be given: ``base`` (twin.yaml's contents) with each node's parameters on top of its
    section, since a ``-p`` would reach every node of the process."""
    twin = [spec for spec in specs if spec.name in CONTAINED]
    if len({spec.remappings for spec in twin}) > 1:
        raise ValueError("the nodes of one process share their remappings")
    namespace = _namespace_of(specs)
    params = node_sections(base, namespace)
    for spec in twin:
        # Copies: the nodes share list values (packages, xacro_args), which YAML would write as an
        # alias, and rcl's params parser refuses aliases.
        section = f"{namespace}/{spec.name}" if namespace else spec.name
        params.setdefault(section, {"ros__parameters": {}})["ros__parameters"].update(copy.deepcopy(spec.parameters))
    container = NodeSpec(CONTAINER, remappings=twin[0].remappings, arguments=tuple(spec.name for spec in twin),
                         namespace=namespace)
    return [container, *(spec for spec in specs if spec.name not in CONTAINED)], params


def write_params(specs: list[NodeSpec], one_process: bool, path: Path) -> list[tuple[NodeSpec, Path]]:
    """The processes of a run (:func:`in_one_process` when ``one_process``) and the params file each is
    given, as the demo and the launch files give them: config/twin.yaml itself where it serves as it
    is, else the file written to ``path`` (the container's sections; twin.yaml's for a namespace)."""
    base = yaml.safe_load(params_file().read_text())
    namespace = _namespace_of(specs)
    processes, params = in_one_process(specs, base) if one_process else (specs, node_sections(base, namespace))
    if one_process or namespace:
        path.write_text(yaml.safe_dump(params, sort_keys=False))
    return [(spec, path if spec.name == CONTAINER or namespace else params_file()) for spec in processes]
