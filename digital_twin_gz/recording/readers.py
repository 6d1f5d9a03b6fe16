"""Recordings of the twin's topics: MCAP files and rosbag2 directories, without ROS.

Reading: the physical robot's joint states (sensor_msgs/JointState) and base pose
(nav_msgs/Odometry, or geometry_msgs/PoseStamped / PoseWithCovarianceStamped, as mocap
systems publish) come out as numpy arrays in the description's joint order, stamped with
the messages' header stamps. Sources: an MCAP file (ours, or ``ros2 bag record -s mcap``),
a rosbag2 directory (sqlite3 or mcap storage) or a bare ``.db3``. rosbags reads intact
recordings through their indexes; an MCAP file it refuses is read record by record with
mcap's StreamReader. Messages are decoded with rosbags' type store (as arrays where the
layout repeats), so no ROS install is needed. A file damaged part way (a recorder killed
before it wrote the summary, a corrupt chunk) is read up to the damage and says so in
``warnings``; anything else wrong is a :class:`RecordingError` that names the file and
what is wrong.

Writing: :class:`McapRecorder` writes serialized CDR messages (what rclpy hands a
``raw=True`` subscription) into an MCAP file in the ROS 2 profile, as ``ros2 bag record
-s mcap`` does: profile ``ros2``, ``ros2msg`` schemas, ``cdr`` messages, chunked with
zstd, with statistics and indexes in the summary. It opens in Foxglove, Lichtblick and
PlotJuggler and plays with ``ros2 bag play``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
from mcap.reader import make_reader
from mcap.records import Channel, Header, Message, Metadata, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from digital_twin_gz.description import RobotDescription
from digital_twin_gz.sync import JointMap, SampleError

JOINT_STATE = "sensor_msgs/msg/JointState"
ODOMETRY = "nav_msgs/msg/Odometry"
BASE_POSE_TYPES = (ODOMETRY, "geometry_msgs/msg/PoseStamped", "geometry_msgs/msg/PoseWithCovarianceStamped")
METADATA_NAME = "digital_twin_gz"
# Recording time per piece of stream_physical: short enough that a replay waits little for
# the first piece, long enough that a piece costs few calls.
PIECE_SECONDS = 20.0


class RecordingError(ValueError):
    """A recording that cannot be used; the message names the file and what is wrong."""


@cache
def typestore():
    """rosbags' store of the standard ROS 2 message types (definitions and CDR codecs)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.LATEST)


@dataclass(frozen=True)
class Topic:
    name: str
    type: str
    count: int


@dataclass(frozen=True)
class JointSamples:
    """Joint samples in stamp order: ``positions``, ``velocities`` and ``efforts`` are (N, n) in
    the description's order; NaN where the message had NaN, and velocities/efforts NaN where
    the message did not carry them."""

    stamps_ns: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray
    efforts: np.ndarray

    def __len__(self) -> int:
        return len(self.stamps_ns)


@dataclass(frozen=True)
class BaseSamples:
    """Base poses in stamp order: positions (M, 3), orientations (M, 4) x, y, z, w."""

    stamps_ns: np.ndarray
    positions: np.ndarray
    orientations: np.ndarray

    def __len__(self) -> int:
        return len(self.stamps_ns)


@dataclass(frozen=True)
class PhysicalRecording:
    """The physical side of a recording, ready to drive the twin."""

    source: Path
    joint_topic: str
    base_topic: str
    joints: JointSamples
    base: BaseSamples
    topics: tuple[Topic, ...]
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        return float(self.joints.stamps_ns[-1] - self.joints.stamps_ns[0]) * 1e-9


@dataclass
class _Scan:
    """One pass over a recording: every topic with its type and count, the raw messages of
    the wanted topics as (log time ns, CDR bytes), metadata, and where it broke off."""

    topics: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    messages: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    damage: str | None = None

    def listing(self) -> tuple[Topic, ...]:
        return tuple(Topic(name, kind, self.counts.get(name, 0)) for name, kind in sorted(self.topics.items()))


