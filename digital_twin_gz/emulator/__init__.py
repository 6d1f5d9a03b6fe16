"""The emulated physical robot: a perturbed copy of the model performing motions (sim-to-sim)."""

from digital_twin_gz.emulator.motions import Motion
from digital_twin_gz.emulator.physical import COMMAND_BANDWIDTH_HZ, Measurement, PhysicalRobot, command_refusal
from digital_twin_gz.emulator.physics import apply_physics, joint_values
from digital_twin_gz.emulator.profile import (
    MeasurementPerturbation,
    PerGroup,
    PhysicsPerturbation,
    Profile,
    ProfileError,
    group_value,
    load_profile,
)

__all__ = ["COMMAND_BANDWIDTH_HZ", "Measurement", "MeasurementPerturbation", "Motion", "PerGroup", "PhysicalRobot",
           "PhysicsPerturbation", "Profile", "ProfileError", "apply_physics", "command_refusal", "group_value",
           "joint_values", "load_profile"]
