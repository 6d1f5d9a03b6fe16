"""CDR messages as arrays: JointState and pose messages decoded many at once, and the messages
of the live hot path (JointState, JointTrajectory, Odometry) read and written one at a time.

A robot publishes the same joint names (and frame ids) in every message, so messages of one
byte length almost always share one layout: their fields are read straight out of the bytes as
numpy arrays, the first message of each layout checked against rosbags' decoder, and any
message that does not fit goes through rosbags on its own. Writing goes the other way: a
message serialized once is the template whose stamp and float64 fields are set in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from digital_twin_gz.recording.samples import JOINT_STATE, ODOMETRY, RecordingError, typestore

JOINT_TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
_NS = 1_000_000_000


class Layout:
    """Byte offsets in a little-endian CDR message whose strings and sequence lengths equal
    those of a reference message (alignment counts from the end of the 4-byte encapsulation
    header). ``fixed`` are the byte ranges that hold those strings and lengths: a message
    that matches the reference there has this layout. ``at`` names the offsets of the fields
    read or written as arrays: field -> (byte offset, float64 count; 0 for a stamp)."""

    def __init__(self, data: bytes) -> None:
        self.pos = 4
        self.fixed = [(0, 4)] if data[:4] == b"\x00\x01\x00\x00" else None  # CDR little endian only
        self.at: dict[str, tuple[int, int]] = {}
        self._reference = data

    def _align(self, size: int) -> None:
        self.pos = 4 + -(-(self.pos - 4) // size) * size

    def stamp(self, name: str = "stamp") -> int:
        """A builtin_interfaces Time or Duration (int32 sec, uint32 nanosec)."""
        self._align(4)
        self.pos += 8
        self.at[name] = (self.pos - 8, 0)
        return self.pos - 8

    def string(self, value: str) -> None:
        self._align(4)
        size = 4 + len(value.encode()) + 1
        self.fixed.append((self.pos, self.pos + size))
        self.pos += size

    def length(self) -> None:
        """A sequence's element count."""
        self._align(4)
        self.fixed.append((self.pos, self.pos + 4))
        self.pos += 4

    def doubles(self, count: int, sequence: bool = True, name: str | None = None) -> int:
        if sequence:
            self.length()
        if count:
            self._align(8)
        self.pos += 8 * count
        if name is not None:
            self.at[name] = (self.pos - 8 * count, count)
        return self.pos - 8 * count

    def mask(self) -> np.ndarray:
        """The fixed ranges as a mask over the message's first 32-bit words."""
        mask = np.zeros(4 * -(-max(b for _, b in self.fixed) // 4), dtype=np.uint8)
        for a, b in self.fixed:
            mask[a:b] = 0xFF
        return mask.view("<u4")

    def complete(self) -> bool:
        """Whether the walk covered the reference message; then :meth:`matches` works. Bytes past
        the end of the walk are left alone: rmw_fastrtps serializes a JointTrajectory into a buffer
        8 bytes longer than the message, and sends those bytes too."""
        if self.fixed is None or not self.at or self.pos > len(self._reference):
            return False
        self._mask = self.mask()
        if 4 * len(self._mask) > len(self._reference):
            return False
        self._words = np.frombuffer(self._reference, dtype="<u4", count=len(self._mask)) & self._mask
        return True

    def matches(self, data: bytes) -> bool:
        """Whether one message has this layout (same length, strings and sequence lengths)."""
        return (len(data) == len(self._reference)
                and not ((np.frombuffer(data, dtype="<u4", count=len(self._words)) & self._mask) != self._words).any())

    def _stamp(self, data: bytes, name: str) -> tuple[int, int]:
        sec, nanosec = np.frombuffer(data, dtype="<i4", count=2, offset=self.at[name][0]).tolist()
        return sec, nanosec & 0xFFFFFFFF

    def stamp_ns(self, data: bytes, name: str = "stamp") -> int:
        sec, nanosec = self._stamp(data, name)
        return sec * _NS + nanosec

    def seconds(self, data: bytes, name: str = "stamp") -> float:
        """A stamp or duration in seconds, as ``sec + nanosec * 1e-9`` (what the nodes compute from messages)."""
        sec, nanosec = self._stamp(data, name)
        return sec + nanosec * 1e-9

    def values(self, data: bytes, name: str) -> np.ndarray:
        """A float64 field of one message of this layout, as a read-only view of its bytes."""
        offset, count = self.at[name]
        return np.frombuffer(data, dtype="<f8", count=count, offset=offset)


def _header_and_names(layout: Layout, frame_id: str, names) -> None:
    """A std_msgs/Header, then a sequence of joint names."""
    layout.stamp()
    layout.string(frame_id)
    layout.length()
    for name in names:
        layout.string(name)


def joint_state_layout(data: bytes, msg) -> Layout:
    """The layout of a JointState ``msg`` (decoded from ``data``): fields position, velocity, effort."""
    layout = Layout(data)
    if layout.fixed is not None:
        _header_and_names(layout, msg.header.frame_id, msg.name)
        for field in ("position", "velocity", "effort"):
            layout.doubles(len(getattr(msg, field)), name=field)
    return layout


def trajectory_layout(data: bytes, msg) -> Layout:
    """The layout of a one-point JointTrajectory ``msg`` (decoded from ``data``): fields
    positions, velocities, accelerations, effort and the point's time_from_start."""
    layout = Layout(data)
    if len(msg.points) != 1:
        layout.fixed = None  # no layout: several points are read by the message path
    if layout.fixed is not None:
        _header_and_names(layout, msg.header.frame_id, msg.joint_names)
        layout.length()
        point = msg.points[0]
        for field in ("positions", "velocities", "accelerations", "effort"):
            layout.doubles(len(getattr(point, field)), name=field)
        layout.stamp("time_from_start")
    return layout


def odometry_layout(data: bytes, msg) -> Layout:
    """The layout of an Odometry ``msg`` (decoded from ``data``): fields pose (x, y, z, qx, qy,
    qz, qw), pose_covariance, twist (vx, vy, vz, wx, wy, wz), twist_covariance."""
    layout = Layout(data)
    if layout.fixed is not None:
        layout.stamp()
        layout.string(msg.header.frame_id)
        layout.string(msg.child_frame_id)
        for name, count in (("pose", 7), ("pose_covariance", 36), ("twist", 6), ("twist_covariance", 36)):
            layout.doubles(count, sequence=False, name=name)
    return layout


def clock_layout(data: bytes, msg) -> Layout:
    """The layout of a rosgraph_msgs Clock: its stamp, named ``stamp``."""
    layout = Layout(data)
    if layout.fixed is not None:
        layout.stamp()
    return layout


class Writer:
    """Messages of one layout written in place: a template serialized once (all its strings and
    lengths as every message will have them), its stamp and float64 fields then set with numpy,
    which costs a fraction of building and serializing a message object per sample."""

    def __init__(self, template: bytes, layout: Layout) -> None:
        if not layout.complete():
            raise ValueError("the template does not have the layout given for it")
        self._buffer = bytearray(template)
        self._stamps = {name: np.ndarray(2, dtype="<i4", buffer=self._buffer, offset=offset)
                        for name, (offset, count) in layout.at.items() if count == 0}
        self._fields = {name: np.ndarray(count, dtype="<f8", buffer=self._buffer, offset=offset)
                        for name, (offset, count) in layout.at.items() if count}

    def write(self, stamp_ns: int, **fields: np.ndarray) -> bytes:
        """The message at ``stamp_ns`` with the given float64 fields (others as last written)."""
        self._stamps["stamp"][:] = divmod(int(stamp_ns), _NS)
        for name, values in fields.items():
            self._fields[name][:] = values
        return bytes(self._buffer)


class Reader:
    """One kind of message decoded one at a time: the layout of each byte length is learnt from
    the first message of that length (decoded by ``decode``), then read out of the bytes. A
    message that does not fit its length's layout is decoded on its own."""

    def __init__(self, decode: Callable[[bytes], object | None], layout_of: Callable[[bytes, object], Layout]) -> None:
        self._decode = decode
        self._layout_of = layout_of
        self._layouts: dict[int, tuple[Layout, object]] = {}

    def read(self, data: bytes) -> tuple[Layout | None, object | None]:
        """(layout, reference message) when ``data`` has a learnt layout, else (None, the message
        ``decode`` makes of it, None when it cannot)."""
        known = self._layouts.get(len(data))
        if known is not None and known[0].matches(data):
            return known
        msg = self._decode(data)
        if msg is None:
            return None, None
        layout = self._layout_of(data, msg)
        if known is None and layout.complete():
            self._layouts[len(data)] = (layout, msg)
            return layout, msg
        return None, msg


def same_layout(block: np.ndarray, layout: Layout) -> np.ndarray:
    """Rows of ``block`` (messages as byte rows) whose fixed ranges equal the first row's,
    compared as 32-bit words with the padding between the ranges masked out."""
    mask = layout.mask()
    if 4 * len(mask) > block.shape[1]:
        return np.arange(len(block)) == 0
    rows = field_view(block, 0, "<u4", len(mask))
    return (((rows ^ rows[0]) & mask) == 0).all(axis=1)


def field_view(block: np.ndarray, offset: int, dtype: str, count: int) -> np.ndarray:
    """``count`` values of ``dtype`` at ``offset`` in every row, without copying the bytes."""
    return np.ndarray((len(block), count), dtype=dtype, buffer=block, offset=offset, strides=(block.shape[1],
                                                                                             np.dtype(dtype).itemsize))


def doubles(block: np.ndarray, offset: int, count: int) -> np.ndarray:
    return field_view(block, offset, "<f8", count)


def stamp_ns(block: np.ndarray, offset: int) -> np.ndarray:
    sec = field_view(block, offset, "<i4", 1)[:, 0].astype(np.int64)
    return sec * 1_000_000_000 + field_view(block, offset + 4, "<u4", 1)[:, 0]


def by_length(datas: list[bytes]) -> dict[int, np.ndarray]:
    lengths = np.fromiter(map(len, datas), dtype=np.int64, count=len(datas))
    return {int(size): np.flatnonzero(lengths == size) for size in np.unique(lengths)}


def rows_of(datas: list[bytes], rows: np.ndarray, size: int) -> np.ndarray:
    """The messages ``rows`` (all of one byte length) as a (rows, size) byte array."""
    chosen = datas if len(rows) == len(datas) else [datas[r] for r in rows.tolist()]
    return np.frombuffer(b"".join(chosen), dtype=np.uint8).reshape(len(rows), size)


def decode(data: bytes, kind: str):
    """A message through rosbags' decoder, or None if the bytes are not a valid ``kind``."""
    try:
        return typestore().deserialize_cdr(data, kind)
    except Exception:
        return None


@dataclass
class JointBlock:
    """Messages with the same joint names: row numbers (message order) and their fields."""

    names: tuple[str, ...]
    rows: np.ndarray
    stamps_ns: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None
    efforts: np.ndarray | None


def decode_joint_states(datas: list[bytes]) -> list[JointBlock]:
    """JointState messages into blocks. A robot publishes the same names in every message, so
    messages of one byte length almost always share a layout: those are decoded as arrays at
    once (the first one checked against rosbags' decoder); any other message goes through
    rosbags on its own. Messages that do not decode are left out."""
    blocks: list[JointBlock] = []

    def one_by_one(rows: np.ndarray) -> None:
        for row in rows.tolist():
            msg = decode(datas[row], JOINT_STATE)
            if msg is not None:
                blocks.append(joint_block(msg, row))

    for size, rows in by_length(datas).items():
        first = decode(datas[rows[0]], JOINT_STATE)
        if first is None:
            one_by_one(rows)
            continue
        names = tuple(first.name)
        layout = joint_state_layout(datas[rows[0]], first)
        if not layout.complete():
            one_by_one(rows)
            continue
        stamp = layout.at["stamp"][0]
        offsets, counts = zip(*(layout.at[field] for field in ("position", "velocity", "effort")))
        block = rows_of(datas, rows, size)
        same = same_layout(block, layout)
        if not same.all():
            block = np.ascontiguousarray(block[same])
        arrays = [doubles(block, at, n) if n else None for at, n in zip(offsets, counts)]
        if arrays[0] is None:  # positions are never optional: a message without any has (k, 0)
            arrays[0] = np.empty((len(block), 0))
        decoded = JointBlock(names, rows[same], stamp_ns(block, stamp), *arrays)
        reference = joint_block(first, rows[0])
        if not (decoded.stamps_ns[0] == reference.stamps_ns[0]
                and np.array_equal(decoded.positions[0], reference.positions[0], equal_nan=True)):
            raise RecordingError(f"internal error: array decoding disagrees with rosbags for {names}")
        blocks.append(decoded)
        one_by_one(rows[~same])
    return blocks


def joint_block(msg, row: int) -> JointBlock:
    stamp = np.array([msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec], dtype=np.int64)
    optional = [np.asarray(v, dtype=float)[None, :] if len(v) else None for v in (msg.velocity, msg.effort)]
    return JointBlock(tuple(msg.name), np.array([row]), stamp, np.asarray(msg.position, dtype=float)[None, :],
                       *optional)


def decode_poses(datas: list[bytes], kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Header stamps (ns), poses (x, y, z, qx, qy, qz, qw) and which messages decoded, of
    Odometry or pose messages: as arrays where the layout repeats (as in
    :func:`decode_joint_states`)."""
    stamps = np.zeros(len(datas), dtype=np.int64)
    poses = np.full((len(datas), 7), np.nan)
    decoded = np.zeros(len(datas), dtype=bool)

    def one(row: int) -> None:
        msg = decode(datas[row], kind)
        if msg is None:
            return
        pose = msg.pose if kind == "geometry_msgs/msg/PoseStamped" else msg.pose.pose
        p, q = pose.position, pose.orientation
        stamps[row] = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        poses[row] = (p.x, p.y, p.z, q.x, q.y, q.z, q.w)
        decoded[row] = True

    for size, rows in by_length(datas).items():
        first = decode(datas[rows[0]], kind)
        layout = Layout(datas[rows[0]])
        if first is not None and layout.fixed is not None:
            stamp = layout.stamp()
            layout.string(first.header.frame_id)
            if kind == ODOMETRY:
                layout.string(first.child_frame_id)
            offset = layout.doubles(7, sequence=False)
        if first is None or layout.fixed is None or offset + 56 > size:
            for row in rows.tolist():
                one(row)
            continue
        block = rows_of(datas, rows, size)
        same = same_layout(block, layout)
        stamps[rows[same]] = stamp_ns(block, stamp)[same]
        poses[rows[same]] = doubles(block, offset, 7)[same]
        decoded[rows[same]] = True
        reference = poses[rows[0]].copy()
        one(int(rows[0]))
        if not np.array_equal(reference, poses[rows[0]], equal_nan=True):
            raise RecordingError(f"internal error: array decoding disagrees with rosbags for {kind}")
        for row in rows[~same].tolist():
            one(row)
    return stamps, poses, decoded
