"""The robot description: the one model every other part reads, parsed from URDF text.

:class:`RobotDescription` holds the joints in a fixed order, their limits as arrays, the
JointTrajectoryController gains and the gz-sim systems declared. Loading a file (xacro,
equipping the systems of the topic contract) is :mod:`digital_twin_gz.robot.loader`'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
from lxml import etree

from digital_twin_gz.robot.conversion import UNLUMP, kept_fixed_joints, model_joints

ACTUATED_TYPES = ("revolute", "continuous", "prismatic")
JTC_PLUGIN = "gz::sim::systems::JointTrajectoryController"
JSP_PLUGIN = "gz::sim::systems::JointStatePublisher"
ODOM_PLUGIN = "gz::sim::systems::OdometryPublisher"
CONTRACT_SYSTEMS = (JSP_PLUGIN, ODOM_PLUGIN, JTC_PLUGIN)


class DescriptionError(ValueError):
    """A description that cannot be expanded or parsed; the message names file and line."""


@dataclass(frozen=True)
class Link:
    name: str
    mass: float
    com: np.ndarray
    inertia: np.ndarray
    has_inertial: bool
    meshes: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Joint:
    name: str
    type: str
    parent: str
    child: str
    xyz: np.ndarray
    rpy: np.ndarray
    axis: np.ndarray
    lower: float
    upper: float
    effort: float
    velocity: float
    damping: float
    friction: float
    has_limit: bool
    line: int
    mimic: Mimic | None = None


@dataclass(frozen=True)
class Mimic:
    """``<mimic joint= multiplier= offset=>``: this joint's position is ``multiplier * q + offset``
    of ``joint``; the simulator holds it there, nothing commands it."""

    joint: str
    multiplier: float
    offset: float


@dataclass(frozen=True)
class GzSystem:
    filename: str
    name: str
    params: dict[str, list[str]]

    def param(self, key: str, default: str | None = None) -> str | None:
        values = self.params.get(key)
        return values[0] if values else default


# The gz::math::PID terms of JointTrajectoryController, one array entry per joint.
GAIN_FIELDS = {
    "position_p_gain": 0.0, "position_i_gain": 0.0, "position_d_gain": 0.0,
    "position_i_min": 0.0, "position_i_max": -1.0,
    "position_cmd_min": 0.0, "position_cmd_max": -1.0, "position_cmd_offset": 0.0,
    "velocity_p_gain": 0.0, "velocity_i_gain": 0.0, "velocity_d_gain": 0.0,
    "velocity_i_min": 0.0, "velocity_i_max": -1.0,
    "velocity_cmd_min": 0.0, "velocity_cmd_max": -1.0, "velocity_cmd_offset": 0.0,
    "initial_position": 0.0,
}


@dataclass(frozen=True)
class TrajectoryGains:
    """Controller parameters in the description's joint order (one array per field)."""

    values: dict[str, np.ndarray]

    def __getattr__(self, key: str) -> np.ndarray:
        if key == "values":  # not set yet: unpickling looks up attributes before restoring the fields
            raise AttributeError(key)
        try:
            return self.values[key]
        except KeyError as err:
            raise AttributeError(key) from err


