"""Loading a user's 40-joint humanoid with meshes: description + embedded model, cold and warm.

What every twin process (embedded_sim, physical_emulator, twin_sync, gap_monitor, replay,
check) pays before it runs: xacro/parse, derived gains, and the MuJoCo model with its meshes.
The robot is generated here: 40 revolute joints, one mesh per link in the formats Gazebo reads
(binary STL, ASCII STL, DAE in millimetres), 20480 faces each, every one also a collision mesh:
a worst case for MuJoCo's compile, as every vertex of a sphere is on its convex hull. ``--urdf``
measures a real robot instead (Unitree G1 with hands: 43 joints, 49 meshes).
Side by side in one run, each stage timed in a fresh process, as every node pays it:
  cold      load_description + build_model, empty mesh cache (ASCII STL and DAE converted)
  warm      the same in the next process (converted meshes from the cache)
  mujoco    MuJoCo alone compiling the same model with every mesh already binary STL (the floor)
Usage: .venv/bin/python bench/bench_description.py [--repeats 3] [--urdf FILE --package NAME=DIR ...]
Prints a table and, last, one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mujoco
import trimesh

from digital_twin_gz.cli.common import parse_packages, parse_xacro_args
from digital_twin_gz.robot import load_description, load_world
from digital_twin_gz.sim.builder import _mujoco_urdf, build_model

BUDGET_S = 3.0
FORMATS = ("stl", "stl_ascii", "dae")
STAGES = ("cold", "warm", "mujoco")


def _link(name: str, mesh: str, z: float) -> str:
    inertia = 'ixx="0.002" ixy="0" ixz="0" iyy="0.002" iyz="0" izz="0.002"'
    return (f'<link name="{name}"><inertial><origin xyz="0 0 {z}"/><mass value="1.0"/><inertia {inertia}/>'
            f'</inertial><visual><origin xyz="0 0 {z}"/><geometry><mesh filename="{mesh}"/></geometry></visual>'
            f'<collision><origin xyz="0 0 {z}"/><geometry><mesh filename="{mesh}"/></geometry></collision></link>')


def write_robot(directory: Path) -> Path:
    """40 joints: per side 6 leg, 7 arm and 4 finger joints, 3 waist and 3 neck joints, each link a mesh."""
    meshes = directory / "meshes"
    meshes.mkdir(parents=True)
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.05)
    millimetres = sphere.copy()
    millimetres.apply_scale(1000.0)
    parts, count = ['<?xml version="1.0"?>', '<robot name="bench40">', _link("pelvis", "meshes/m0.stl", 0.0)], 0

    def add(parent: str, axis: str, xyz: str) -> str:
        nonlocal count
        count += 1
        kind = FORMATS[count % len(FORMATS)]
        name = f"m{count}.{'dae' if kind == 'dae' else 'stl'}"
        if kind == "dae":
            text = (millimetres.export(file_type="dae").decode()
                    .replace("<up_axis>", '<unit meter="0.001" name="millimetre"/><up_axis>'))
            (meshes / name).write_text(text)
        else:
            sphere.export(str(meshes / name), file_type=kind)
        link = f"link{count}"
        parts.append(_link(link, f"meshes/{name}", -0.05))
        parts.append(f'<joint name="joint{count}" type="revolute"><parent link="{parent}"/><child link="{link}"/>'
                     f'<origin xyz="{xyz}"/><axis xyz="{axis}"/>'
                     '<limit lower="-1" upper="1" effort="100" velocity="5"/></joint>')
        return link

    sphere.export(str(meshes / "m0.stl"))
    for side in (1, -1):
        parent = "pelvis"
        for k, axis in enumerate(("0 0 1", "1 0 0", "0 1 0", "0 1 0", "0 1 0", "1 0 0")):
            parent = add(parent, axis, f"0 {0.1 * side} -0.05" if k == 0 else "0 0 -0.12")
    parent = "pelvis"
    for axis in ("0 0 1", "1 0 0", "0 1 0"):
        parent = add(parent, axis, "0 0 0.1")
    chest = parent
    for side in (1, -1):
        parent = chest
        for k, axis in enumerate(("0 1 0", "1 0 0", "0 0 1", "0 1 0", "0 0 1", "1 0 0", "0 1 0")):
            parent = add(parent, axis, f"0 {0.2 * side} 0.2" if k == 0 else "0 0 -0.08")
        hand = parent
        for _ in range(4):
            add(hand, "0 1 0", "0 0 -0.05")
    add(add(add(chest, "0 0 1", "0 0 0.3"), "0 1 0", "0 0 0.05"), "1 0 0", "0 0 0.02")
    parts.append("</robot>")
    urdf = directory / "bench40.urdf"
    urdf.write_text("\n".join(parts))
    return urdf


def timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def _stage(stage: str, urdf: Path, packages: dict[str, Path], xacro_args: dict[str, str]) -> float:
    """Seconds one fresh process spends on ``stage`` (MuJoCo keeps compiled meshes in memory,
    so a second load in the same process would be cheaper than any node's)."""
    world = load_world()
    if stage == "mujoco":
        text, _ = _mujoco_urdf(load_description(urdf, packages=packages, xacro_args=xacro_args))
        return timed(lambda: mujoco.MjSpec.from_string(text).compile())[0]
    return timed(lambda: build_model(load_description(urdf, packages=packages, xacro_args=xacro_args), world))[0]


def _in_fresh_process(stage: str, cache: Path, argv: list[str]) -> float:
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run([sys.executable, __file__, "--stage", stage, *argv], env=env, check=True,
                          capture_output=True, text=True)
    return float(done.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--urdf", type=Path, help="a robot of your own instead of the generated one")
    parser.add_argument("--package", action="append", default=[], help="NAME=DIR, repeatable")
    parser.add_argument("--xacro-arg", action="append", default=[], help="NAME:=VALUE, repeatable")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    packages, xacro_args = parse_packages(args.package), parse_xacro_args(args.xacro_arg)
    if args.stage:
        print(_stage(args.stage, args.urdf, packages, xacro_args))
        return
    walls: dict[str, list[float]] = {stage: [] for stage in STAGES}
    with tempfile.TemporaryDirectory() as tmp:
        urdf = (args.urdf or write_robot(Path(tmp) / "robot")).resolve()
        argv = ["--urdf", str(urdf), *(f"--package={p}" for p in args.package),
                *(f"--xacro-arg={a}" for a in args.xacro_arg)]
        for repeat in range(args.repeats):
            cache = Path(tmp) / f"cache{repeat}"  # empty: every mesh converted by the cold process
            for stage in STAGES:
                walls[stage].append(_in_fresh_process(stage, cache, argv))
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache0")
        description = load_description(urdf, packages=packages, xacro_args=xacro_args)
        model = mujoco.MjSpec.from_string(_mujoco_urdf(description)[0]).compile()
    joints = len(description.joint_names)
    faces = int(model.nmeshface)
    print(f"{description.name}: {joints} joints, {model.nmesh} meshes, {faces} faces, median of {args.repeats}, "
          "each stage in a fresh process")
    print(f"{'stage':<8} {'s':>7} {'vs mujoco':>10} {'of 3 s':>7}")
    floor = statistics.median(walls["mujoco"])
    result = {"robot": description.name, "joints": joints, "meshes": int(model.nmesh), "faces": faces}
    for name, values in walls.items():
        wall = statistics.median(values)
        result[f"{name}_s"] = round(wall, 3)
        print(f"{name:<8} {wall:7.2f} {wall / floor:10.2f} {wall / BUDGET_S:7.2f}")
    result["warm_vs_mujoco"] = round(result["warm_s"] / result["mujoco_s"], 2)
    print(json.dumps(result))

if __name__ == "__main__":
    main()
