"""The twin's node graph, declared once: which nodes run, with which parameters and remappings.

``digital-twin-gz demo`` starts these as processes; the launch files turn the same
specs into ``launch_ros`` Node actions. A node or parameter added here is there for both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from digital_twin_gz.share import share_dir

PACKAGE = "digital_twin_gz"
SIMULATORS = ("embedded", "gazebo")
PHYSICAL_SOURCES = ("emulator", "live")
ParameterValue = str | int | float | bool | list[str]


def params_file() -> Path:
    """``config/twin.yaml``: the defaults every node of the twin starts from."""
    return share_dir() / "config" / "twin.yaml"


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph: its executable (= node name) and what it is given on top of twin.yaml."""

    executable: str
    parameters: dict[str, ParameterValue] = field(default_factory=dict)
    remappings: tuple[tuple[str, str], ...] = ()
    package: str = PACKAGE

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
    out_dir: str = "gap_report"
    gui: bool = False
    pacing: str = "lockstep"
    base_position_warn: float | None = None
    record: str = ""
    virtual_profile: str = ""
    remappings: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.simulator not in SIMULATORS:
            raise ValueError(f"simulator '{self.simulator}' is not one of {SIMULATORS}")
        if self.physical not in PHYSICAL_SOURCES:
            raise ValueError(f"physical source '{self.physical}' is not one of {PHYSICAL_SOURCES}")
        if self.virtual_profile and self.simulator != "embedded":
            raise ValueError("a virtual profile sets the embedded simulator's physics; for Gazebo, give it the "
                             "calibrated URDF (calibrated.urdf from digital-twin-gz calibrate) instead")


def twin_nodes(options: TwinOptions) -> list[NodeSpec]:
    """The digital_twin_gz nodes of a run, in start order (simulator side first)."""
    robot: dict[str, ParameterValue] = {}
    if options.urdf:
        robot["urdf"] = options.urdf
    if options.xacro_args:
        robot["xacro_args"] = list(options.xacro_args)
    if options.packages:
        robot["packages"] = list(options.packages)
    label = {"profile": options.profile, "motion": options.motion} if options.physical == "emulator" else {}
    thresholds = {} if options.base_position_warn is None else {
        "base_position_warn": options.base_position_warn, "base_position_error": 2.0 * options.base_position_warn}
    remap = options.remappings
    nodes = []
    if options.simulator == "embedded":
        ghost = {"ghost_joint_states": "/physical/joint_states", "ghost_odom": "/physical/odom"} if options.gui else {}
        physics = {"physics_profile": options.virtual_profile} if options.virtual_profile else {}
        nodes.append(NodeSpec("embedded_sim", {**robot, "pacing": options.pacing, "gui": options.gui, **ghost,
                                               **physics}, remap))
    nodes += [
        NodeSpec("gap_monitor", {**robot, **label, "simulator": options.simulator, "out_dir": options.out_dir,
                                 **thresholds, **({"record": options.record} if options.record else {})}, remap),
        NodeSpec("twin_sync", {**robot, "simulator": options.simulator}, remap),
    ]
    if options.physical == "emulator":
        roles = {"joint_roles": options.joint_roles} if options.joint_roles else {}
        nodes.append(NodeSpec("physical_emulator", {**robot, "profile": options.profile, "motion": options.motion,
                                                    **roles}, remap))
    return nodes