@dataclass(frozen=True)
class RobotDescription:
    name: str
    urdf: str
    source: Path
    root_link: str
    links: dict[str, Link]
    joints: dict[str, Joint]
    joint_names: tuple[str, ...]
    systems: tuple[GzSystem, ...]
    gains: TrajectoryGains
    model_joints: tuple[str, ...] = ()
    packages: dict[str, Path] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def lower(self) -> np.ndarray:
        return np.array([self.joints[n].lower for n in self.joint_names])

    @property
    def upper(self) -> np.ndarray:
        return np.array([self.joints[n].upper for n in self.joint_names])

    @property
    def effort_limit(self) -> np.ndarray:
        return np.array([self.joints[n].effort for n in self.joint_names])

    @property
    def velocity_limit(self) -> np.ndarray:
        return np.array([self.joints[n].velocity for n in self.joint_names])

    @property
    def default_positions(self) -> np.ndarray:
        return self.gains.initial_position.copy()

    @property
    def total_mass(self) -> float:
        return sum(link.mass for link in self.links.values())

    @property
    def published_joints(self) -> tuple[str, ...]:
        """What Gazebo's JointStatePublisher puts on /virtual/joint_states, in its order: the joints
        its ``<joint_name>`` list names that the model has, else every joint of the model (fixed
        ones kept by the conversion included); always in the model's (SDF) order."""
        system = self.system(JSP_PLUGIN)
        named = set(system.params.get("joint_name", [])) if system is not None else set()
        return tuple(j for j in self.model_joints if j in named) if named else self.model_joints

    @property
    def mimic_joints(self) -> tuple[str, ...]:
        """Actuated joints that follow another joint (``<mimic>``), in the joint order."""
        return tuple(n for n in self.joint_names if self.joints[n].mimic is not None)

    @property
    def commanded_joints(self) -> tuple[str, ...]:
        """Actuated joints that take commands: all but the mimic joints."""
        return tuple(n for n in self.joint_names if self.joints[n].mimic is None)

    def index(self, joint: str) -> int:
        return self.joint_names.index(joint)

    def parent_joint(self, link: str) -> Joint | None:
        return self._parent_joints.get(link)

    def rigid(self, link: str) -> list[str]:
        """``link`` and the links fixed to it (through fixed joints only), depth first: one body
        once sdformat has lumped them."""
        found, stack = [], [link]
        while stack:
            current = stack.pop()
            found.append(current)
            stack += [j.child for j in self.children(current) if j.type == "fixed"]
        return found

    def system(self, plugin_name: str) -> GzSystem | None:
        return next((s for s in self.systems if s.name == plugin_name), None)

    @cached_property
    def _children(self) -> dict[str, list[Joint]]:
        children: dict[str, list[Joint]] = {}
        for joint in self.joints.values():
            children.setdefault(joint.parent, []).append(joint)
        return children

    @cached_property
    def _parent_joints(self) -> dict[str, Joint]:
        return {j.child: j for j in self.joints.values()}

    def children(self, link: str) -> list[Joint]:
        return list(self._children.get(link, ()))

    def below(self, link: str) -> dict[str, int]:
        """``link`` and every link below it, each with its depth under ``link`` (0 for itself),
        depth first."""
        found, stack = {}, [(link, 0)]
        while stack:
            current, depth = stack.pop()
            found[current] = depth
            stack += [(j.child, depth + 1) for j in self.children(current)]
        return found


def _floats(text: str | None, default: str, where: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in (text or default).split()])
    except ValueError as err:
        raise DescriptionError(f"{where}: not a list of numbers: {text!r}") from err


def _float(element, attribute: str, default: float, where: str) -> float:
    if element is None or element.get(attribute) is None:
        return default
    try:
        return float(element.get(attribute))
    except ValueError as err:
        raise DescriptionError(f"{where}: {attribute}={element.get(attribute)!r} is not a number") from err


def _parse_link(element, where: str) -> Link:
    name = element.get("name")
    inertial = element.find("inertial")
    meshes = tuple(m.get("filename", "") for m in element.iter("mesh"))
    if inertial is None:
        return Link(name, 0.0, np.zeros(3), np.zeros((3, 3)), False, meshes, element.sourceline)
    mass = _float(inertial.find("mass"), "value", 0.0, where)
    i = inertial.find("inertia")
    ixx, ixy, ixz, iyy, iyz, izz = (_float(i, k, 0.0, where) for k in ("ixx", "ixy", "ixz", "iyy", "iyz", "izz"))
    origin = inertial.find("origin")
    com = _floats(origin.get("xyz") if origin is not None else None, "0 0 0", where)
    inertia = np.array([[ixx, ixy, ixz], [ixy, iyy, iyz], [ixz, iyz, izz]])
    return Link(name, mass, com, inertia, True, meshes, element.sourceline)


