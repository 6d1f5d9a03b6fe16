"""Writing recordings: serialized ROS 2 messages into an MCAP file in the ROS 2 profile.

:class:`McapRecorder` writes serialized CDR messages (what rclpy hands a ``raw=True``
subscription) as ``ros2 bag record -s mcap`` does: profile ``ros2``, ``ros2msg`` schemas,
``cdr`` messages, chunked with zstd, with statistics and indexes in the summary. It opens in
Foxglove, Lichtblick and PlotJuggler and plays with ``ros2 bag play``.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from mcap.writer import CompressionType, Writer

from digital_twin_gz.recording.samples import METADATA_NAME, RecordingError, typestore


class McapRecorder:
    """Serialized ROS 2 messages into an MCAP file in the ROS 2 profile.

    ``channel(topic, type)`` once per topic, then ``write(channel, cdr_bytes, log_time_ns)``;
    ``close()`` writes the summary (statistics, indexes). ``metadata`` lands in a metadata
    record named ``digital_twin_gz`` (replay reads the profile and motion from it).
    """

    def __init__(self, path: Path, metadata: dict[str, str] | None = None) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._stream: BinaryIO = open(self.path, "wb")
        self._writer = Writer(self._stream, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="digital_twin_gz")
        if metadata:
            self._writer.add_metadata(METADATA_NAME, {k: str(v) for k, v in metadata.items()})
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self.count = 0

    def channel(self, topic: str, msgtype: str) -> int:
        """The channel id of ``topic`` (registered with its ``ros2msg`` schema on first use)."""
        if topic in self._channels:
            return self._channels[topic]
        schema = self._schemas.get(msgtype)
        if schema is None:
            try:
                text, _ = typestore().generate_msgdef(msgtype, ros_version=2)
            except Exception as err:
                raise RecordingError(f"{self.path}: no message definition for {msgtype} ({err})") from err
            schema = self._schemas[msgtype] = self._writer.register_schema(msgtype, "ros2msg", text.encode())
        self._channels[topic] = self._writer.register_channel(topic, "cdr", schema)
        return self._channels[topic]

    def write(self, channel: int, data: bytes, log_time_ns: int, publish_time_ns: int | None = None) -> None:
        self._writer.add_message(channel, log_time_ns, bytes(data),
                                 log_time_ns if publish_time_ns is None else publish_time_ns)
        self.count += 1

    def close(self) -> None:
        if self._stream.closed:
            return
        self._writer.finish()
        self._stream.close()

    def abandon(self) -> None:
        """Close the file without its summary, after a write failed (the writer's state is then
        unknown): readers recover the complete chunks before the failure."""
        if not self._stream.closed:
            self._stream.close()

    def __enter__(self) -> McapRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
