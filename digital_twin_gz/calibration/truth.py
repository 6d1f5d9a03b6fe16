"""The true values of fitted parameters, where a recording knows them.

An emulated recording (:func:`~digital_twin_gz.recording.record_emulated`) carries the emulated
robot's physics and measurement in its metadata. A parameter's truth is what the twin should
take to be that robot: for the physics the profile's own value when the parameter can express it
(a link-pattern mass scale or a joint-to-joint gain spread cannot be, and leave no truth), for
``actuator_gain`` 1 (the twin's feed-forward is the measured torque, which the emulator reports
as applied, whatever its own gain), for ``joint_delay`` the measurement's ``joint_delay_s``.
"""

from __future__ import annotations

import json

from digital_twin_gz.calibration.parameters import DELAY, Parameter
from digital_twin_gz.emulator import MeasurementPerturbation, PhysicsPerturbation, group_value
from digital_twin_gz.robot import GROUPS


def truths(metadata: dict[str, str], parameters: list[Parameter]) -> list[float | None]:
    """One truth per parameter, None where unknown (a real robot's recording: all of them)."""
    try:
        physics = PhysicsPerturbation(**json.loads(metadata["physics"]))
        measurement = MeasurementPerturbation(**json.loads(metadata["measurement"]))
    except (KeyError, TypeError, ValueError):
        return [None] * len(parameters)
    return [_truth(p, physics, measurement) for p in parameters]


def _truth(parameter: Parameter, physics: PhysicsPerturbation, measurement: MeasurementPerturbation) -> float | None:
    if parameter.field == DELAY:
        return measurement.joint_delay_s
    if parameter.field == "actuator_gain":
        return 1.0
    if parameter.field == "mass_scale" and physics.link_mass_scale:
        return None
    if parameter.field == "foot_friction":
        return physics.foot_friction
    value = getattr(physics, parameter.field)
    default = 1.0 if parameter.field == "mass_scale" else 0.0
    if parameter.group is None:
        if isinstance(value, dict):  # per group in the profile: one number only if they agree
            values = {group_value(value, g, default) for g in GROUPS}
            return values.pop() if len(values) == 1 else None
        return float(value)
    return group_value(value, parameter.group, default)