def _parse_joint(element, links: dict[str, Link], where: str) -> Joint:
    name = element.get("name")
    jtype = element.get("type")
    at = f"{where}: joint '{name}'"
    parent_el, child_el = element.find("parent"), element.find("child")
    if parent_el is None or child_el is None:
        raise DescriptionError(f"{at} needs <parent link=...> and <child link=...>")
    parent, child = parent_el.get("link"), child_el.get("link")
    for role, link in (("parent", parent), ("child", child)):
        if link not in links:
            raise DescriptionError(f"{at}: {role} link '{link}' does not exist")
    origin = element.find("origin")
    axis_el = element.find("axis")
    limit = element.find("limit")
    dynamics = element.find("dynamics")
    axis = _floats(axis_el.get("xyz") if axis_el is not None else None, "1 0 0", at)
    if jtype in ("revolute", "prismatic") and limit is None:
        raise DescriptionError(f"{at}: a {jtype} joint needs <limit lower= upper= effort= velocity=>")
    unbounded = jtype == "continuous"
    mimic_el = element.find("mimic")
    mimic = None
    if mimic_el is not None and jtype in ACTUATED_TYPES:
        if not mimic_el.get("joint"):
            raise DescriptionError(f"{at}: <mimic> needs joint=")
        mimic = Mimic(mimic_el.get("joint"), _float(mimic_el, "multiplier", 1.0, at),
                      _float(mimic_el, "offset", 0.0, at))
    return Joint(
        name=name, type=jtype, parent=parent, child=child,
        xyz=_floats(origin.get("xyz") if origin is not None else None, "0 0 0", at),
        rpy=_floats(origin.get("rpy") if origin is not None else None, "0 0 0", at),
        axis=axis / (np.linalg.norm(axis) or 1.0),
        lower=-np.inf if unbounded else _float(limit, "lower", 0.0, at),
        upper=np.inf if unbounded else _float(limit, "upper", 0.0, at),
        effort=_float(limit, "effort", np.inf, at),
        velocity=_float(limit, "velocity", np.inf, at),
        damping=_float(dynamics, "damping", 0.0, at),
        friction=_float(dynamics, "friction", 0.0, at),
        has_limit=limit is not None,
        line=element.sourceline,
        mimic=mimic,
    )


def _parse_systems(robot) -> tuple[GzSystem, ...]:
    systems = []
    for plugin in robot.findall("gazebo/plugin"):
        params: dict[str, list[str]] = {}
        for child in plugin:
            if isinstance(child.tag, str):
                params.setdefault(child.tag, []).append((child.text or "").strip())
        systems.append(GzSystem(plugin.get("filename", ""), plugin.get("name", ""), params))
    return tuple(systems)


def _trajectory_gains(system: GzSystem | None, joint_names: tuple[str, ...], enabled: tuple[str, ...],
                      where: str) -> TrajectoryGains:
    """Per-joint gains; gz-sim pairs the n-th value of each field with the n-th joint_name, or,
    without any, with the n-th of ``enabled`` (the model's single-axis joints, in SDF order)."""
    values = {k: np.full(len(joint_names), d) for k, d in GAIN_FIELDS.items()}
    if system is None:
        return TrajectoryGains(values)
    for k, named in enumerate(system.params.get("joint_name") or enabled):
        if named not in joint_names:
            raise DescriptionError(f"{where}: JointTrajectoryController names joint '{named}', "
                                   "which is not an actuated joint of the robot")
        j = joint_names.index(named)
        for key in GAIN_FIELDS:
            entries = system.params.get(key, [])
            if k < len(entries):
                try:
                    values[key][j] = float(entries[k])
                except ValueError as err:
                    raise DescriptionError(f"{where}: JointTrajectoryController <{key}> "
                                           f"of '{named}' is {entries[k]!r}") from err
    return TrajectoryGains(values)


