"""Body groups of a humanoid: legs, arms and torso, from its joint roles.

Physics that differ between a robot and its model differ by part: the legs carry the weight and
have the big actuators, the arms are light and geared differently, the torso holds the battery.
A group is what calibration fits and a profile perturbs as one value (a mass scale, a joint
damping). The legs are every link from the topmost leg joint of each side down (hip, knee and
ankle roles, the feet included), the arms every link from the topmost arm joint (shoulder, elbow,
wrist roles, the hands included), the torso the rest (the base, waist, neck and head). A joint
belongs to the group of the link it moves. A robot whose roles name no legs or arms has only a
torso.
"""

from __future__ import annotations

from dataclasses import dataclass

from digital_twin_gz.robot.description import RobotDescription
from digital_twin_gz.robot.roles import SIDES, JointRoles

GROUPS = ("legs", "arms", "torso")
_LIMB_PARTS = {"legs": ("hip", "knee", "ankle"), "arms": ("shoulder", "elbow", "wrist")}


def link_groups(description: RobotDescription, roles: JointRoles) -> dict[str, str]:
    """Every link's group (legs, arms or torso)."""
    groups = dict.fromkeys(description.links, "torso")
    depth = description.below(description.root_link)
    for group, parts in _LIMB_PARTS.items():
        for side in SIDES:
            children = [description.joints[description.joint_names[index]].child
                        for role, (index, _) in roles.joints.items()
                        if role.startswith(f"{side}_") and role.split("_")[1] in parts]
            if children:
                top = min(children, key=depth.__getitem__)
                groups.update(dict.fromkeys(description.below(top), group))
    return groups


def joint_groups(description: RobotDescription, roles: JointRoles) -> tuple[str, ...]:
    """The group of each actuated joint, in the description's joint order."""
    links = link_groups(description, roles)
    return tuple(links[description.joints[name].child] for name in description.joint_names)


def sole_links(description: RobotDescription, roles: JointRoles) -> list[str]:
    """The link the last ankle joint of each side moves: the foot as one rigid body."""
    depth = description.below(description.root_link)
    soles = []
    for side in SIDES:
        children = [description.joints[description.joint_names[roles.index(role)]].child
                    for role in (f"{side}_ankle_pitch", f"{side}_ankle_roll") if role in roles.joints]
        if children:
            soles.append(max(children, key=depth.__getitem__))
    return soles


def foot_links(description: RobotDescription, roles: JointRoles) -> list[str]:
    """Links at and below each ankle: the ones that touch the ground when standing."""
    feet = []
    for side in SIDES:
        role = next((r for r in (f"{side}_ankle_pitch", f"{side}_ankle_roll") if r in roles.joints), None)
        if role is not None:
            feet += description.below(description.joints[description.joint_names[roles.index(role)]].child)
    return feet


@dataclass(frozen=True)
class BodyParts:
    """Where a physics change applies: the feet (foot friction), each link's group (mass scales)
    and each actuated joint's group (joint damping, friction and armature)."""

    feet: tuple[str, ...]
    links: dict[str, str]
    joints: tuple[str, ...]

    @classmethod
    def of(cls, description: RobotDescription, roles: JointRoles) -> BodyParts:
        return cls(tuple(foot_links(description, roles)), link_groups(description, roles),
                   joint_groups(description, roles))

    @classmethod
    def whole(cls, description: RobotDescription) -> BodyParts:
        """No feet and one group, the torso: for physics that change the whole robot alike."""
        return cls((), dict.fromkeys(description.links, "torso"), ("torso",) * len(description.joint_names))

    def groups(self) -> tuple[str, ...]:
        """The groups this robot has, in GROUPS order."""
        present = set(self.links.values())
        return tuple(g for g in GROUPS if g in present)
