"""Record topics of the running twin into an MCAP file, as ``ros2 bag record -s mcap`` would.

Subscriptions are ``raw=True``: rclpy hands over the serialized CDR bytes, which go into
the file untouched (:class:`~digital_twin_gz.recording.McapRecorder`), stamped with the
receive time as log time, as rosbag2 does. The nodes spin on rclpy's EventsExecutor, which
cannot hand a callback the message info (a callback taking it fails with ``SystemError: null
argument to internal routine`` in these wheels), so the receive time is taken in the callback
and the publish time is the same.

A write that fails (a full disk) stops the recording with a warning, never the node: what was
written up to the last complete chunk stays readable (``replay`` reads it, saying it is truncated).
"""

from __future__ import annotations

import time
from pathlib import Path

from rclpy.node import Node

from digital_twin_gz.nodes.common import STATE_QOS
from digital_twin_gz.recording import McapRecorder


def type_name(msg_type: type) -> str:
    """``sensor_msgs/msg/JointState`` for the rclpy class ``sensor_msgs.msg.JointState``."""
    return f"{msg_type.__module__.split('.')[0]}/msg/{msg_type.__name__}"


class TopicRecorder:
    def __init__(self, node: Node, path: Path, topics: list[tuple[str, type]], metadata: dict[str, str]) -> None:
        self.recorder = McapRecorder(path, metadata)
        self.logger = node.get_logger()
        self.failed: OSError | None = None
        for topic, msg_type in topics:
            # The resolved name: remappings apply to what is recorded, as to what is measured.
            channel = self.recorder.channel(node.resolve_topic_name(topic), type_name(msg_type))
            node.create_subscription(msg_type, topic, self._writer(channel), STATE_QOS, raw=True)

    def _writer(self, channel: int):
        def write(data: bytes) -> None:
            if self.failed is not None:
                return
            try:
                self.recorder.write(channel, data, time.time_ns())
            except OSError as err:
                self.failed = err
                self.logger.warning(f"recording to {self.recorder.path} stopped after {self.recorder.count} "
                                    f"messages: {err}; what it holds up to its last complete chunk stays readable")
        return write

    def close(self) -> None:
        try:
            if self.failed is None:
                self.recorder.close()
            else:
                self.recorder.abandon()
        except OSError as err:
            self.logger.warning(f"recording {self.recorder.path} not finished: {err} (replay reads what it holds)")