def _check_mimics(joints: dict[str, Joint], joint_names: tuple[str, ...], where: str) -> None:
    for joint in joints.values():
        if joint.mimic is None:
            continue
        leader = joints.get(joint.mimic.joint)
        if joint.mimic.joint not in joint_names or leader.mimic is not None:
            raise DescriptionError(f"{where}: line {joint.line}: joint '{joint.name}' mimics '{joint.mimic.joint}', "
                                   "which is not an actuated joint that takes commands (no <mimic> of its own)")


def _check_masses(root: str, links: dict[str, Link], joints: dict[str, Joint], where: str) -> None:
    """sdformat lumps a link under a fixed joint into its parent; a body (a link with what is
    fixed to it) without mass that a moving joint carries, or the root, it drops with all below."""
    children: dict[str, list[Joint]] = {}
    for joint in joints.values():
        children.setdefault(joint.parent, []).append(joint)

    def mass(link: str) -> float:
        return links[link].mass + sum(mass(j.child) for j in children.get(link, []) if j.type == "fixed")

    problems = []
    carriers = [(root, None)] + [(j.child, j) for j in joints.values() if j.type != "fixed"]
    for link, joint in carriers:
        if mass(link) > 0:
            continue
        at = f"line {links[link].line}: link '{link}'"
        if joint is None:
            problems.append(f"{at} is the root and has no mass (no <inertial> with a mass, nor a link with one "
                            "fixed to it): give it an <inertial>, or fix a link with mass to it by a fixed joint")
        else:
            problems.append(f"{at} has no mass (no <inertial> with a mass) but the {joint.type} joint "
                            f"'{joint.name}' (line {joint.line}) moves it: Gazebo's URDF->SDF conversion drops the "
                            f"link, the joint and everything below them; give '{link}' an <inertial> with a mass "
                            f"and inertia, or make '{joint.name}' fixed")
    if problems:
        raise DescriptionError(f"{where}: " + "; ".join(problems))


def parse_description(urdf: str, source: Path, packages: dict[str, Path] | None = None,
                      notes: tuple[str, ...] = ()) -> RobotDescription:
    """Parse expanded URDF text into a :class:`RobotDescription`."""
    where = str(source)
    try:
        robot = etree.fromstring(urdf.encode(), etree.XMLParser(remove_comments=True))
    except etree.XMLSyntaxError as err:
        raise DescriptionError(f"{where}: line {err.lineno}: {err.msg}") from err
    if robot.tag != "robot":
        raise DescriptionError(f"{where}: the root element is <{robot.tag}>, not <robot>")
    links: dict[str, Link] = {}
    for element in robot.findall("link"):
        link = _parse_link(element, f"{where}: line {element.sourceline}: link '{element.get('name')}'")
        links[link.name] = link
    if not links:
        raise DescriptionError(f"{where}: no <link> elements")
    joints = {}
    for element in robot.findall("joint"):
        joint = _parse_joint(element, links, f"{where}: line {element.sourceline}")
        joints[joint.name] = joint
    children = {j.child for j in joints.values()}
    roots = [name for name in links if name not in children]
    if len(roots) != 1:
        raise DescriptionError(f"{where}: the links must form one tree; roots found: {roots}")
    joint_names = tuple(j.name for j in joints.values() if j.type in ACTUATED_TYPES)
    _check_mimics(joints, joint_names, where)
    _check_masses(roots[0], links, joints, where)
    systems = _parse_systems(robot)
    jtc = next((s for s in systems if s.name == JTC_PLUGIN), None)
    kept = kept_fixed_joints(robot)
    in_model = model_joints(roots[0], links, joints, kept)
    # A joint kept by disableFixedJointLumping is a (zero-range) revolute joint in the model.
    single_axis = tuple(j for j in in_model if joints[j].type in ACTUATED_TYPES or kept.get(j) == UNLUMP)
    return RobotDescription(
        name=robot.get("name", "robot"), urdf=urdf, source=Path(source), root_link=roots[0],
        links=links, joints=joints, joint_names=joint_names, systems=systems,
        gains=_trajectory_gains(jtc, joint_names, single_axis, where), model_joints=in_model,
        packages=dict(packages or {}), notes=notes,
    )
