"""World control of Gazebo through gz-transport, for what ros_gz_bridge does not carry.

Resynchronising the virtual robot (``/world/<world>/set_pose``, gz.msgs.Pose ->
gz.msgs.Boolean) and pausing and stepping the world (``/world/<world>/control``,
gz.msgs.WorldControl -> gz.msgs.Boolean). gz-sim's answer to set_pose only says the request
was queued (it is always true): the model's odometry shows whether it took effect
(:class:`digital_twin_gz.twin.ResyncWatch`). A world reset is not offered: gz-sim restores the
world as it was loaded, which removes a robot spawned since, and runs it again.

The bindings (``gz.transport13``, ``gz.msgs10``) come with ROS 2 Jazzy's ``gz_transport_vendor``
and ``gz_msgs_vendor`` in their recent releases, or with Gazebo Harmonic's Debian packages
``python3-gz-transport13`` and ``python3-gz-msgs10``; they are imported on first use only, so
everything else works without them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

BINDINGS = ("gz.transport13", "gz.msgs10.pose_pb2", "gz.msgs10.boolean_pb2", "gz.msgs10.world_control_pb2")


class SimControlError(RuntimeError):
    """A simulator control request that could not be carried out; the message says why."""


class GazeboControl:
    """``set_base_pose`` like the embedded simulator's, plus pause and step."""

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
                    f"which are not importable here ({err}). ROS 2 Jazzy's gz_transport_vendor and gz_msgs_vendor "
                    "carry them in their recent releases (sudo apt upgrade ros-jazzy-gz-transport-vendor "
                    "ros-jazzy-gz-msgs-vendor); with Gazebo Harmonic from packages.osrfoundation.org: "
                    "sudo apt install python3-gz-transport13 python3-gz-msgs10") from err
            self._node = self._modules["gz.transport13"].Node()
        return self._modules

    def _request(self, service: str, request, request_type, response_type) -> None:
        ok, response = self._node.request(service, request, request_type, response_type, self.timeout_ms)
        if not ok or not response.data:
            raise SimControlError(f"Gazebo did not answer {service} within {self.timeout_ms} ms, or refused it "
                                  "(is gz sim running with this world?)")

    def set_base_pose(self, position: np.ndarray, orientation: np.ndarray) -> None:
        """Ask gz-sim to teleport the robot's model (velocities kept); ``orientation`` is x, y, z, w.
        Raises only when gz-sim does not answer: its answer does not say the pose was set."""
        m = self._bindings()
        pose_cls, boolean = m["gz.msgs10.pose_pb2"].Pose, m["gz.msgs10.boolean_pb2"].Boolean
        request = pose_cls(name=self.robot)
        request.position.x, request.position.y, request.position.z = (float(v) for v in position)
        o = request.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in orientation)
        self._request(f"/world/{self.world}/set_pose", request, pose_cls, boolean)

    def ready(self) -> bool:
        """Whether a pose can be sent now: gz-sim's service is called and answers (or fails) then."""
        return True

    def taken(self) -> bool:
        """Whether the last pose asked for is with gz-sim: always, once :meth:`set_base_pose` returned."""
        return True

    def _control(self, **fields) -> None:
        m = self._bindings()
        control_cls = m["gz.msgs10.world_control_pb2"].WorldControl
        self._request(f"/world/{self.world}/control", control_cls(**fields), control_cls,
                      m["gz.msgs10.boolean_pb2"].Boolean)

    def pause(self, paused: bool) -> None:
        self._control(pause=paused)

    def step(self, steps: int) -> None:
        """Run ``steps`` physics steps, then stay paused."""
        self._control(pause=True, multi_step=int(steps))
