"""The twin as ``launch`` actions, shared by the three files in ``launch/``.

Only the launch files import this module: it needs ``launch`` and ``launch_ros``, which exist
on a ROS install alone. Each launch file is one call to :func:`twin_launch_description`; the
nodes, their parameters and remappings come from :func:`digital_twin_gz.run.graph.twin_nodes`, as
for ``digital-twin-gz demo``, and what Gazebo needs from :mod:`digital_twin_gz.run.gazebo_launch`.
"""

from __future__ import annotations

import shlex
import tempfile
from dataclasses import replace
from pathlib import Path

from ament_index_python.packages import get_package_share_directory
from launch import LaunchContext, LaunchDescription
from launch.actions import (
    AppendEnvironmentVariable,
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    RegisterEventHandler,
    Shutdown,
)
from launch.event_handlers import OnProcessExit
from launch.events.process import ProcessExited
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from digital_twin_gz.robot import params_file
from digital_twin_gz.run.arguments import launch_arguments, launch_options
from digital_twin_gz.run.gazebo_launch import GazeboSetup, gazebo_setup, gz_sim_version, simulator_of
from digital_twin_gz.run.graph import CONTAINER, NodeSpec, TwinOptions, twin_nodes, write_params
from digital_twin_gz.run.graph import ParameterValue as NodeParameter


def twin_launch_description(mode: str) -> LaunchDescription:
    """The twin on the embedded simulator (``embedded``) or on Gazebo (``gui``, ``headless``)."""
    simulator = simulator_of(mode)
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description,
                                      choices=list(a.choices) or None) for a in launch_arguments(simulator)]
    return LaunchDescription([*declared, OpaqueFunction(function=_start, args=[mode])])


def _start(context: LaunchContext, mode: str) -> list:
    simulator = simulator_of(mode)
    options = launch_options(simulator, {a.name: LaunchConfiguration(a.name).perform(context)
                                         for a in launch_arguments(simulator)})
    if simulator == "embedded":
        return twin_node_actions(options)
    setup = gazebo_setup(options)
    return gazebo_actions(setup, mode, replace(options, world=str(setup.world_file), bridge=str(setup.bridge_file)))


def _typed(value: NodeParameter) -> NodeParameter | ParameterValue:
    """Strings stay strings: launch_ros would read a bare string as YAML ('1' -> 1, 'true' -> True)."""
    if isinstance(value, str):
        return ParameterValue(value, value_type=str)
    if isinstance(value, list):
        return ParameterValue(value, value_type=list[float] if value and all(isinstance(v, float) for v in value)
                              else list[str])
    return value


def twin_node(spec: NodeSpec, params: Path | None = None) -> Node:
    """One process of the graph: its params file (config/twin.yaml), then the spec's parameters on
    top (as the demo does), in the robot's namespace. The container gets no name: launch_ros would
    pass ``__node:=NAME``, which renames every node of the process."""
    overrides = {key: _typed(value) for key, value in spec.parameters.items()}
    return Node(package=spec.package, executable=spec.executable, name=None if spec.arguments else spec.name,
                namespace=spec.namespace or None, output="screen", arguments=list(spec.arguments),
                parameters=[str(params or params_file()), overrides], remappings=list(spec.remappings))


def twin_node_actions(options: TwinOptions) -> list[Node]:
    with tempfile.NamedTemporaryFile("w", prefix=f"{CONTAINER}-", suffix=params_file().suffix, delete=False) as handle:
        params = Path(handle.name)
    return [twin_node(spec, path) for spec, path in write_params(twin_nodes(options), options.one_process, params)]


def gazebo(setup: GazeboSetup, mode: str) -> IncludeLaunchDescription | ExecuteProcess:
    """gz sim on the world. With the GUI through ros_gz_sim's gz_sim.launch.py: closing the window
    ends the launch. That file runs gz through a shell, which does not pass launch's SIGINT on
    (ros2/launch#545, #757): the server would outlive a headless run and its exit code would be
    wrong, so headless runs (CI, launch_testing) start gz sim directly."""
    gz_sim_launch = Path(get_package_share_directory("ros_gz_sim"), "launch", "gz_sim.launch.py")
    if mode == "gui":
        return IncludeLaunchDescription(
            PythonLaunchDescriptionSource(str(gz_sim_launch)),
            launch_arguments={"gz_args": shlex.join(setup.gz_sim_args(mode)), "on_exit_shutdown": "true"}.items())
    return ExecuteProcess(cmd=setup.gz_sim_command(mode, gz_sim_version(gz_sim_launch)), name="gazebo",
                          output="screen", on_exit=Shutdown(reason="gz sim exited"))


def gazebo_actions(setup: GazeboSetup, mode: str, options: TwinOptions) -> list:
    """Gazebo on the world (unless another robot's launch started it), the robot spawned from
    robot_description, the bridge, all in the robot's namespace; then the twin's nodes."""
    namespace = setup.namespace or None
    # In a namespace the simulator's clock is bridged to <namespace>/clock (the bridge file's clock is
    # relative), and the nodes on sim time read it there.
    clock = [("/clock", "clock")] if setup.namespace else []
    # Frames of each robot apart on the one /tf: robot_1/base_link.
    frames = {"frame_prefix": f"{setup.namespace.strip('/')}/"} if setup.namespace else {}
    state_publisher = Node(
        package="robot_state_publisher", executable="robot_state_publisher", output="screen", namespace=namespace,
        parameters=[{"robot_description": _typed(setup.robot_description), "use_sim_time": True, **frames}],
        remappings=clock)
    # Bridged states are stamped with the wall clock, the time base of the physical robot's
    # samples, so gap_monitor pairs each virtual state with the physical state of that moment.
    gz_bridge = Node(
        package="ros_gz_bridge", executable="parameter_bridge", output="screen", namespace=namespace,
        parameters=[{"config_file": _typed(str(setup.bridge_file)), "use_sim_time": True,
                     "override_timestamps_with_wall_time": True}], remappings=clock)
    spawn = Node(
        package="ros_gz_sim", executable="create", output="screen", namespace=namespace,
        arguments=["-world", setup.world_name, "-topic", "robot_description", "-name", setup.model,
                   "-x", f"{setup.position[0]:.4f}", "-y", f"{setup.position[1]:.4f}", "-z", f"{setup.spawn_z:.4f}"])

    def after_spawn(event: ProcessExited, context: LaunchContext) -> list:
        if event.returncode != 0:
            return [Shutdown(reason=f"spawning '{setup.model}' into world '{setup.world_name}' failed "
                                    f"(create exited with {event.returncode})")]
        return twin_node_actions(options)

    simulator = [gazebo(setup, mode)] if options.start_gazebo else []
    return [AppendEnvironmentVariable("GZ_SIM_RESOURCE_PATH", str(setup.resource_path)), *simulator,
            state_publisher, gz_bridge, spawn,
            RegisterEventHandler(OnProcessExit(target_action=spawn, on_exit=after_spawn))]
