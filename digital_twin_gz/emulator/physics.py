"""Physics changed in a compiled MuJoCo model: the one way the emulated robot differs from its model,
a calibrated twin takes its fitted physics, and calibration tries candidates."""

from __future__ import annotations

import fnmatch

import mujoco
import numpy as np

from digital_twin_gz.emulator.profile import PhysicsPerturbation, group_value
from digital_twin_gz.robot.groups import BodyParts
from digital_twin_gz.sim.builder import BuiltModel


def joint_values(value: float | dict[str, float], parts: BodyParts, default: float) -> np.ndarray:
    """A per-group joint field as one value per actuated joint (description order)."""
    return np.array([group_value(value, group, default) for group in parts.joints])


def apply_physics(model: mujoco.MjModel, built: BuiltModel, physics: PhysicsPerturbation, parts: BodyParts,
                  seed: int = 0) -> None:
    """Change ``model`` (compiled by :func:`~digital_twin_gz.sim.builder.build_model` as ``built``)
    in place to the perturbed physics; a simulator on it should be reset afterwards."""
    for body in range(1, model.nbody):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_BODY, body)
        scale = group_value(physics.mass_scale, parts.links.get(name, "torso"), 1.0)
        for pattern, link_scale in physics.link_mass_scale.items():
            if fnmatch.fnmatchcase(name, pattern):
                scale *= link_scale
        model.body_mass[body] *= scale
        model.body_inertia[body] *= scale
    if physics.foot_friction is not None:
        foot_bodies = {mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, link) for link in parts.feet}
        geoms = [g for g in built.robot_geoms if model.geom_bodyid[g] in foot_bodies]
        model.geom_friction[geoms, 0] = physics.foot_friction
    dofs = built.dof_index
    for array, value in ((model.dof_damping, physics.joint_damping), (model.dof_frictionloss, physics.joint_friction),
                         (model.dof_armature, physics.joint_armature)):
        array[dofs] = np.maximum(array[dofs] + joint_values(value, parts, 0.0), 0.0)
    actuators = built.actuators  # (3, n): each joint's three actuators scale alike
    gain = physics.actuator_gain * (1.0 + physics.actuator_gain_spread
                                    * np.random.default_rng(seed).standard_normal(actuators.shape[1]))
    gain = np.clip(gain, 0.05, None)
    model.actuator_gainprm[actuators, 0] *= gain
    model.actuator_biasprm[actuators, 1] *= gain
    model.actuator_biasprm[actuators, 2] *= gain
    mujoco.mj_setConst(model, mujoco.MjData(model))
