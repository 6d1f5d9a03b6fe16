"""Teleoperation of the virtual humanoid: the rules (selection, nudges, presets, rate limits), the
mirror to the physical robot within its limits, the ROS node and the terminal UI."""

from digital_twin_gz.teleop.mirror import MirrorGate, MirrorLimiter
from digital_twin_gz.teleop.rules import FALLBACK_VELOCITY, PRESETS, STEPS, Teleop, Ticks, joint_speeds, limit_step

__all__ = ["FALLBACK_VELOCITY", "PRESETS", "STEPS", "MirrorGate", "MirrorLimiter", "Teleop", "Ticks", "joint_speeds",
           "limit_step"]
