"""Running the twin: the node graph declared once, private local ROS domains, the demo, and what
the launch files need (``launch_actions`` is imported by the launch files alone: it needs ``launch``)."""

from digital_twin_gz.run.arguments import LAUNCH_ARGUMENTS, LaunchArgument, launch_arguments, launch_options
from digital_twin_gz.run.demo import DemoError, DemoResult, RobotResult, prepare_outputs, run_demo
from digital_twin_gz.run.gazebo_launch import (
    LAUNCH_MODES,
    RETARGETED_BRIDGE,
    GazeboSetup,
    GazeboSetupError,
    bridge_file_for,
    gazebo_setup,
    gz_sim_version,
    simulator_of,
    spawn_height,
    system_topics,
)
from digital_twin_gz.run.graph import (
    CONTAINER,
    PACKAGE,
    SIMULATORS,
    NodeSpec,
    TwinOptions,
    check_namespace,
    in_one_process,
    node_sections,
    twin_nodes,
    write_params,
)
from digital_twin_gz.run.rosenv import Domain, NodeProcess, local_env, process_cpu_seconds, remove_stale_shm

__all__ = ["CONTAINER", "LAUNCH_ARGUMENTS", "LAUNCH_MODES", "PACKAGE", "RETARGETED_BRIDGE", "SIMULATORS",
           "DemoError", "DemoResult", "Domain", "GazeboSetup", "GazeboSetupError", "LaunchArgument", "NodeProcess",
           "NodeSpec", "RobotResult", "TwinOptions", "bridge_file_for", "check_namespace", "gazebo_setup",
           "gz_sim_version", "in_one_process", "launch_arguments", "launch_options", "local_env", "node_sections",
           "prepare_outputs", "process_cpu_seconds", "remove_stale_shm", "run_demo", "simulator_of", "spawn_height",
           "system_topics", "twin_nodes", "write_params"]
