"""The emulated physical robot: the same description with different physics (sim-to-sim).

A profile (``config/physical_profiles/<name>.yaml``) says how the "real" robot differs
from its model: link masses, foot friction, joint damping and friction, actuator gain,
and how it is measured: encoder noise, mocap noise on the base pose, latency, dropped
messages. :func:`apply_physics` is also how calibration tries candidate models, so the
emulator and the calibrated twin perturb MuJoCo in exactly one way.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field, fields
from pathlib import Path

import mujoco
import numpy as np
import yaml

from digital_twin_gz.emulator.motions import Motion
from digital_twin_gz.robot import JointRoles, RobotDescription, WorldSettings, share_dir
from digital_twin_gz.sim import Simulator, Trajectory
from digital_twin_gz.sim.simulator import RobotState


class ProfileError(ValueError):
    """A profile that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class PhysicsPerturbation:
    """How the physical robot's physics differ from the description (1.0 / 0.0 = as modelled)."""

    mass_scale: float = 1.0
    link_mass_scale: dict[str, float] = field(default_factory=dict)
    foot_friction: float | None = None
    joint_damping: float = 0.0
    joint_friction: float = 0.0
    actuator_gain: float = 1.0
    actuator_gain_spread: float = 0.0


@dataclass(frozen=True)
class MeasurementPerturbation:
    """How the physical robot is measured."""

    encoder_noise_rad: float = 0.0
    mocap_noise_position_m: float = 0.0
    mocap_noise_orientation_rad: float = 0.0
    latency_s: float = 0.0
    drop_rate: float = 0.0


@dataclass(frozen=True)
class Profile:
    name: str
    physics: PhysicsPerturbation
    measurement: MeasurementPerturbation
    seed: int = 0
    summary: str = ""


def profiles_dir() -> Path:
    return share_dir() / "config" / "physical_profiles"