def _scan_mcap(path: Path, wanted: tuple[str, ...], scan: _Scan) -> None:
    """Read an MCAP file record by record (no index needed, so files without a summary work)."""
    channels: dict[int, str] = {}
    schemas: dict[int, str] = {}
    keep = {topic: scan.messages.setdefault(topic, []) for topic in wanted}
    counts = scan.counts
    try:
        with open(path, "rb") as stream:
            records = StreamReader(stream, validate_crcs=True).records
            header = next(records)
            if not isinstance(header, Header) or header.profile != "ros2":
                profile = getattr(header, "profile", "?")
                raise RecordingError(f"{path}: not a ROS 2 recording (MCAP profile '{profile}', expected 'ros2')")
            for record in records:
                if isinstance(record, Message):
                    topic = channels.get(record.channel_id)
                    if topic is None:
                        continue
                    counts[topic] = counts.get(topic, 0) + 1
                    if topic in keep:
                        keep[topic].append((record.log_time, record.data))
                elif isinstance(record, Schema):
                    schemas[record.id] = record.name
                elif isinstance(record, Channel):
                    if record.topic in scan.topics or record.id in channels:
                        channels[record.id] = record.topic
                        continue
                    if record.message_encoding != "cdr":
                        raise RecordingError(f"{path}: topic {record.topic} is encoded as "
                                             f"'{record.message_encoding}', not ROS 2 'cdr'")
                    channels[record.id] = record.topic
                    scan.topics[record.topic] = schemas.get(record.schema_id, "?")
                elif isinstance(record, Metadata) and record.name == METADATA_NAME:
                    scan.metadata.update(record.metadata)
    except RecordingError:
        raise
    except OSError as err:
        raise RecordingError(f"{path}: cannot read: {err.strerror or err}") from err
    except Exception as err:  # noqa: BLE001 - any decoding failure is damage to report, whatever raised it
        reason = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
        if not scan.topics:
            raise RecordingError(f"{path}: not a readable MCAP file ({reason})") from err
        scan.damage = f"{path}: damaged or truncated after {sum(counts.values())} messages ({reason})"


def _open_indexed(path: Path):
    """rosbags' reader of an intact recording (its indexes, C decompression, little Python
    per message): a rosbag2 directory, a ``.db3`` or an ``.mcap`` file; RecordingError if
    it cannot open it."""
    from rosbags.rosbag2 import Reader

    try:
        reader = Reader(path)
        reader.open()
    except Exception as err:  # noqa: BLE001 - rosbags raises many kinds; all mean "cannot open"
        raise RecordingError(f"{path}: not a readable rosbag2 recording ({type(err).__name__}: {err})") from err
    return reader


def _index(path: Path, reader, scan: _Scan) -> None:
    """Topics, types and counts from an open reader's index, and our metadata."""
    for connection in reader.connections:
        encoding = getattr(connection.ext, "serialization_format", "cdr")
        if encoding != "cdr":
            raise RecordingError(f"{path}: topic {connection.topic} is encoded as '{encoding}', not ROS 2 'cdr'")
        scan.topics[connection.topic] = connection.msgtype
        scan.counts[connection.topic] = scan.counts.get(connection.topic, 0) + connection.msgcount
    for file in [path] if path.is_file() else sorted(path.glob("*.mcap")):
        if file.suffix == ".mcap":
            scan.metadata.update(_mcap_metadata(file))


def _read_window(path: Path, reader, wanted: tuple[str, ...], scan: _Scan, start: int | None = None,
                 stop: int | None = None) -> None:
    """The messages of the wanted topics logged in [start, stop) ns (all: None), in log time
    order; damage found while reading is recorded in ``scan``."""
    connections = [c for c in reader.connections if c.topic in wanted]
    keep = {topic: scan.messages.setdefault(topic, []) for topic in wanted}
    read = 0
    try:
        for connection, timestamp, data in reader.messages(connections=connections, start=start, stop=stop):
            keep[connection.topic].append((timestamp, data))
            read += 1
    except Exception as err:  # noqa: BLE001 - sqlite3 and rosbags errors alike: damage to report
        scan.damage = f"{path}: damaged or truncated after {read} messages ({type(err).__name__}: {err})"


def _scan_indexed(path: Path, wanted: tuple[str, ...], scan: _Scan) -> None:
    reader = _open_indexed(path)
    try:
        _index(path, reader, scan)
        _read_window(path, reader, wanted, scan)
    finally:
        reader.close()


