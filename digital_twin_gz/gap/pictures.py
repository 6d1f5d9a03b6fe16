"""Pictures of the reality gap: the physical robot drawn solid, the twin as a ghost, at the
moments the two were furthest apart."""

from __future__ import annotations

import io
from dataclasses import dataclass

import mujoco
import numpy as np
from PIL import Image

from digital_twin_gz.gap.log import criteria
from digital_twin_gz.gap.metrics import GapSamples
from digital_twin_gz.robot import RobotDescription, WorldSettings
from digital_twin_gz.sim import Simulator
from digital_twin_gz.sim.view import FrameRenderer, Ghost
from digital_twin_gz.twin import PairedStates

CAMERAS = ("front", "side")
# Each view: width, height (px) and the zoom of the cameras' field of view.
FRAME = (400, 500)
ZOOM = 1.2


@dataclass(frozen=True)
class Picture:
    time_s: float
    caption: str
    png: bytes


def gap_moments(errors: GapSamples, snapshots: PairedStates, count: int = 3,
                min_separation: float = 0.5) -> list[tuple[int, str]]:
    """Snapshot indices (with why) of the largest base position, key-link and base orientation
    errors (``errors``: the snapshots' own, row for row); moments closer than ``min_separation`` s
    to one already chosen give way to the next."""
    units = {"largest base position error": "mm", "largest mean key-link error": "mm",
             "largest base orientation error": "deg"}
    chosen: list[tuple[int, str]] = []
    for title, values in list(criteria(errors).items())[:count]:
        for k in np.argsort(-values, kind="stable"):
            if all(abs(snapshots.times[k] - snapshots.times[j]) >= min_separation for j, _ in chosen):
                chosen.append((int(k), f"{title}: {values[k]:.1f} {units[title]}"))
                break
    return chosen


def render_moments(description: RobotDescription, world: WorldSettings, snapshots: PairedStates,
                   errors: GapSamples, origin: float) -> list[Picture]:
    """Front and side views, side by side, of each of :func:`gap_moments` (needs an OpenGL
    context: MUJOCO_GL=egl or osmesa without a display). The cameras follow the robot from
    3 m, zoomed in so the robot fills the picture."""
    sim = Simulator(description, world)
    cameras = [mujoco.mj_name2id(sim.model, mujoco.mjtObj.mjOBJ_CAMERA, name) for name in CAMERAS]
    sim.model.cam_fovy[cameras] = np.degrees(2 * np.arctan(np.tan(np.radians(sim.model.cam_fovy[cameras]) / 2) / ZOOM))
    renderer = FrameRenderer(sim, *FRAME)
    ghost = Ghost(sim)
    pictures = []
    try:
        for k, caption in gap_moments(errors, snapshots):
            sim.reset(snapshots.physical_joints[k], snapshots.physical_base_position[k],
                      snapshots.physical_base_orientation[k])
            ghost.pose(snapshots.virtual_base_position[k], snapshots.virtual_base_orientation[k],
                       snapshots.virtual_joints[k])
            frame = np.concatenate([renderer.render(camera, ghost=ghost) for camera in CAMERAS], axis=1)
            png = io.BytesIO()
            Image.fromarray(frame).save(png, format="PNG")
            pictures.append(Picture(float(snapshots.times[k] - origin), caption, png.getvalue()))
    finally:
        renderer.close()
    return pictures
