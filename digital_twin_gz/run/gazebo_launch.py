"""What the Gazebo launch files need, worked out without ``launch``: world, model, spawn height, bridge file.

:mod:`digital_twin_gz.run.launch_actions` turns this into launch actions; the tests check it here,
where neither ``launch`` nor Gazebo exists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from digital_twin_gz.gazebo import bridge, joint_state_problem
from digital_twin_gz.robot import (
    JSP_PLUGIN,
    JTC_PLUGIN,
    ODOM_PLUGIN,
    RobotDescription,
    WorldSettings,
    load_description,
    load_world,
    register_packages,
)
from digital_twin_gz.run.graph import TwinOptions
from digital_twin_gz.sim import Simulator

# gz sim's command line for each way of running it: with its GUI, or the server alone for
# CI and remote machines (sensors still render, offscreen). -r: run from the start.
GZ_MODES = {"gui": ("-r",), "headless": ("-s", "-r", "--headless-rendering")}
LAUNCH_MODES = ("embedded", *GZ_MODES)
RETARGETED_BRIDGE = "bridge.yaml"
# ros_gz_sim's gz_sim.launch.py, as installed, declares the gz-sim major version it was built for.
_GZ_VERSION_ARGUMENT = re.compile(
    r"""DeclareLaunchArgument\(\s*['"]gz_version['"]\s*,\s*default_value\s*=\s*['"](\d+)['"]""")


class GazeboSetupError(ValueError):
    """The description and the bridge would not meet in Gazebo; the message says which topics."""


def simulator_of(mode: str) -> str:
    """The simulator a launch mode (embedded, gui, headless) runs."""
    if mode not in LAUNCH_MODES:
        raise ValueError(f"launch mode '{mode}' is not one of {LAUNCH_MODES}")
    return "embedded" if mode == "embedded" else "gazebo"


@dataclass(frozen=True)
class GazeboSetup:
    model: str
    world_name: str
    world_file: Path
    robot_description: str
    spawn_z: float
    bridge_file: Path
    resource_path: Path
    namespace: str = ""  # the robot's ROS namespace: its state publisher, bridge and spawn run in it
    position: tuple[float, float] = (0.0, 0.0)  # m, x y where it is spawned

    def gz_sim_args(self, mode: str) -> list[str]:
        """What follows ``gz sim`` on its command line (gz_sim.launch.py's ``gz_args``)."""
        return [*GZ_MODES[mode], str(self.world_file)]

    def gz_sim_command(self, mode: str, gz_version: str) -> list[str]:
        """``gz sim`` run directly, as gz_sim.launch.py runs it: with ``--force-version``, so the
        gz tool does not pick another installed gz-sim than the one ros_gz was built for."""
        return ["gz", "sim", *self.gz_sim_args(mode), "--force-version", gz_version]


def gz_sim_version(launch_file: Path) -> str:
    """The gz-sim major version an installed ros_gz_sim ``gz_sim.launch.py`` passes to ``--force-version``."""
    found = _GZ_VERSION_ARGUMENT.search(Path(launch_file).read_text())
    if found is None:
        raise GazeboSetupError(f"{launch_file}: no gz_version launch argument with a number as its default; "
                               "cannot tell which gz-sim version ros_gz_sim was built for")
    return found.group(1)


def bridge_file_for(source: Path, model: str, world: str, out_dir: Path) -> Path:
    """The bridge file ``source`` itself when its gz topics already name ``model`` and ``world``;
    otherwise a copy retargeted to them (every other key kept), written into ``out_dir``."""
    entries = bridge.load_bridge(source)
    retargeted = bridge.retarget(entries, model, world)
    if retargeted == entries:
        return source
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RETARGETED_BRIDGE
    path.write_text(bridge.dump(retargeted))
    return path


def system_topics(description: RobotDescription, model: str, world: str) -> dict[str, str]:
    """ROS type of each simulator-side contract entry -> the gz topic the description's system uses
    (what its <gazebo> block sets, else gz-sim's default for a model named ``model``)."""
    systems = {
        "sensor_msgs/msg/JointState": (JSP_PLUGIN, "topic", f"/world/{world}/model/{model}/joint_state"),
        "nav_msgs/msg/Odometry": (ODOM_PLUGIN, "odom_topic", f"/model/{model}/odometry"),
        "trajectory_msgs/msg/JointTrajectory": (JTC_PLUGIN, "topic", f"/model/{model}/joint_trajectory"),
    }
    topics = {}
    for ros_type, (plugin, key, default) in systems.items():
        system = description.system(plugin)
        if system is not None:
            topics[ros_type] = system.param(key, default)
    return topics


def spawn_height(description: RobotDescription, world: WorldSettings) -> float:
    """Base height at which the robot, every joint at zero (as Gazebo spawns it), touches the ground."""
    sim = Simulator(description, world)
    sim.reset(joint_positions=np.zeros(len(description.joint_names)))
    return float(sim.state().base_position[2])


@contextmanager
def _ament_prefix_path_kept() -> Iterator[None]:
    """Loading a description registers its packages under a prefix of their own, put first on
    AMENT_PREFIX_PATH. In the launch process that prefix would hide the installed packages'
    executables from launch_ros (it has share/, no lib/), so the variable is put back."""
    saved = os.environ.get("AMENT_PREFIX_PATH")
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AMENT_PREFIX_PATH", None)
        else:
            os.environ["AMENT_PREFIX_PATH"] = saved


def gazebo_setup(options: TwinOptions) -> GazeboSetup:
    """Everything the Gazebo launch derives from the options: the model is named after the robot
    (``robot_name``, else the namespace's last part, else the description's <robot name>; twin_sync
    resyncs the model of that name), gz topics after it and the world's <world name>, so robots of
    other names share the world. The bridge file for another model or world is written into the
    robot's report directory."""
    packages = options.package_dirs()
    with _ament_prefix_path_kept():
        description = load_description(options.urdf or None, xacro_args=options.xacro_mappings(),
                                       packages=packages)
        resource_path = register_packages(packages) / "share"
    world = load_world(options.world or None)
    model = options.robot or description.name
    source = Path(options.bridge) if options.bridge else bridge.bundled_bridge()
    bridge_file = bridge_file_for(source, model, world.name, options.report_dir.expanduser().resolve())
    expected = system_topics(description, model, world.name)
    mismatched = [f"{e.ros_topic} is bridged to {e.gz_topic} but the description's system uses "
                  f"{expected[e.ros_type]}" for e in bridge.load_bridge(bridge_file)
                  if e.ros_type in expected and e.gz_topic != expected[e.ros_type]]
    problem = joint_state_problem(description)
    if problem:
        raise GazeboSetupError(f"{description.source}: {problem}")
    if mismatched:
        raise GazeboSetupError(f"{description.source}: the Gazebo model '{model}' in world '{world.name}' would "
                               f"not meet the bridge: {'; '.join(mismatched)}. The model is named after "
                               "robot_name (else the namespace, else the description's <robot name>), which the "
                               "launch passes to xacro as robot_name:=NAME; a description whose <gazebo> systems "
                               "name their gz topics otherwise must leave them to gz-sim's defaults or take them "
                               "from that argument")
    return GazeboSetup(model=model, world_name=world.name, world_file=world.source.resolve(),
                       robot_description=description.urdf, spawn_z=spawn_height(description, world),
                       bridge_file=bridge_file.resolve(), resource_path=resource_path, namespace=options.namespace,
                       position=options.position)
