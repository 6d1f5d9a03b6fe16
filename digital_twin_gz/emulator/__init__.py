"""The emulated physical robot: a perturbed copy of the model performing motions (sim-to-sim)."""

from digital_twin_gz.emulator.motions import Motion
from digital_twin_gz.emulator.physical import (
    Measurement,
    MeasurementPerturbation,
    PhysicalRobot,
    PhysicsPerturbation,
    Profile,
    ProfileError,
    apply_physics,
    command_refusal,
    foot_links,
    load_profile,
)

__all__ = ["Measurement", "MeasurementPerturbation", "Motion", "PhysicalRobot", "PhysicsPerturbation", "Profile",
           "ProfileError", "apply_physics", "command_refusal", "foot_links", "load_profile"]
