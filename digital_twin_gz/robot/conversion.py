"""What Gazebo's URDF->SDF conversion (sdformat's parser_urdf) makes of the joints.

gz-sim's systems see the joints of the converted model, in its order: JointStatePublisher
publishes them in that order (its joint set is ordered by entity, and entities are created
in SDF order), and a JointTrajectoryController without ``<joint_name>`` pairs its gain lists
with them in that order. The conversion walks the link tree depth first from the root,
visiting each link's children in the order of their joints' names (urdfdom keeps joints in
a name-sorted map), and writes the joint of every link it keeps. A fixed joint is lumped
into its parent (gone from the model) unless a ``<gazebo reference="joint">`` block sets
``preserveFixedJoint`` (kept fixed) or ``disableFixedJointLumping`` (kept, as a revolute
joint with zero range); a link without mass under a joint that is not lumped is dropped
with everything below it. ``ign sdf -p`` is the reference (test/test_description.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lxml.etree import _Element

    from digital_twin_gz.robot.description import Joint, Link

PRESERVE = "preserveFixedJoint"  # kept as a fixed joint
UNLUMP = "disableFixedJointLumping"  # kept as a revolute joint with zero range
_TRUE = ("true", "yes", "1")


def kept_fixed_joints(robot: _Element) -> dict[str, str]:
    """Joint name -> PRESERVE or UNLUMP, for each ``<gazebo reference>`` block that sets one true."""
    kept = {}
    for gazebo in robot.findall("gazebo"):
        reference = gazebo.get("reference")
        for tag in (PRESERVE, UNLUMP):
            element = gazebo.find(tag)
            if reference and element is not None and (element.text or "").strip().lower() in _TRUE:
                kept[reference] = tag
    return kept


def model_joints(root: str, links: dict[str, Link], joints: dict[str, Joint], kept_fixed: dict[str, str]
                 ) -> tuple[str, ...]:
    """The joints of the converted model, in SDF order."""
    children: dict[str, list[Joint]] = {}
    for joint in sorted(joints.values(), key=lambda j: j.name):
        children.setdefault(joint.parent, []).append(joint)
    order: list[str] = []

    def is_lumped(joint: Joint) -> bool:
        return joint.type == "fixed" and joint.name not in kept_fixed

    def body_mass(link: str) -> float:
        """The mass of the body ``link`` becomes once its fixed children are lumped into it
        (the conversion lumps first, then drops what has no mass: a massless ``base_link``
        with the pelvis fixed to it is kept)."""
        own = links[link].mass if links[link].has_inertial else 0.0
        return own + sum(body_mass(j.child) for j in children.get(link, []) if is_lumped(j))

    def visit(link: str, parent_joint: Joint | None) -> None:
        lumped = parent_joint is not None and is_lumped(parent_joint)
        if not lumped and body_mass(link) <= 0:
            return  # "link[...] is not modeled in sdf", and neither is anything below it
        if parent_joint is not None and not lumped:
            order.append(parent_joint.name)
        for joint in children.get(link, []):
            visit(joint.child, joint)

    visit(root, None)
    return tuple(order)