def _mcap_metadata(path: Path) -> dict[str, str]:
    """Our metadata record of an MCAP file, through the summary's metadata index."""
    with open(path, "rb") as stream:
        records = make_reader(stream).iter_metadata()
        return {key: value for record in records if record.name == METADATA_NAME
                for key, value in record.metadata.items()}


def _scan(path: Path, wanted: tuple[str, ...] = ()) -> _Scan:
    """Intact recordings through rosbags; MCAP files it refuses (truncated, without a
    summary, damaged) record by record, up to the damage."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"{path}: no such file or directory")
    if path.is_dir():
        files = sorted(path.glob("*.mcap")) + sorted(path.glob("*.db3"))
        indexed = (path / "metadata.yaml").is_file()
        if not (indexed or files):
            raise RecordingError(f"{path}: a directory without metadata.yaml or .mcap/.db3 files: not a rosbag2 "
                                 "recording")
    else:
        files = [path]
        indexed = path.suffix in (".mcap", ".db3")
    if indexed:
        scan = _Scan()
        try:
            _scan_indexed(path, wanted, scan)
            return scan
        except RecordingError:
            if all(file.suffix == ".db3" for file in files):
                raise
    # A file rosbags refuses, or a rosbag2 directory whose recorder died before writing metadata.yaml.
    scan = _Scan()
    for file in files:
        (_scan_indexed if file.suffix == ".db3" else _scan_mcap)(file, wanted, scan)
        if scan.damage:
            break
    return scan


def list_topics(path: Path) -> tuple[Topic, ...]:
    """Every topic of a recording with its type and message count."""
    return _scan(Path(path)).listing()


def _topic_list(scan: _Scan) -> str:
    return ", ".join(f"{t.name} [{t.type}, {t.count}]" for t in scan.listing()) or "none"


def _check_topic(path: Path, scan: _Scan, topic: str, types: tuple[str, ...], option: str,
                 first: bool = True) -> list[tuple[int, bytes]]:
    if topic not in scan.topics:
        raise RecordingError(f"{path}: no topic {topic} (topics in the recording: {_topic_list(scan)}); "
                             f"choose another with {option}")
    if scan.topics[topic] not in types:
        raise RecordingError(f"{path}: topic {topic} is {scan.topics[topic]}, expected {' or '.join(types)}")
    messages = scan.messages[topic]
    if not messages and first:
        raise RecordingError(f"{path}: topic {topic} has no messages"
                             + (f" before the damage ({scan.damage})" if scan.damage else ""))
    return messages


def _stamps(path: Path, topic: str, header_ns: np.ndarray, log_ns: np.ndarray, warnings: list[str]) -> np.ndarray:
    """Header stamps; the recorder's receive times only when the publisher left every stamp at zero."""
    if not len(header_ns) or np.any(header_ns != 0):
        return header_ns
    warnings.append(f"{path}: every message on {topic} has a zero header stamp: using the recording times")
    return log_ns


class _Layout:
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


