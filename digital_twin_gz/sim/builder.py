"""Build the MuJoCo model of a robot description, as Gazebo would simulate it.

What Gazebo reads, this reads: the expanded URDF (links, inertias, limits, damping and
friction), the world's physics step, gravity and ground friction, and the
JointTrajectoryController gains. Choices that make MuJoCo behave like gz-sim:

- the root link gets a free joint (URDF import welds it to the world);
- links of the robot do not collide with each other (gz-sim's ``self_collide`` is off by
  default), only with the ground;
- robot/ground friction is the smaller of the robot link's ``mu1`` (the last one its
  ``<gazebo reference>`` blocks set, as sdformat keeps; default 1, as in gz-sim) and the
  ground's, as gz-sim/ODE combine them, set on the robot's geoms (geom priority);
- a link without ``<inertial>`` has no mass (no inertia from its geoms): under a fixed joint
  it adds nothing to the body, as sdformat's lumping; ``<mimic>`` joints are held to their
  leader by MuJoCo's URDF import (an equality constraint), as gz-physics' mimic constraint
  (with a tiny armature, ``MIMIC_ARMATURE``, for links of a few milligrams);
- meshes go through :mod:`digital_twin_gz.sim.meshes` (ASCII STL, DAE, ... converted); a
  ``<mujoco>`` block a description carries for MuJoCo's own import is replaced by the twin's;
- JointTrajectoryController's force law (:mod:`digital_twin_gz.sim.controller`) acts through
  three actuators per actuated joint: the position PID (affine ``ctrl - p*q - d*qdot`` within
  its cmd limits), the velocity PID (``ctrl - p_v*qdot`` within its cmd limits) and the effort
  target; their sum is clipped to the joint's effort limit, as DART clips a force command;
- the integrator is Euler: actuator forces explicit (computed at the start of a step and held
  through it, as gz-sim applies a force command to DART), joint damping implicit (as DART's).
  Gains too stiff to be stable that way at the world's step oscillate here as in Gazebo.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
from lxml import etree

from digital_twin_gz.robot import DescriptionError, PackageNotFound, RobotDescription, WorldSettings, resolve_uri
from digital_twin_gz.sim.meshes import MeshError, check_mesh

GROUND = "ground"
ACTUATOR_ROLES = ("position", "velocity", "effort")
# kg m^2 on the joints a mimic constraint holds: NAO's 2 mg finger links, held by the constraint
# alone, blew up within 1.3 s at 1 kHz; a rotor inertia (which no real joint lacks) this small
# keeps them stable and changes nothing else.
MIMIC_ARMATURE = 1e-6
COMPILER = ('<compiler discardvisual="false" fusestatic="false" strippath="false" balanceinertia="true" '
            'inertiafromgeom="false"/>')


@dataclass(frozen=True)
class BuiltModel:
    """A compiled model with the index maps from the description's joint order."""

    model: mujoco.MjModel
    qpos_index: np.ndarray
    dof_index: np.ndarray
    actuators: np.ndarray  # (3, n): position PID, velocity PID and effort actuator of each joint
    robot_geoms: np.ndarray


def _mujoco_urdf(description: RobotDescription) -> tuple[str, dict[str, float]]:
    """URDF text MuJoCo can parse, and the gz ``mu1`` friction of each link that sets one."""
    robot = etree.fromstring(description.urdf.encode())
    friction = {}
    for gazebo in robot.findall("gazebo"):
        mus = [mu for mu in gazebo.iter("mu1") if mu.text and mu.text.strip()]
        if gazebo.get("reference") and mus:
            friction[gazebo.get("reference")] = _number(mus[-1].text, f"<gazebo reference="
                                                        f"'{gazebo.get('reference')}'> <mu1>", description)
        robot.remove(gazebo)
    for block in robot.findall("mujoco"):
        robot.remove(block)
    for link in robot.findall("link"):
        for mesh in link.iter("mesh"):
            uri = mesh.get("filename", "")
            try:
                path = resolve_uri(uri, description.source.parent, description.packages)
            except PackageNotFound as err:
                raise MeshError(f"{description.source}: link '{link.get('name')}': mesh {uri}: {err}") from err
            mesh.set("filename", str(check_mesh(path.resolve(), str(description.source), link.get("name"), uri)))
    robot.insert(0, etree.fromstring(f"<mujoco>{COMPILER}</mujoco>"))
    return etree.tostring(robot).decode(), friction


def _number(text: str, what: str, description: RobotDescription) -> float:
    try:
        return float(text)
    except ValueError as err:
        raise DescriptionError(f"{description.source}: {what} is {text!r}, not a number") from err


def _add_scene(spec: mujoco.MjSpec, world: WorldSettings, root: str) -> None:
    spec.option.timestep = world.step
    spec.option.gravity = world.gravity
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_EULER
    spec.visual.global_.offwidth = 1280
    spec.visual.global_.offheight = 960
    spec.add_texture(name="sky", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                     builtin=mujoco.mjtBuiltin.mjBUILTIN_GRADIENT, width=512, height=512,
                     rgb1=[0.55, 0.7, 0.9], rgb2=[0.95, 0.97, 1.0])
    grid = spec.add_texture(name="grid", type=mujoco.mjtTexture.mjTEXTURE_2D,
                            builtin=mujoco.mjtBuiltin.mjBUILTIN_CHECKER, width=512, height=512,
                            rgb1=[0.82, 0.84, 0.86], rgb2=[0.72, 0.74, 0.76])
    material = spec.add_material(name="grid", texrepeat=[8, 8], reflectance=0.05)
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = grid.name
    spec.worldbody.add_geom(name=GROUND, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[0, 0, 0.05],
                            material="grid", friction=[world.ground_friction, 0.005, 0.0001],
                            contype=1, conaffinity=1)
    spec.worldbody.add_light(name="sun", pos=[0, 0, 6], dir=[-0.3, 0.1, -1.0],
                             type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, diffuse=[0.8, 0.8, 0.8], castshadow=True)
    spec.worldbody.add_camera(name="front", pos=[3.2, 0, 1.1], mode=mujoco.mjtCamLight.mjCAMLIGHT_TARGETBODYCOM,
                              targetbody=root)
    spec.worldbody.add_camera(name="side", pos=[0, -3.2, 1.1], mode=mujoco.mjtCamLight.mjCAMLIGHT_TARGETBODYCOM,
                              targetbody=root)


