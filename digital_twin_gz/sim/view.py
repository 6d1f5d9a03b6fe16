"""Pictures of the simulated robot: offscreen frames and the interactive viewer's ghost.

A ghost is a second robot pose (the physical robot's) drawn translucent into the same
scene, so the gap between the two is visible.
"""

from __future__ import annotations

import mujoco
import numpy as np

from digital_twin_gz.sim.simulator import Simulator, xyzw_to_wxyz

GHOST_RGBA = np.array([1.0, 0.45, 0.1, 0.35])


class Ghost:
    """The robot's model in another pose (base position, orientation xyzw, joint positions)."""

    def __init__(self, sim: Simulator) -> None:
        self.model = sim.model
        self.data = mujoco.MjData(sim.model)
        self._q = sim.built.qpos_index
        self._options = mujoco.MjvOption()
        self._perturb = mujoco.MjvPerturb()
        self.pose(sim.state().base_position, sim.state().base_orientation, sim.state().joint_positions)

    def pose(self, base_position: np.ndarray, base_orientation: np.ndarray, joint_positions: np.ndarray) -> None:
        self.data.qpos[0:3] = base_position
        self.data.qpos[3:7] = xyzw_to_wxyz(base_orientation)
        self.data.qpos[self._q] = joint_positions
        mujoco.mj_kinematics(self.model, self.data)

    def draw(self, scene: mujoco.MjvScene, rgba: np.ndarray = GHOST_RGBA) -> None:
        """Append the ghost's visual geoms to ``scene``, tinted translucent."""
        first = scene.ngeom
        mujoco.mjv_addGeoms(self.model, self.data, self._options, self._perturb,
                            mujoco.mjtCatBit.mjCAT_DYNAMIC, scene)
        for k in range(first, scene.ngeom):
            scene.geoms[k].rgba[:] = rgba


class FrameRenderer:
    """Offscreen RGB frames (needs MUJOCO_GL=egl or osmesa on a machine without a display)."""

    def __init__(self, sim: Simulator, width: int = 640, height: int = 480) -> None:
        self.sim = sim
        self.renderer = mujoco.Renderer(sim.model, height=height, width=width)

    def render(self, camera: str = "front", ghost: Ghost | None = None) -> np.ndarray:
        if mujoco.mj_name2id(self.sim.model, mujoco.mjtObj.mjOBJ_CAMERA, camera) < 0:
            raise KeyError(f"no camera '{camera}'")
        self.renderer.update_scene(self.sim.data, camera=camera)
        if ghost is not None:
            ghost.draw(self.renderer.scene)
        return self.renderer.render().copy()

    def close(self) -> None:
        self.renderer.close()
