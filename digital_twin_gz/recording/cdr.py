"""Decoding CDR messages as arrays: JointState and pose messages, many at once.

A robot publishes the same joint names (and frame ids) in every message, so messages of one
byte length almost always share one layout: their fields are read straight out of the bytes as
numpy arrays, the first message of each layout checked against rosbags' decoder, and any
message that does not fit goes through rosbags on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from digital_twin_gz.recording.samples import JOINT_STATE, ODOMETRY, RecordingError, typestore


class Layout:
    """Byte offsets in a little-endian CDR message whose strings and sequence lengths equal
    those of a reference message (alignment counts from the end of the 4-byte encapsulation
    header). ``fixed`` are the byte ranges that hold those strings and lengths: a message
    that matches the reference there has this layout."""

    def __init__(self, data: bytes) -> None:
        self.pos = 4
        self.fixed = [(0, 4)] if data[:4] == b"\x00\x01\x00\x00" else None  # CDR little endian only

    def _align(self, size: int) -> None:
        self.pos = 4 + -(-(self.pos - 4) // size) * size

    def stamp(self) -> int:
        self._align(4)
        self.pos += 8
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

    def doubles(self, count: int, sequence: bool = True) -> int:
        if sequence:
            self.length()
        if count:
            self._align(8)
        self.pos += 8 * count
        return self.pos - 8 * count


def same_layout(block: np.ndarray, layout: Layout) -> np.ndarray:
    """Rows of ``block`` (messages as byte rows) whose fixed ranges equal the first row's,
    compared as 32-bit words with the padding between the ranges masked out."""
    words = -(-max(b for _, b in layout.fixed) // 4)
    if 4 * words > block.shape[1]:
        return np.arange(len(block)) == 0
    mask = np.zeros(4 * words, dtype=np.uint8)
    for a, b in layout.fixed:
        mask[a:b] = 0xFF
    rows = field_view(block, 0, "<u4", words)
    return (((rows ^ rows[0]) & mask.view("<u4")) == 0).all(axis=1)


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
        counts = (len(first.position), len(first.velocity), len(first.effort))
        layout = Layout(datas[rows[0]])
        if layout.fixed is not None:
            stamp = layout.stamp()
            layout.string(first.header.frame_id)
            layout.length()
            for name in names:
                layout.string(name)
            offsets = [layout.doubles(n) for n in counts]
        if layout.fixed is None or layout.pos != size:
            one_by_one(rows)
            continue
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
