"""Which recordings a fleet command takes, and the folder each one's results land in.

An argument is a recording (an ``.mcap`` or ``.db3`` file, or a rosbag2 directory: one with a
``metadata.yaml``), a directory of recordings (searched recursively; a rosbag2 directory in it is one
recording, its storage files are not counted again), or a glob pattern (``**`` matches across
directories) whose matches are taken as arguments; a storage file of a rosbag2 directory stands for
the directory. The recordings come out once each, in path order.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

RECORDING_SUFFIXES = (".mcap", ".db3")
ROSBAG2_METADATA = "metadata.yaml"


class DiscoveryError(ValueError):
    """An argument that names no recording; the message says which and why."""


@dataclass(frozen=True)
class Recording:
    """A recording of the fleet and the folder (relative to the fleet's output) its results go to."""

    path: Path
    folder: str


def _is_rosbag2(path: Path) -> bool:
    return path.is_dir() and (path / ROSBAG2_METADATA).is_file()


def _walk(directory: Path) -> Iterable[Path]:
    """The recordings under a directory: rosbag2 directories whole, loose .mcap/.db3 files one each."""
    for root, dirs, files in os.walk(directory, followlinks=True):
        here = Path(root)
        if _is_rosbag2(here):
            dirs.clear()
            yield here
            continue
        dirs.sort()
        for name in sorted(files):
            if Path(name).suffix in RECORDING_SUFFIXES:
                yield here / name


def _expand(argument: str) -> list[Path]:
    if glob.has_magic(argument):
        matches = sorted(glob.glob(os.path.expanduser(argument), recursive=True))
        if not matches:
            raise DiscoveryError(f"{argument}: the pattern matches nothing")
        return [Path(m) for m in matches]
    path = Path(argument).expanduser()
    if not path.exists():
        raise DiscoveryError(f"{argument}: no such file or directory")
    return [path]


def find_recordings(arguments: Sequence[str]) -> list[Path]:
    """Every recording the arguments name (files, directories, globs), each once, sorted."""
    found: dict[Path, None] = {}
    for argument in arguments:
        named = []
        for path in _expand(argument):
            if path.is_file() and _is_rosbag2(path.parent):
                named.append(path.parent)  # a storage file of a rosbag2 directory: the recording is the directory
            elif path.is_dir() and not _is_rosbag2(path):
                named += _walk(path)
            elif path.suffix in RECORDING_SUFFIXES or _is_rosbag2(path) or not glob.has_magic(argument):
                # A file named on its own is taken whatever its name: the reader says what is wrong with it.
                named.append(path)
        if not named:
            raise DiscoveryError(f"{argument}: no recording found (.mcap or .db3 files, rosbag2 directories "
                                 f"with a {ROSBAG2_METADATA})")
        found.update(dict.fromkeys(p.resolve() for p in named))
    return sorted(found)


def output_folders(recordings: Sequence[Path]) -> list[Recording]:
    """Each recording with its own folder: its path relative to the recordings' common directory,
    without the suffix (``robot_a/2024-05-01.mcap`` -> ``robot_a/2024-05-01``); the suffix stays,
    as ``_mcap``/``_db3``, where two recordings would share a folder (``run.mcap`` and ``run.db3``)."""
    if not recordings:
        return []
    common = Path(os.path.commonpath([str(p.parent) for p in recordings]))
    relative = [p.relative_to(common) for p in recordings]
    stems = [str(r.with_suffix("")) if r.suffix in RECORDING_SUFFIXES else str(r) for r in relative]
    return [Recording(path, f"{stem}_{r.suffix[1:]}" if stems.count(stem) > 1 and r.suffix else stem)
            for path, r, stem in zip(recordings, relative, stems)]
