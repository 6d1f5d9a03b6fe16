"""The embedded simulator (MuJoCo), free of ROS."""

from digital_twin_gz.sim.controller import Trajectory, TrajectoryController, TrajectoryError
from digital_twin_gz.sim.simulator import RobotState, Simulator
from digital_twin_gz.sim.timebase import SimClock, clock_jumped

__all__ = ["RobotState", "SimClock", "Simulator", "Trajectory", "TrajectoryController", "TrajectoryError",
           "clock_jumped"]
