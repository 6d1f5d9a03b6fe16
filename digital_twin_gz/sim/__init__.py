"""The embedded simulator (MuJoCo), free of ROS."""

from digital_twin_gz.sim.controller import Trajectory, TrajectoryController, TrajectoryError
from digital_twin_gz.sim.simulator import RobotState, Simulator

__all__ = ["RobotState", "Simulator", "Trajectory", "TrajectoryController", "TrajectoryError"]
