"""Loading a description: xacro expansion, and the gz-sim systems of the topic contract.

``load_description`` expands a ``.urdf.xacro`` (or reads a plain ``.urdf``), equips it with
the systems of the topic contract when it declares none (with gains derived from masses and
effort limits), and parses it into a :class:`~digital_twin_gz.robot.description.RobotDescription`.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from lxml import etree

from digital_twin_gz.robot import gains as gain_rules
from digital_twin_gz.robot.description import (
    CONTRACT_SYSTEMS,
    JSP_PLUGIN,
    JTC_PLUGIN,
    ODOM_PLUGIN,
    DescriptionError,
    RobotDescription,
    parse_description,
)
from digital_twin_gz.robot.share import register_packages, share_dir


def bundled_urdf() -> Path:
    return share_dir() / "urdf" / "humanoid.urdf.xacro"


def expand_xacro(path: Path, args: dict[str, str] | None = None,
                 packages: dict[str, Path] | None = None) -> str:
    """Expand ``path`` with PyPI xacro; ``$(find pkg)`` resolves through ``packages``."""
    import xacro

    register_packages(packages or {})
    try:
        doc = xacro.process_file(str(path), mappings=dict(args or {}))
    except Exception as err:  # xacro raises XacroException, ExpatError, NameError, ...
        where = " <- ".join(str(f) for f in reversed(xacro.filestack or [path]) if f)
        raise DescriptionError(f"{path}: xacro failed: {err} (in {where})") from err
    return doc.toprettyxml(indent="  ")



def _contract_systems_xacro(description: RobotDescription, missing: set[str],
                            joint_gains: dict[str, dict[str, float]]) -> str:
    """A xacro document that calls urdf/gazebo_systems.xacro for the missing systems, their gz topics
    left to gz-sim's defaults, which follow the name the model is spawned under (robots of one
    description share a world under several names)."""
    name = description.name
    parts = [f'<robot name="{name}" xmlns:xacro="http://www.ros.org/wiki/xacro">',
             '<xacro:include filename="$(find digital_twin_gz)/urdf/gazebo_systems.xacro"/>']
    if missing & {JSP_PLUGIN, ODOM_PLUGIN}:
        joints = "${" + repr(list(description.joint_names)) + "}"
        parts.append(f'<xacro:twin_state_systems base_link="{description.root_link}" joints="{joints}"/>')
    if JTC_PLUGIN in missing:
        parts.append('<xacro:twin_trajectory_controller><joints>')
        for joint, g in joint_gains.items():
            parts.append(f'<xacro:twin_trajectory_joint name="{joint}" kp="{g["kp"]!r}" kv="{g["kv"]!r}" '
                         f'effort="{g["effort"]!r}" initial="{g["initial"]!r}"/>')
        parts.append("</joints></xacro:twin_trajectory_controller>")
    parts.append("</robot>")
    return "\n".join(parts)


def _add_contract_systems(description: RobotDescription, gains_config: Path | None) -> RobotDescription:
    """Give a user's description the gz-sim systems it lacks, with derived gains."""
    declared = {s.name for s in description.systems}
    missing = set(CONTRACT_SYSTEMS) - declared
    if not missing:
        return description
    joint_gains = gain_rules.derive(description, gains_config)
    with tempfile.TemporaryDirectory() as tmp:
        extra = Path(tmp) / "systems.urdf.xacro"
        extra.write_text(_contract_systems_xacro(description, missing, joint_gains))
        generated = etree.fromstring(expand_xacro(extra).encode())
    # Inserted as text before </robot>, so every line of the user's file keeps its number in
    # the messages (a re-serialised tree loses the XML declaration and reflows the text).
    blocks = [etree.tostring(plugin).decode() for gazebo in generated.findall("gazebo") for plugin in gazebo
              if plugin.get("name") in missing]
    end = description.urdf.rindex("</robot>")
    urdf = description.urdf[:end] + "".join(f"<gazebo>{b}</gazebo>" for b in blocks) + description.urdf[end:]
    added = sorted(m.rsplit("::", 1)[-1] for m in missing)
    note = (f"declares no {', '.join(added)}; added them "
            f"(trajectory gains derived from masses and effort limits, see config/derived_gains.yaml)")
    return parse_description(urdf, description.source, description.packages, description.notes + (note,))


def load_description(path: Path | str | None = None, *, xacro_args: dict[str, str] | None = None,
                     packages: dict[str, Path] | None = None,
                     gains_config: Path | None = None) -> RobotDescription:
    """Load the bundled humanoid (default) or a user's ``.urdf`` / ``.urdf.xacro``."""
    path = Path(path) if path else bundled_urdf()
    if not path.is_file():
        raise DescriptionError(f"{path}: no such file")
    packages = {k: Path(v) for k, v in (packages or {}).items()}
    if path.name.endswith(".xacro"):
        urdf = expand_xacro(path, xacro_args, packages)
    else:
        register_packages(packages)
        urdf = path.read_text()
    description = _add_contract_systems(parse_description(urdf, path, packages), gains_config)
    notes = gain_rules.limit_notes(description, gains_config)
    return replace(description, notes=description.notes + notes) if notes else description
