"""What calibration can fit: the parameters, their bounds and meaning, and a candidate model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digital_twin_gz.emulator import PhysicsPerturbation

# Parameters a replay determines only as a ratio (see the package's docstring).
RIDGE = ("mass_scale", "actuator_gain")


class CalibrationError(ValueError):
    """Options or a recording that calibration cannot use; the message says what to change."""


@dataclass(frozen=True)
class Parameter:
    name: str
    lower: float
    upper: float
    nominal: float
    unit: str
    meaning: str


PARAMETERS = {p.name: p for p in (
    Parameter("mass_scale", 0.7, 1.3, 1.0, "", "every link's mass and inertia, scaled"),
    Parameter("foot_friction", 0.2, 1.5, 1.0, "",
              "friction coefficient of the feet on the ground (nominal: the description's mu1)"),
    Parameter("joint_damping", 0.0, 10.0, 0.0, "N m s/rad", "viscous damping added to every actuated joint"),
    Parameter("joint_friction", 0.0, 5.0, 0.0, "N m", "Coulomb friction added to every actuated joint"),
    Parameter("actuator_gain", 0.6, 1.4, 1.0, "",
              "scale of every actuator's output (PD and effort feed-forward alike)"),
    Parameter("latency", 0.0, 0.05, 0.0, "s", "delay after a sample's stamp before the virtual robot acts on it"),
)}


def parse_params(text: str) -> tuple[str, ...]:
    """``"mass_scale,latency"`` -> the parameter names, checked."""
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in PARAMETERS]
    if unknown or not names:
        raise CalibrationError(f"unknown parameters {unknown}; choose from {', '.join(PARAMETERS)}" if unknown
                               else f"no parameters given; choose from {', '.join(PARAMETERS)}")
    return names


@dataclass(frozen=True)
class Candidate:
    """A virtual model to try: physics for apply_physics, and the delay of the replay."""

    physics: PhysicsPerturbation
    latency: float = 0.0

    @classmethod
    def of(cls, names: tuple[str, ...], values: np.ndarray) -> Candidate:
        fields = {name: float(v) for name, v in zip(names, values)}
        latency = fields.pop("latency", 0.0)
        return cls(PhysicsPerturbation(**fields), latency)
