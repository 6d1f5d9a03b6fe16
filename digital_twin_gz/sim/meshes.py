"""Meshes in every format Gazebo reads, handed to MuJoCo in one it takes.

Gazebo (gz-common) reads STL (binary and ASCII), OBJ and Collada (DAE). MuJoCo's decoders
take binary STL and OBJ only, so those go to MuJoCo as they are and everything else is
read with trimesh (pycollada for DAE) and written once into a cache as binary STL, or OBJ
past the face count MuJoCo's STL decoder accepts. A DAE keeps what gz-common makes of it:
its nodes' transforms and its ``<unit meter>`` scale applied, its ``up_axis`` ignored.
The cache is keyed by the file's path, size and modification time, so an edited mesh is
read again and an unchanged one costs a ``stat``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from digital_twin_gz.robot import DescriptionError

# MuJoCo's STL decoder refuses more faces than this (stl_decoder: "between 1 and 200000").
STL_FACE_LIMIT = 200000
# Bump when the conversion changes, so cached files made the old way are not used.
_CACHE_VERSION = "1"


class MeshError(DescriptionError):
    """A mesh that cannot be read; the message names the link, the URI and the resolved path."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "digital_twin_gz" / "meshes"


def _binary_stl(path: Path) -> bool:
    """A binary STL's size is 84 bytes plus 50 per face it declares; an ASCII one's is not."""
    size = path.stat().st_size
    if size < 84:
        return False
    with open(path, "rb") as f:
        f.seek(80)
        faces = int.from_bytes(f.read(4), "little")
    return 0 < faces <= STL_FACE_LIMIT and size == 84 + 50 * faces


def _read(path: Path):
    """The mesh of a file as one trimesh: a scene's geometries placed by their node transforms and
    scaled by its unit (a DAE's ``<unit meter>``), as gz-common loads it."""
    import trimesh

    loaded = trimesh.load(str(path), process=False)
    if isinstance(loaded, trimesh.Scene):
        units = loaded.units
        loaded = loaded.to_mesh()
        if units and units != "meters":
            loaded.apply_scale(trimesh.units.unit_conversion(units, "meters"))
    if not isinstance(loaded, trimesh.Trimesh) or len(loaded.faces) == 0:
        raise ValueError("it holds no triangles")
    return loaded


def mujoco_mesh(path: Path) -> Path:
    """A file MuJoCo's mesh loader takes with the same geometry as ``path`` (``path`` itself when
    it is a binary STL or an OBJ). Raises OSError or ValueError when the file cannot be read."""
    suffix = path.suffix.lower()
    if suffix == ".obj" or (suffix == ".stl" and _binary_stl(path)):
        return path
    stat = path.stat()
    key = hashlib.sha1(f"{_CACHE_VERSION}:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    for cached in (cache_dir() / f"{path.stem}-{key[:16]}{ext}" for ext in (".stl", ".obj")):
        if cached.is_file():
            return cached
    mesh = _read(path)
    ext = ".stl" if len(mesh.faces) <= STL_FACE_LIMIT else ".obj"
    target = cache_dir() / f"{path.stem}-{key[:16]}{ext}"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.part")
    mesh.export(str(partial), file_type=ext[1:])
    partial.replace(target)  # atomic: nodes loading the robot at the same time never see half a file
    return target


def check_mesh(path: Path, where: str, link: str, uri: str) -> Path:
    """``mujoco_mesh`` of a link's mesh, or MeshError naming the file, link, URI and path."""
    if not path.is_file():
        raise MeshError(f"{where}: link '{link}': mesh {uri} does not exist ({path})")
    try:
        return mujoco_mesh(path)
    except Exception as err:  # trimesh and pycollada raise many kinds for a damaged file
        raise MeshError(f"{where}: link '{link}': mesh {uri} ({path}) cannot be read: "
                        f"{type(err).__name__}: {err}") from err
