"""A second humanoid, written by the tests: other joint and link names, no <gazebo> blocks,
and a ``package://`` mesh for its head. It stands for the URDF a user brings."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

PACKAGE = "other_robot"


def _box_inertia(mass: float, sx: float, sy: float, sz: float) -> str:
    return (f'<inertia ixx="{mass * (sy**2 + sz**2) / 12}" ixy="0" ixz="0" iyy="{mass * (sx**2 + sz**2) / 12}" '
            f'iyz="0" izz="{mass * (sx**2 + sy**2) / 12}"/>')


def _link(name: str, mass: float, size: tuple[float, float, float], z: float, mesh: str | None = None) -> str:
    sx, sy, sz = size
    geometry = f'<mesh filename="{mesh}"/>' if mesh else f'<box size="{sx} {sy} {sz}"/>'
    return f"""
  <link name="{name}">
    <inertial><origin xyz="0 0 {z}"/><mass value="{mass}"/>{_box_inertia(mass, sx, sy, sz)}</inertial>
    <visual><origin xyz="0 0 {z}"/><geometry>{geometry}</geometry></visual>
    <collision><origin xyz="0 0 {z}"/><geometry><box size="{sx} {sy} {sz}"/></geometry></collision>
  </link>"""


def _joint(name: str, parent: str, child: str, xyz: str, axis: str, lower: float, upper: float,
           effort: float) -> str:
    return f"""
  <joint name="{name}" type="revolute">
    <parent link="{parent}"/><child link="{child}"/><origin xyz="{xyz}"/><axis xyz="{axis}"/>
    <limit lower="{lower}" upper="{upper}" effort="{effort}" velocity="6"/>
    <dynamics damping="0.5"/>
  </joint>"""


def other_humanoid_urdf() -> str:
    """A 1.5 m, ~45 kg humanoid with NAO-style joint names (LHipPitch, RKneePitch, ...)."""
    parts = ['<?xml version="1.0"?>', '<robot name="other">', _link("Pelvis", 6.0, (0.16, 0.24, 0.12), 0.0),
             _link("Chest", 12.0, (0.16, 0.28, 0.36), 0.20),
             _joint("TorsoYaw", "Pelvis", "Chest", "0 0 0.06", "0 0 1", -0.8, 0.8, 120),
             _link("Skull", 3.0, (0.16, 0.16, 0.18), 0.10, mesh=f"package://{PACKAGE}/meshes/head.stl"),
             _joint("HeadYaw", "Chest", "HeadYawLink", "0 0 0.40", "0 0 1", -1.0, 1.0, 15),
             _link("HeadYawLink", 0.2, (0.04, 0.04, 0.04), 0.0),
             _joint("HeadPitch", "HeadYawLink", "Skull", "0 0 0", "0 1 0", -0.5, 0.6, 15)]
    for side, s in (("L", 1), ("R", -1)):
        chain = [("HipYaw", "0 0 1", f"0 {s * 0.08} -0.06", -0.6, 0.6, 100, f"{side}Coxa", 0.4, (0.04,) * 3, 0.0),
                 ("HipRoll", "1 0 0", "0 0 0", -0.4, 0.4, 150, f"{side}Hip", 0.4, (0.04,) * 3, 0.0),
                 ("HipPitch", "0 1 0", "0 0 0", -1.8, 0.6, 200, f"{side}Femur", 5.0, (0.10, 0.10, 0.36), -0.18),
                 ("KneePitch", "0 1 0", "0 0 -0.36", 0.0, 2.2, 220, f"{side}Tibia", 3.0, (0.08, 0.08, 0.36), -0.18),
                 ("AnklePitch", "0 1 0", "0 0 -0.36", -0.8, 0.6, 120, f"{side}Talus", 0.3, (0.04,) * 3, 0.0),
                 ("AnkleRoll", "1 0 0", "0 0 0", -0.4, 0.4, 60, f"{side}Sole", 1.0, (0.22, 0.11, 0.04), -0.05)]
        parent = "Pelvis"
        for name, axis, xyz, lower, upper, effort, child, mass, size, z in chain:
            parts += [_joint(f"{side}{name}", parent, child, xyz, axis, lower, upper, effort),
                      _link(child, mass, size, z)]
            parent = child
        arm = [("ShoulderPitch", "0 1 0", f"0 {s * 0.18} 0.34", -2.5, 1.0, 50, f"{side}Clavicle", 0.3, (0.04,) * 3,
                0.0),
               ("ShoulderRoll", "1 0 0", "0 0 0", -0.3 if s > 0 else -2.0, 2.0 if s > 0 else 0.3, 50,
                f"{side}Humerus", 1.6, (0.07, 0.07, 0.26), -0.13),
               ("ElbowRoll", "0 1 0", "0 0 -0.26", -2.2, 0.0, 30, f"{side}Radius", 1.0, (0.06, 0.06, 0.24), -0.12),
               ("WristYaw", "0 0 1", "0 0 -0.24", -1.4, 1.4, 8, f"{side}Palm", 0.3, (0.07, 0.03, 0.09), -0.045)]
        parent = "Chest"
        for name, axis, xyz, lower, upper, effort, child, mass, size, z in arm:
            parts += [_joint(f"{side}{name}", parent, child, xyz, axis, lower, upper, effort),
                      _link(child, mass, size, z)]
            parent = child
    parts.append("</robot>\n")
    return "\n".join(parts)


def write_stl_box(path: Path, size: tuple[float, float, float]) -> None:
    """A binary STL box centred on the origin."""
    half = np.array(size) / 2.0
    corners = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]) * half
    faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5), (0, 4, 5), (0, 5, 1),
             (2, 3, 7), (2, 7, 6), (0, 2, 6), (0, 6, 4), (1, 5, 7), (1, 7, 3)]
    with open(path, "wb") as out:
        out.write(b"\0" * 80 + struct.pack("<I", len(faces)))
        for a, b, c in faces:
            normal = np.cross(corners[b] - corners[a], corners[c] - corners[a])
            normal /= np.linalg.norm(normal)
            out.write(struct.pack("<12fH", *normal, *corners[a], *corners[b], *corners[c], 0))


def write_other_humanoid(directory: Path) -> tuple[Path, dict[str, Path]]:
    """Write the package (urdf/other.urdf, meshes/head.stl); return the URDF and --package map."""
    share = directory / PACKAGE
    (share / "urdf").mkdir(parents=True, exist_ok=True)
    (share / "meshes").mkdir(exist_ok=True)
    write_stl_box(share / "meshes" / "head.stl", (0.16, 0.16, 0.18))
    urdf = share / "urdf" / "other.urdf"
    urdf.write_text(other_humanoid_urdf())
    return urdf, {PACKAGE: share}


FEATURES = ("ascii_stl", "dae_mesh", "scaled_mesh", "massless_fixed_child", "massless_moving_child",
            "massless_root", "mimic_joint", "continuous_joint", "no_key_links")


def _box(size: tuple[float, float, float]):
    import trimesh

    return trimesh.creation.box(extents=size)


def write_dae_box(path: Path, size: tuple[float, float, float], unit: float) -> None:
    """A Collada box whose vertices are in units of ``unit`` metres, declared by ``<unit meter>``
    (gz-common scales by it)."""
    from lxml import etree

    path.write_bytes(_box(tuple(s / unit for s in size)).export(file_type="dae"))
    tree = etree.parse(str(path))
    namespace = tree.getroot().nsmap[None]
    asset = tree.getroot().find(f"{{{namespace}}}asset")
    asset.find(f"{{{namespace}}}up_axis").addprevious(etree.Element(f"{{{namespace}}}unit", meter=repr(unit),
                                                                     name="unit"))
    tree.write(str(path), xml_declaration=True, encoding="utf-8")


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def write_featured_humanoid(directory: Path, feature: str) -> tuple[Path, dict[str, Path]]:
    """The other humanoid with one feature that once broke a command (see FEATURES): its head mesh
    (0.16 x 0.16 x 0.18 m wherever it comes from) as ASCII STL, as DAE in millimetres or as a
    unit box scaled by <mesh scale>; a camera frame without <inertial> fixed to the head; an
    upper arm without one (refused); a massless base_link above the pelvis; the right wrist
    mimicking the left; continuous wrists without <limit>; or joint names that say nothing."""
    if feature not in FEATURES:
        raise ValueError(f"unknown feature {feature!r} (known: {', '.join(FEATURES)})")
    urdf, packages = write_other_humanoid(directory)
    meshes = packages[PACKAGE] / "meshes"
    text = urdf.read_text()
    head = f"package://{PACKAGE}/meshes/head.stl"
    if feature == "ascii_stl":
        (meshes / "head_ascii.stl").write_text(_box((0.16, 0.16, 0.18)).export(file_type="stl_ascii"))
        text = _edit(text, head, f"package://{PACKAGE}/meshes/head_ascii.stl")
    elif feature == "dae_mesh":
        write_dae_box(meshes / "head.dae", (0.16, 0.16, 0.18), 0.001)
        text = _edit(text, head, f"package://{PACKAGE}/meshes/head.dae")
    elif feature == "scaled_mesh":
        write_stl_box(meshes / "unit.stl", (1.0, 1.0, 1.0))
        text = _edit(text, f'<mesh filename="{head}"/>',
                     f'<mesh filename="package://{PACKAGE}/meshes/unit.stl" scale="0.16 0.16 0.18"/>')
    elif feature == "massless_fixed_child":
        text = _edit(text, "</robot>", '<link name="camera_frame"/>\n<joint name="camera_joint" type="fixed">'
                     '<parent link="Skull"/><child link="camera_frame"/><origin xyz="0.08 0 0.1"/></joint>\n</robot>')
    elif feature == "massless_moving_child":
        start = text.index('<link name="LHumerus">')
        inertial = text.index("<inertial>", start)
        text = text[:inertial] + text[text.index("</inertial>", inertial) + len("</inertial>"):]
    elif feature == "massless_root":
        text = _edit(text, '<robot name="other">', '<robot name="other">\n<link name="base_link"/>\n'
                     '<joint name="base_fixed" type="fixed"><parent link="base_link"/><child link="Pelvis"/></joint>')
    elif feature == "mimic_joint":
        start = text.index('<joint name="RWristYaw"')
        end = text.index("</joint>", start)
        text = text[:end] + '<mimic joint="LWristYaw" multiplier="-1.0" offset="0.1"/>' + text[end:]
    elif feature == "continuous_joint":
        for side in ("L", "R"):
            start = text.index(f'<joint name="{side}WristYaw" type="revolute">')
            end = text.index("</joint>", start)
            joint = text[start:end].replace('type="revolute"', 'type="continuous"')
            joint = joint[:joint.index("<limit")] + joint[joint.index("/>", joint.index("<limit")) + 2:]
            text = text[:start] + joint + text[end:]
    elif feature == "no_key_links":
        import re

        names = re.findall(r'<joint name="([^"]+)" type="revolute"', text)
        for k, name in enumerate(names):
            text = text.replace(f'"{name}"', f'"j{k + 1}"')
    urdf.write_text(text)
    return urdf, packages