def _same_layout(block: np.ndarray, layout: _Layout) -> np.ndarray:
    """Rows of ``block`` (messages as byte rows) whose fixed ranges equal the first row's,
    compared as 32-bit words with the padding between the ranges masked out."""
    words = -(-max(b for _, b in layout.fixed) // 4)
    if 4 * words > block.shape[1]:
        return np.arange(len(block)) == 0
    mask = np.zeros(4 * words, dtype=np.uint8)
    for a, b in layout.fixed:
        mask[a:b] = 0xFF
    rows = _field(block, 0, "<u4", words)
    return (((rows ^ rows[0]) & mask.view("<u4")) == 0).all(axis=1)


def _field(block: np.ndarray, offset: int, dtype: str, count: int) -> np.ndarray:
    """``count`` values of ``dtype`` at ``offset`` in every row, without copying the bytes."""
    return np.ndarray((len(block), count), dtype=dtype, buffer=block, offset=offset, strides=(block.shape[1],
                                                                                             np.dtype(dtype).itemsize))


def _doubles(block: np.ndarray, offset: int, count: int) -> np.ndarray:
    return _field(block, offset, "<f8", count)


def _stamp_ns(block: np.ndarray, offset: int) -> np.ndarray:
    sec = _field(block, offset, "<i4", 1)[:, 0].astype(np.int64)
    return sec * 1_000_000_000 + _field(block, offset + 4, "<u4", 1)[:, 0]


def _by_length(datas: list[bytes]) -> dict[int, np.ndarray]:
    lengths = np.fromiter(map(len, datas), dtype=np.int64, count=len(datas))
    return {int(size): np.flatnonzero(lengths == size) for size in np.unique(lengths)}


def _rows(datas: list[bytes], rows: np.ndarray, size: int) -> np.ndarray:
    """The messages ``rows`` (all of one byte length) as a (rows, size) byte array."""
    chosen = datas if len(rows) == len(datas) else [datas[r] for r in rows.tolist()]
    return np.frombuffer(b"".join(chosen), dtype=np.uint8).reshape(len(rows), size)


def _decode(data: bytes, kind: str):
    """A message through rosbags' decoder, or None if the bytes are not a valid ``kind``."""
    try:
        return typestore().deserialize_cdr(data, kind)
    except Exception:  # noqa: BLE001 - rosbags raises assorted errors on malformed bytes
        return None


@dataclass
class _JointBlock:
    """Messages with the same joint names: row numbers (message order) and their fields."""

    names: tuple[str, ...]
    rows: np.ndarray
    stamps_ns: np.ndarray
    positions: np.ndarray
    velocities: np.ndarray | None
    efforts: np.ndarray | None


def _decode_joint_states(datas: list[bytes]) -> list[_JointBlock]:
    """JointState messages into blocks. A robot publishes the same names in every message, so
    messages of one byte length almost always share a layout: those are decoded as arrays at
    once (the first one checked against rosbags' decoder); any other message goes through
    rosbags on its own. Messages that do not decode are left out."""
    blocks: list[_JointBlock] = []

    def one_by_one(rows: np.ndarray) -> None:
        for row in rows.tolist():
            msg = _decode(datas[row], JOINT_STATE)
            if msg is not None:
                blocks.append(_joint_block(msg, row))

    for size, rows in _by_length(datas).items():
        first = _decode(datas[rows[0]], JOINT_STATE)
        if first is None:
            one_by_one(rows)
            continue
        names = tuple(first.name)
        counts = (len(first.position), len(first.velocity), len(first.effort))
        layout = _Layout(datas[rows[0]])
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
        block = _rows(datas, rows, size)
        same = _same_layout(block, layout)
        if not same.all():
            block = np.ascontiguousarray(block[same])
        arrays = [_doubles(block, at, n) if n else None for at, n in zip(offsets, counts)]
        decoded = _JointBlock(names, rows[same], _stamp_ns(block, stamp), *arrays)
        reference = _joint_block(first, rows[0])
        if not (decoded.stamps_ns[0] == reference.stamps_ns[0]
                and np.array_equal(decoded.positions[0], reference.positions[0], equal_nan=True)):
            raise RecordingError(f"internal error: array decoding disagrees with rosbags for {names}")
        blocks.append(decoded)
        one_by_one(rows[~same])
    return blocks


def _joint_block(msg, row: int) -> _JointBlock:
    stamp = np.array([msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec], dtype=np.int64)
    optional = [np.asarray(v, dtype=float)[None, :] if len(v) else None for v in (msg.velocity, msg.effort)]
    return _JointBlock(tuple(msg.name), np.array([row]), stamp, np.asarray(msg.position, dtype=float)[None, :],
                       *optional)


def _joint_samples(path: Path, topic: str, messages: list[tuple[int, bytes]], description: RobotDescription,
                   joint_map: JointMap, warnings: list[str], before: np.ndarray | None = None) -> JointSamples:
    """``before``: see :func:`_physical`."""
    n = len(description.joint_names)
    count = len(messages)
    positions = np.full((count, n), np.nan)
    velocities = np.full((count, n), np.nan)
    efforts = np.full((count, n), np.nan)
    present = np.zeros((count, n), dtype=bool)
    stamps = np.zeros(count, dtype=np.int64)
    usable = np.zeros(count, dtype=bool)
    covered: set[int] = set()
    for block in _decode_joint_states([data for _, data in messages]):
        if block.positions.shape[1] != len(block.names):
            continue
        try:
            used, index = joint_map.order(block.names)
        except SampleError as err:
            raise RecordingError(f"{path}: the joints on {topic} do not match robot '{description.name}': {err}. "
                                 f"Robot joints: {', '.join(description.joint_names)}") from err
        covered.update(index.tolist())
        # One block of every message, in order (the usual case): a column scatter, not a 2-D one.
        grid = (slice(None), index) if len(block.rows) == count else np.ix_(block.rows, index)
        present[grid] = True
        usable[block.rows] = True
        stamps[block.rows] = block.stamps_ns
        positions[grid] = block.positions[:, used]
        for target, values in ((velocities, block.velocities), (efforts, block.efforts)):
            if values is not None and values.shape[1] == len(block.names):
                target[grid] = values[:, used]
    if not usable.all():
        warnings.append(f"{path}: skipped {int((~usable).sum())} messages on {topic} that do not decode or whose "
                        "position count differs from their names")
    if not usable.any() and before is None:
        raise RecordingError(f"{path}: no usable message on {topic}")
    missing = [description.joint_names[k] for k in range(n) if k not in covered]
    if missing and before is None:
        raise RecordingError(f"{path}: {topic} never reports joints {', '.join(missing)} of robot "
                             f"'{description.name}' (map the recording's names to them with a joint map)")
    positions, velocities, efforts, present = positions[usable], velocities[usable], efforts[usable], present[usable]
    if not present.all():
        # Messages that name only some joints: the others keep their last reported position,
        # as twin_sync keeps the targets of joints a sample does not name.
        rows = len(positions)
        last = np.where(present, np.arange(rows)[:, None], -1)
        np.maximum.accumulate(last, axis=0, out=last)
        held = np.where(last >= 0, positions[np.maximum(last, 0), np.arange(n)],
                        description.default_positions if before is None else before)
        positions = np.where(present, positions, held)
    logs = np.array([log for log, _ in messages], dtype=np.int64)[usable]
    stamps_ns = _stamps(path, topic, stamps[usable], logs, warnings)
    order = np.argsort(stamps_ns, kind="stable")
    return JointSamples(stamps_ns[order], positions[order], velocities[order], efforts[order])


def _decode_poses(datas: list[bytes], kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Header stamps (ns), poses (x, y, z, qx, qy, qz, qw) and which messages decoded, of
    Odometry or pose messages: as arrays where the layout repeats (as in
    :func:`_decode_joint_states`)."""
    stamps = np.zeros(len(datas), dtype=np.int64)
    poses = np.full((len(datas), 7), np.nan)
    decoded = np.zeros(len(datas), dtype=bool)

    def one(row: int) -> None:
        msg = _decode(datas[row], kind)
        if msg is None:
            return
        pose = msg.pose if kind == "geometry_msgs/msg/PoseStamped" else msg.pose.pose
        p, q = pose.position, pose.orientation
        stamps[row] = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        poses[row] = (p.x, p.y, p.z, q.x, q.y, q.z, q.w)
        decoded[row] = True

    for size, rows in _by_length(datas).items():
        first = _decode(datas[rows[0]], kind)
        layout = _Layout(datas[rows[0]])
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
        block = _rows(datas, rows, size)
        same = _same_layout(block, layout)
        stamps[rows[same]] = _stamp_ns(block, stamp)[same]
        poses[rows[same]] = _doubles(block, offset, 7)[same]
        decoded[rows[same]] = True
        reference = poses[rows[0]].copy()
        one(int(rows[0]))
        if not np.array_equal(reference, poses[rows[0]], equal_nan=True):
            raise RecordingError(f"internal error: array decoding disagrees with rosbags for {kind}")
        for row in rows[~same].tolist():
            one(row)
    return stamps, poses, decoded


def _base_samples(path: Path, topic: str, kind: str, messages: list[tuple[int, bytes]],
                  warnings: list[str], first: bool = True) -> BaseSamples:
    stamps, poses, decoded = _decode_poses([data for _, data in messages], kind)
    if not decoded.all():
        warnings.append(f"{path}: skipped {int((~decoded).sum())} messages on {topic} that do not decode")
    usable = decoded & np.isfinite(poses).all(axis=1) & (np.linalg.norm(poses[:, 3:], axis=1) > 0)
    if not usable.any() and first:
        raise RecordingError(f"{path}: no usable pose on {topic} (all undecodable, NaN or a zero quaternion)")
    logs = np.array([log for log, _ in messages], dtype=np.int64)
    stamps = _stamps(path, topic, stamps[decoded], logs[decoded], warnings)
    poses = poses[decoded]
    order = np.argsort(stamps, kind="stable")
    return BaseSamples(stamps[order], poses[order, :3], poses[order, 3:])


def read_physical(path: Path, description: RobotDescription, joint_map: JointMap | None = None,
                  joint_topic: str = "/physical/joint_states", base_topic: str = "/physical/odom") -> PhysicalRecording:
    """The physical robot's joint states and base pose from a recording."""
    path = Path(path)
    return _physical(path, _scan(path, (joint_topic, base_topic)), description, joint_map or JointMap(description),
                     joint_topic, base_topic)


def stream_physical(path: Path, description: RobotDescription, joint_map: JointMap | None = None,
                    joint_topic: str = "/physical/joint_states", base_topic: str = "/physical/odom",
                    seconds: float = PIECE_SECONDS) -> Iterator[PhysicalRecording]:
    """The recording as ``read_physical`` reads it, in pieces of about ``seconds`` of log
    time, each read only when asked for: a replay steps the physics of one piece while the
    next is read. Joint samples are in stamp order within a piece; joints a message does not
    name keep their positions across pieces. A piece has samples of both topics, or none
    usable of one (a mocap dropout). A recording rosbags refuses (damaged, without a summary)
    comes as one piece, read up to the damage."""
    path = Path(path)
    joint_map = joint_map or JointMap(description)
    wanted = (joint_topic, base_topic)
    try:
        reader = _open_indexed(path)
    except RecordingError:
        yield read_physical(path, description, joint_map, joint_topic, base_topic)
        return
    try:
        index = _Scan()
        _index(path, reader, index)
        before = None
        for scan in _pieces(path, reader, wanted, index, int(seconds * 1e9)):
            piece = _physical(path, scan, description, joint_map, joint_topic, base_topic, before)
            if len(piece.joints):
                before = piece.joints.positions[-1]
            yield piece
    finally:
        reader.close()


def _pieces(path: Path, reader, wanted: tuple[str, ...], index: _Scan, step: int) -> Iterator[_Scan]:
    """Windows of ``step`` ns of log time, joined until each has messages of every wanted
    topic; what is left at the end (or before damage) joins the last piece."""
    def fresh() -> _Scan:
        return _Scan(dict(index.topics), dict(index.counts), {topic: [] for topic in wanted}, dict(index.metadata))

    done, current = None, fresh()
    for start in range(reader.start_time, reader.end_time, step):
        _read_window(path, reader, wanted, current, start, start + step)
        if current.damage:
            break
        if all(current.messages.values()):
            if done is not None:
                yield done
            done, current = current, fresh()
    if done is None:
        yield current
        return
    for topic, messages in current.messages.items():
        done.messages[topic] += messages
    done.damage = current.damage
    yield done


def _physical(path: Path, scan: _Scan, description: RobotDescription, joint_map: JointMap, joint_topic: str,
              base_topic: str, before: np.ndarray | None = None) -> PhysicalRecording:
    """The samples of a scan; ``before``: the last joint positions of the piece before
    (None: this is the first, which must have usable samples of both topics)."""
    first = before is None
    joint_messages = _check_topic(path, scan, joint_topic, (JOINT_STATE,), "--joint-states", first)
    base_messages = _check_topic(path, scan, base_topic, BASE_POSE_TYPES, "--odom", first)
    warnings = [scan.damage + ": replaying what comes before"] if scan.damage else []
    joints = _joint_samples(path, joint_topic, joint_messages, description, joint_map, warnings, before)
    base = _base_samples(path, base_topic, scan.topics[base_topic], base_messages, warnings, first)
    return PhysicalRecording(path, joint_topic, base_topic, joints, base, scan.listing(), dict(scan.metadata),
                             tuple(warnings))


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
            except Exception as err:  # noqa: BLE001 - rosbags raises its own error types for unknown types
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

    def __enter__(self) -> McapRecorder:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
