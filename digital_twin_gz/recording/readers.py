"""Reading recordings of the physical robot: MCAP files and rosbag2 directories, without ROS.

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
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from mcap.exceptions import McapError
from mcap.reader import make_reader
from mcap.records import Channel, Header, Message, Metadata, Schema
from mcap.stream_reader import StreamReader

from digital_twin_gz.recording.batches import joint_batch
from digital_twin_gz.recording.cdr import decode_poses
from digital_twin_gz.recording.samples import (
    BASE_POSE_TYPES,
    JOINT_STATE,
    METADATA_NAME,
    BaseSamples,
    JointSamples,
    PhysicalRecording,
    RecordingError,
    Topic,
)
from digital_twin_gz.robot import RobotDescription
from digital_twin_gz.twin import JointMap, usable_poses

# Recording time per piece of stream_physical: short enough that a replay waits little for
# the first piece, long enough that a piece costs few calls.
PIECE_SECONDS = 20.0


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
    except Exception as err:
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
    except Exception as err:
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
    except Exception as err:
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


def log_start_ns(path: Path) -> int | None:
    """When the recorder logged the first message (ns since the epoch on the recorder's clock:
    the wall clock, for ``ros2 bag record`` and ours), from the recording's index; None for a
    recording without one (damaged, or no messages)."""
    try:
        reader = _open_indexed(Path(path))
    except RecordingError:
        return None
    try:
        return int(reader.start_time) if reader.message_count else None
    finally:
        reader.close()


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


def _joint_samples(path: Path, topic: str, messages: list[tuple[int, bytes]], description: RobotDescription,
                   joint_map: JointMap, warnings: list[str], before: np.ndarray | None = None) -> JointSamples:
    """``before``: see :func:`_physical`."""
    batch = joint_batch([data for _, data in messages], joint_map,
                        description.default_positions if before is None else before)
    if batch.errors:
        raise RecordingError(f"{path}: the joints on {topic} do not match robot '{description.name}': "
                             f"{batch.errors[0]}. Robot joints: {', '.join(description.joint_names)}")
    if not batch.usable.all():
        warnings.append(f"{path}: skipped {int((~batch.usable).sum())} messages on {topic} that do not decode or "
                        "whose position count differs from their names")
    if not len(batch) and before is None:
        raise RecordingError(f"{path}: no usable message on {topic}")
    missing = [name for name, seen in zip(description.joint_names, batch.covered) if not seen]
    if missing and before is None:
        raise RecordingError(f"{path}: {topic} never reports joints {', '.join(missing)} of robot "
                             f"'{description.name}' (map the recording's names to them with a joint map)")
    logs = np.array([log for log, _ in messages], dtype=np.int64)[batch.usable]
    stamps_ns = _stamps(path, topic, batch.stamps_ns, logs, warnings)
    order = np.argsort(stamps_ns, kind="stable")
    return JointSamples(stamps_ns[order], batch.positions[order], batch.velocities[order], batch.efforts[order])


def _base_samples(path: Path, topic: str, kind: str, messages: list[tuple[int, bytes]],
                  warnings: list[str], first: bool = True) -> BaseSamples:
    stamps, poses, decoded = decode_poses([data for _, data in messages], kind)
    if not decoded.all():
        warnings.append(f"{path}: skipped {int((~decoded).sum())} messages on {topic} that do not decode")
    usable = decoded & usable_poses(poses[:, :3], poses[:, 3:])
    if not usable.any() and first:
        raise RecordingError(f"{path}: no usable pose on {topic} (all undecodable, NaN or a zero quaternion)")
    logs = np.array([log for log, _ in messages], dtype=np.int64)
    stamps = _stamps(path, topic, stamps[decoded], logs[decoded], warnings)
    poses = poses[decoded]
    order = np.argsort(stamps, kind="stable")
    return BaseSamples(stamps[order], poses[order, :3], poses[order, 3:])


def resolve_topic(path: Path, topic: str) -> str:
    """``topic`` as the recording names it: an absolute name as it is, a relative one (the default
    physical/joint_states) in the namespace of the robot whose twin recorded it (gap_monitor writes
    it into the MCAP's metadata), else at the top: as ROS resolves a node's relative names."""
    if topic.startswith("/"):
        return topic
    namespace = ""
    if Path(path).is_file() and Path(path).suffix == ".mcap":
        try:
            namespace = _mcap_metadata(Path(path)).get("namespace", "")
        except (McapError, OSError, ValueError):
            namespace = ""  # damaged before its metadata: the reading says what is wrong
    return f"{namespace}/{topic}"


def read_physical(path: Path, description: RobotDescription, joint_map: JointMap | None = None,
                  joint_topic: str = "physical/joint_states", base_topic: str = "physical/odom") -> PhysicalRecording:
    """The physical robot's joint states and base pose from a recording (relative topic names: see
    :func:`resolve_topic`)."""
    path = Path(path)
    joint_topic, base_topic = resolve_topic(path, joint_topic), resolve_topic(path, base_topic)
    return _physical(path, _scan(path, (joint_topic, base_topic)), description, joint_map or JointMap(description),
                     joint_topic, base_topic)


def stream_physical(path: Path, description: RobotDescription, joint_map: JointMap | None = None,
                    joint_topic: str = "physical/joint_states", base_topic: str = "physical/odom",
                    seconds: float = PIECE_SECONDS) -> Iterator[PhysicalRecording]:
    """The recording as ``read_physical`` reads it, in pieces of about ``seconds`` of log
    time, each read only when asked for: a replay steps the physics of one piece while the
    next is read. Joint samples are in stamp order within a piece; joints a message does not
    name keep their positions across pieces. A piece has samples of both topics, or none
    usable of one (a mocap dropout). A recording rosbags refuses (damaged, without a summary)
    comes as one piece, read up to the damage."""
    path = Path(path)
    joint_topic, base_topic = resolve_topic(path, joint_topic), resolve_topic(path, base_topic)
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
