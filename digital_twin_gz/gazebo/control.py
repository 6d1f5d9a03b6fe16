"""World control of Gazebo through gz-transport, for what ros_gz_bridge does not carry.

Resynchronising the virtual robot (``/world/<world>/set_pose``, gz.msgs.Pose ->
gz.msgs.Boolean) and pausing, stepping and resetting the world (``/world/<world>/control``,
gz.msgs.WorldControl -> gz.msgs.Boolean). The bindings (``gz.transport13``, ``gz.msgs10``,
Debian packages ``python3-gz-transport13`` and ``python3-gz-msgs10`` on a Harmonic install)
are imported on first use only, so everything else works without them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

BINDINGS = ("gz.transport13", "gz.msgs10.pose_pb2", "gz.msgs10.boolean_pb2", "gz.msgs10.world_control_pb2")


class SimControlError(RuntimeError):
    """A simulator control request that could not be carried out; the message says why."""


class GazeboControl:
    """``set_base_pose`` and ``reset`` like the embedded simulator's, plus pause and step."""

    def __init__(self, world: str, robot: str, timeout_ms: int = 2000) -> None:
        self.world = world
        self.robot = robot
        self.timeout_ms = timeout_ms
        self._modules: dict[str, ModuleType] | None = None
        self._node = None

    def _bindings(self) -> dict[str, ModuleType]:
        if self._modules is None:
            try:
                self._modules = {name: importlib.import_module(name) for name in BINDINGS}
            except ImportError as err:
                raise SimControlError(
                    f"Gazebo control needs the gz-transport Python bindings ({', '.join(BINDINGS[:2])}), "
                    f"which are not importable here ({err}). On Ubuntu with Gazebo Harmonic: "
                    "sudo apt install python3-gz-transport13 python3-gz-msgs10") from err
            self._node = self._modules["gz.transport13"].Node()
        return self._modules

    def _request(self, service: str, request, request_type, response_type) -> None:
        ok, response = self._node.request(service, request, request_type, response_type, self.timeout_ms)
        if not ok or not response.data:
            raise SimControlError(f"Gazebo did not accept {service} within {self.timeout_ms} ms "
                                  "(is gz sim running with this world?)")

    def set_base_pose(self, position: np.ndarray, orientation: np.ndarray) -> None:
        """Teleport the robot's model; ``orientation`` is x, y, z, w."""
        m = self._bindings()
        pose_cls, boolean = m["gz.msgs10.pose_pb2"].Pose, m["gz.msgs10.boolean_pb2"].Boolean
        request = pose_cls(name=self.robot)
        request.position.x, request.position.y, request.position.z = (float(v) for v in position)
        o = request.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in orientation)
        self._request(f"/world/{self.world}/set_pose", request, pose_cls, boolean)

    def _control(self, **fields) -> None:
        m = self._bindings()
        control_cls = m["gz.msgs10.world_control_pb2"].WorldControl
        request = control_cls(**{k: v for k, v in fields.items() if k != "reset_all"})
        if fields.get("reset_all"):
            request.reset.all = True
        self._request(f"/world/{self.world}/control", request, control_cls, m["gz.msgs10.boolean_pb2"].Boolean)

    def reset(self) -> None:
        """Reset the world: the spawned robot goes back to its initial pose and time to zero."""
        self._control(reset_all=True)

    def pause(self, paused: bool) -> None:
        self._control(pause=paused)

    def step(self, steps: int) -> None:
        """Run ``steps`` physics steps, then stay paused."""
        self._control(pause=True, multi_step=int(steps))