def profile_names() -> list[str]:
    return sorted(p.stem for p in profiles_dir().glob("*.yaml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile by name (bundled) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = profiles_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ProfileError(f"no profile '{name_or_path}' (bundled: {', '.join(profile_names())}; "
                               "or give a path to a .yaml file)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ProfileError(f"{path}: cannot read profile: {err}") from err
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping of profile fields")
    sections = {"physics": PhysicsPerturbation, "measurement": MeasurementPerturbation}
    unknown = set(data) - set(sections) - {"seed", "summary"}
    if unknown:
        raise ProfileError(f"{path}: unknown fields {sorted(unknown)} (expected physics, measurement, seed, summary)")
    parts = {}
    for key, cls in sections.items():
        values = data.get(key) or {}
        allowed = {f.name for f in fields(cls)}
        if not isinstance(values, dict) or set(values) - allowed:
            raise ProfileError(f"{path}: {key}: unknown fields {sorted(set(values) - allowed)} "
                               f"(allowed: {', '.join(sorted(allowed))})")
        try:
            parts[key] = cls(**values)
        except TypeError as err:
            raise ProfileError(f"{path}: {key}: {err}") from err
    _validate(path, parts["physics"], parts["measurement"])
    return Profile(path.stem, parts["physics"], parts["measurement"], int(data.get("seed", 0)),
                   str(data.get("summary", "")))


def _validate(path: Path, physics: PhysicsPerturbation, measurement: MeasurementPerturbation) -> None:
    positive = {"physics.mass_scale": physics.mass_scale, "physics.actuator_gain": physics.actuator_gain,
                **{f"physics.link_mass_scale['{k}']": v for k, v in physics.link_mass_scale.items()}}
    if physics.foot_friction is not None:
        positive["physics.foot_friction"] = physics.foot_friction
    non_negative = {"physics.joint_damping": physics.joint_damping, "physics.joint_friction": physics.joint_friction,
                    "physics.actuator_gain_spread": physics.actuator_gain_spread,
                    **{f"measurement.{f.name}": getattr(measurement, f.name) for f in fields(measurement)}}
    for name, value in positive.items():
        if not (isinstance(value, (int, float)) and value > 0):
            raise ProfileError(f"{path}: {name} must be a positive number, got {value!r}")
    for name, value in non_negative.items():
        if not (isinstance(value, (int, float)) and value >= 0):
            raise ProfileError(f"{path}: {name} must be a number >= 0, got {value!r}")
    if measurement.drop_rate >= 1:
        raise ProfileError(f"{path}: measurement.drop_rate must be below 1, got {measurement.drop_rate}")


def foot_links(description: RobotDescription, roles: JointRoles) -> list[str]:
    """Links at and below each ankle: the ones that touch the ground when standing."""
    feet = []
    for side in ("left", "right"):
        role = next((r for r in (f"{side}_ankle_pitch", f"{side}_ankle_roll") if r in roles.joints), None)
        if role is None:
            continue
        feet += description.below(description.joints[description.joint_names[roles.index(role)]].child)
    return feet


def apply_physics(sim: Simulator, physics: PhysicsPerturbation, feet: list[str], seed: int = 0) -> None:
    """Change the simulator's MuJoCo model in place to the perturbed physics."""
    model = sim.model
    for body in range(1, model.nbody):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, body)
        scale = physics.mass_scale
        for pattern, link_scale in physics.link_mass_scale.items():
            if fnmatch.fnmatchcase(name, pattern):
                scale *= link_scale
        model.body_mass[body] *= scale
        model.body_inertia[body] *= scale
    if physics.foot_friction is not None:
        foot_bodies = {mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, link) for link in feet}
        geoms = [g for g in sim.built.robot_geoms if model.geom_bodyid[g] in foot_bodies]
        model.geom_friction[geoms, 0] = physics.foot_friction
    dofs = sim.built.dof_index
    model.dof_damping[dofs] += physics.joint_damping
    model.dof_frictionloss[dofs] += physics.joint_friction
    actuators = sim.built.actuators  # (3, n): each joint's three actuators scale alike
    gain = physics.actuator_gain * (1.0 + physics.actuator_gain_spread
                                    * np.random.default_rng(seed).standard_normal(actuators.shape[1]))
    gain = np.clip(gain, 0.05, None)
    model.actuator_gainprm[actuators, 0] *= gain
    model.actuator_biasprm[actuators, 1] *= gain
    model.actuator_biasprm[actuators, 2] *= gain
    mujoco.mj_setConst(model, sim.data)


@dataclass(frozen=True)
class Measurement:
    """One measured sample: stamp (s, the robot's clock), joints, base pose (x, y, z, w)."""

    stamp: float
    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    joint_efforts: np.ndarray
    base_position: np.ndarray
    base_orientation: np.ndarray
    base_linear_velocity: np.ndarray
    base_angular_velocity: np.ndarray


class Sensors:
    """Encoder and mocap noise, and which samples are lost, drawn from one seeded generator."""

    def __init__(self, measurement: MeasurementPerturbation, seed: int) -> None:
        self.measurement = measurement
        self.rng = np.random.default_rng(seed + 1)

    def measure(self, stamp: float, state: RobotState) -> Measurement:
        m, rng = self.measurement, self.rng
        n = len(state.joint_positions)
        rotvec = rng.standard_normal(3) * m.mocap_noise_orientation_rad
        angle = np.linalg.norm(rotvec)
        axis = rotvec / angle if angle > 0 else np.zeros(3)
        noise = np.concatenate([axis * np.sin(angle / 2), [np.cos(angle / 2)]])
        return Measurement(
            stamp=stamp,
            joint_positions=state.joint_positions + rng.standard_normal(n) * m.encoder_noise_rad,
            joint_velocities=state.joint_velocities,
            joint_efforts=state.joint_efforts,
            base_position=state.base_position + rng.standard_normal(3) * m.mocap_noise_position_m,
            base_orientation=_quat_multiply(state.base_orientation, noise),
            base_linear_velocity=state.base_linear_velocity,
            base_angular_velocity=state.base_angular_velocity,
        )

    def dropped(self) -> bool:
        return self.measurement.drop_rate > 0 and self.rng.random() < self.measurement.drop_rate


def _quat_multiply(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of x, y, z, w quaternions."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz])


def command_refusal(stamp: float, now: float, max_age: float) -> str | None:
    """Why a joint command stamped ``stamp`` is not obeyed at ``now`` (the robot's command timeout:
    one older than ``max_age`` s is stale, one from further than that ahead is from a clock that is
    off), or None."""
    age = now - stamp
    if age > max_age:
        return f"stamped {age:.3f} s ago, older than {max_age:g} s"
    if age < -max_age:
        return f"stamped {-age:.3f} s ahead of this robot's clock"
    return None


class PhysicalRobot:
    """A perturbed simulator performing a motion on its own controller.

    Joint commands (``command``) take over the joints they name, as a real robot obeys its
    command interface, and hold them at the last command when the commands stop (a sender that
    died leaves the robot standing where it was sent, not resuming what it did before).
    """

    CONTROL_PERIOD = 0.002

    def __init__(self, description: RobotDescription, world: WorldSettings, profile: Profile, motion: Motion,
                 roles: JointRoles, position: tuple[float, float] = (0.0, 0.0)) -> None:
        """``position``: x, y (m) where the robot stands on the (unbounded, flat) ground, as robots
        sharing a lab stand apart; their measured base poses say so."""
        self.description = description
        self.profile = profile
        self.motion = motion
        self.sim = Simulator(description, world)
        apply_physics(self.sim, profile.physics, foot_links(description, roles), profile.seed)
        self.sim.reset()
        self.sim.settle()
        if any(position):
            state = self.sim.state()
            self.sim.set_base_pose(state.base_position + np.array([*position, 0.0]), state.base_orientation)
        self.sensors = Sensors(profile.measurement, profile.seed)
        self._all = np.arange(len(description.joint_names))
        self._command = np.full(len(self._all), np.nan)
        self._ticks = 0  # control periods run so far

    def command(self, joint_index: np.ndarray, positions: np.ndarray) -> None:
        """Position targets for some joints, from now on (clamped to the joint limits)."""
        lower, upper = self.description.lower[joint_index], self.description.upper[joint_index]
        self._command[joint_index] = np.clip(positions, lower, upper)

    def targets(self, t: float) -> np.ndarray:
        targets = self.motion.positions(t)
        commanded = ~np.isnan(self._command)
        targets[commanded] = self._command[commanded]
        return targets

    def advance(self, t: float) -> None:
        """Run physics and the robot's controller up to time ``t`` (s since start): every control
        period that begins at or before ``t``. Periods are counted, not summed, and a ``t`` on a
        period's start (a 250 Hz measurement on the 2 ms controller) is on it however its float
        rounded: summed, one 250 Hz measurement in ~1000 came 2 ms early and the next 6 ms late."""
        last = int(np.floor(t / self.CONTROL_PERIOD + 1e-6))
        while self._ticks <= last:
            self._ticks += 1
            ahead = self._ticks * self.CONTROL_PERIOD
            self.sim.follow(Trajectory(self._all, np.array([self.CONTROL_PERIOD]), self.targets(ahead)[None, :]))
            self.sim.step_to(ahead)

    def measure(self, origin: float = 0.0) -> Measurement:
        """The sensors' view of the robot now, stamped ``origin + time``."""
        return self.sensors.measure(origin + self.sim.time, self.sim.state())
