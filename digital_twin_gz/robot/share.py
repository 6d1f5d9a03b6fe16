"""Where the package's data lives, and how ROS-style package paths resolve without ROS.

On a ROS install the package is found through the ament index. In a source checkout or a
pip install there is no ament index, so an ament prefix is made under the user's cache
whose ``share/<pkg>`` links to the data: xacro's ``$(find pkg)`` and ``package://`` URIs
then resolve the same way they do on a ROS machine.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

PACKAGE = "digital_twin_gz"


class PackageNotFound(LookupError):
    """A ``package://`` or ``$(find)`` name that no prefix provides."""


def share_dir() -> Path:
    """The directory holding ``urdf/``, ``worlds/``, ``config/`` and ``launch/``."""
    source_root = Path(__file__).resolve().parents[2]
    if (source_root / "package.xml").is_file() and (source_root / "urdf").is_dir():
        return source_root
    installed = Path(sys.prefix) / "share" / PACKAGE
    if (installed / "urdf").is_dir():
        return installed
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE))
    except (ImportError, LookupError, OSError) as err:
        raise PackageNotFound(f"cannot find the data of {PACKAGE} (urdf/, worlds/, config/)") from err


def params_file() -> Path:
    """``config/twin.yaml``: the defaults every node of the twin starts from."""
    return share_dir() / "config" / "twin.yaml"


# The params-file section every node reads (rcl's wildcard), for what the nodes must agree on.
ALL_NODES = "/**"


def node_params(node: str, path: Path | None = None) -> dict:
    """A node's ``ros__parameters`` in the params file (default: config/twin.yaml); ``ALL_NODES``
    for those every node takes."""
    import yaml

    config = yaml.safe_load((path or params_file()).read_text()) or {}
    return dict((config.get(node) or {}).get("ros__parameters") or {})


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / PACKAGE / "ament_prefix"


def register_packages(packages: dict[str, Path]) -> Path:
    """Make ``packages`` (name -> share directory) visible to the ament index.

    Returns the prefix, which is also prepended to ``AMENT_PREFIX_PATH`` of this process
    (and so of every child it starts).
    """
    packages = {PACKAGE: share_dir(), **packages}
    key = repr(sorted((name, str(Path(path).resolve())) for name, path in packages.items()))
    prefix = _cache_dir() / hashlib.sha1(key.encode()).hexdigest()[:16]
    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True, exist_ok=True)
    for name, directory in packages.items():
        directory = Path(directory).resolve()
        if not directory.is_dir():
            raise PackageNotFound(f"package '{name}': {directory} is not a directory")
        (index / name).touch()
        link = prefix / "share" / name
        if link.is_symlink() or link.exists():
            if link.resolve() == directory:
                continue
            link.unlink()
        link.symlink_to(directory, target_is_directory=True)
    paths = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    if str(prefix) not in paths:
        os.environ["AMENT_PREFIX_PATH"] = os.pathsep.join([str(prefix), *paths])
    return prefix


def package_share(name: str, packages: dict[str, Path] | None = None) -> Path:
    """Share directory of ROS package ``name``: explicit ``packages`` first, then ament."""
    if packages and name in packages:
        return Path(packages[name])
    if name == PACKAGE:
        return share_dir()
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(name))
    except (ImportError, LookupError, OSError) as err:
        raise PackageNotFound(f"package '{name}' not found (pass --package {name}=DIR)") from err


# Where gz-sim looks up model:// URIs (Harmonic, and the names older releases read).
RESOURCE_PATHS = ("GZ_SIM_RESOURCE_PATH", "IGN_GAZEBO_RESOURCE_PATH", "GAZEBO_MODEL_PATH")


def model_dir(name: str, packages: dict[str, Path] | None = None) -> Path:
    """The directory behind ``model://name``: ``--package name=DIR``, else ``name`` in one of
    gz-sim's resource paths, else the ROS package of that name."""
    if packages and name in packages:
        return Path(packages[name])
    for variable in RESOURCE_PATHS:
        for root in filter(None, os.environ.get(variable, "").split(os.pathsep)):
            if (Path(root) / name).is_dir():
                return Path(root) / name
    try:
        return package_share(name, packages)
    except PackageNotFound as err:
        raise PackageNotFound(f"model '{name}' not found in {', '.join(RESOURCE_PATHS)} nor as a package "
                              f"(pass --package {name}=DIR)") from err


def resolve_uri(uri: str, base_dir: Path, packages: dict[str, Path] | None = None) -> Path:
    """File behind a URDF ``filename``: ``package://``, ``model://``, ``file://`` or a path
    (relative: to the description's directory)."""
    for scheme, find in (("package://", package_share), ("model://", model_dir)):
        if uri.startswith(scheme):
            name, _, rest = uri[len(scheme):].partition("/")
            return find(name, packages) / rest
    if uri.startswith("file://"):
        return Path(uri[len("file://"):])
    path = Path(uri)
    return path if path.is_absolute() else base_dir / path