def _limited(actuator: mujoco.MjsActuator, low: float, high: float) -> None:
    """gz::math::PID clamps its output to [cmd_min, cmd_max] only when cmd_max >= cmd_min."""
    if high >= low:
        actuator.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
        actuator.forcerange = [low, high]


def _add_actuators(spec: mujoco.MjSpec, description: RobotDescription) -> None:
    g = description.gains
    for k, name in enumerate(description.joint_names):
        actuators = {}
        for role in ACTUATOR_ROLES:
            actuator = actuators[role] = spec.add_actuator(name=f"{name}:{role}", target=name,
                                                           trntype=mujoco.mjtTrn.mjTRN_JOINT)
            actuator.gaintype = mujoco.mjtGain.mjGAIN_FIXED
            actuator.gainprm[0] = 1.0
        position, velocity = actuators["position"], actuators["velocity"]
        position.biastype = velocity.biastype = mujoco.mjtBias.mjBIAS_AFFINE
        position.biasprm[:3] = [0.0, -g.position_p_gain[k], -g.position_d_gain[k]]
        velocity.biasprm[:3] = [0.0, 0.0, -g.velocity_p_gain[k]]
        _limited(position, g.position_cmd_min[k], g.position_cmd_max[k])
        _limited(velocity, g.velocity_cmd_min[k], g.velocity_cmd_max[k])
        effort = description.joints[name].effort
        if 0 <= effort < np.inf:  # a negative effort limit is none (gz-physics' infIfNeg)
            joint = spec.joint(name)
            joint.actfrclimited = mujoco.mjtLimited.mjLIMITED_TRUE
            joint.actfrcrange = [-effort, effort]


def build_model(description: RobotDescription, world: WorldSettings, link_sensors: tuple[str, ...] = (),
                joint_sensors: bool = False) -> BuiltModel:
    """The MuJoCo model of ``description``; DescriptionError (MeshError for a mesh) says what
    MuJoCo cannot take. For rollouts that read the robot out of ``sensordata``: ``link_sensors``,
    links whose world position the model measures (a ``framepos`` sensor each, in that order),
    then with ``joint_sensors`` the actuated joints' positions (description order)."""
    text, friction = _mujoco_urdf(description)
    try:
        spec = mujoco.MjSpec.from_string(text)
    except ValueError as err:
        raise DescriptionError(f"{description.source}: MuJoCo cannot read the description: {err}") from err
    root = spec.body(description.root_link)
    root.add_freejoint()
    for name in description.mimic_joints:
        spec.joint(name).armature = max(spec.joint(name).armature, MIMIC_ARMATURE)
    _add_scene(spec, world, description.root_link)

    for geom in spec.geoms:
        if geom.name == GROUND or geom.contype == 0:
            continue
        geom.conaffinity = 0
        geom.friction = [min(friction.get(geom.parent.name, 1.0), world.ground_friction), 0.005, 0.0001]
        geom.priority = 1

    _add_actuators(spec, description)
    for link in link_sensors:
        spec.add_sensor(name=f"{link}:position", type=mujoco.mjtSensor.mjSENS_FRAMEPOS,
                        objtype=mujoco.mjtObj.mjOBJ_XBODY, objname=link)
    for name in description.joint_names if joint_sensors else ():
        spec.add_sensor(name=f"{name}:position", type=mujoco.mjtSensor.mjSENS_JOINTPOS,
                        objtype=mujoco.mjtObj.mjOBJ_JOINT, objname=name)

    head_camera = next((b for b in spec.bodies if b.name == "head_camera_link"), None)
    if head_camera is not None:
        # MuJoCo cameras look along -z with +y up; REP 103 links look along +x with +z up.
        head_camera.add_camera(name="head_camera", xyaxes=[0, -1, 0, 0, 0, 1])

    try:
        model = spec.compile()
    except ValueError as err:
        raise DescriptionError(f"{description.source}: MuJoCo cannot build the robot: "
                               f"{' '.join(str(err).split())}") from err
    joint_ids = [mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, n) for n in description.joint_names]
    robot_geoms = [g for g in range(model.ngeom) if model.geom_priority[g] > 0]
    return BuiltModel(
        model=model,
        qpos_index=np.array([model.jnt_qposadr[j] for j in joint_ids], dtype=int),
        dof_index=np.array([model.jnt_dofadr[j] for j in joint_ids], dtype=int),
        actuators=np.array([[mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_ACTUATOR, f"{n}:{role}")
                             for n in description.joint_names] for role in ACTUATOR_ROLES],
                           dtype=int).reshape(len(ACTUATOR_ROLES), -1),
        robot_geoms=np.array(robot_geoms, dtype=int),
    )
