"""twin_container: several of the twin's nodes in one process, on one executor.

What a ROS component container does for rclcpp nodes, for these rclpy ones: ``twin_container
embedded_sim twin_sync gap_monitor --ros-args --params-file twin.yaml`` runs the three nodes
in one process. Each node reads its own section of the params file (give per-node values
there, not as ``-p``, which would reach every node); remappings apply to all of them. The nodes
finish in the order given, so give them along the data flow.
"""

from __future__ import annotations

import os
import sys

from rclpy.utilities import remove_ros_args

from digital_twin_gz.nodes.common import run_nodes
from digital_twin_gz.nodes.embedded_sim import EmbeddedSim
from digital_twin_gz.nodes.gap_monitor import GapMonitor
from digital_twin_gz.nodes.physical_emulator import PhysicalEmulator
from digital_twin_gz.nodes.twin_sync import TwinSync

NODES = {"embedded_sim": EmbeddedSim, "twin_sync": TwinSync, "gap_monitor": GapMonitor,
         "physical_emulator": PhysicalEmulator}


def main(args: list[str] | None = None) -> None:
    argv = sys.argv if args is None else args
    names = remove_ros_args(argv)[1:]
    unknown = [name for name in names if name not in NODES]
    if not names or unknown:
        sys.exit(f"twin_container: {'unknown nodes ' + ', '.join(unknown) if unknown else 'no node given'}; "
                 f"give some of {', '.join(NODES)} (then --ros-args ...)")
    nodes = run_nodes([NODES[name] for name in names], argv)
    if any(getattr(node, "viewer", None) is not None for node in nodes):
        # MuJoCo's viewer thread can crash the interpreter's exit; nothing is left to flush.
        os._exit(0)


if __name__ == "__main__":
    main()
