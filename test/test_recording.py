"""Reading and writing recordings: our MCAP, rosbag2 directories, and damaged or wrong input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from helpers.recordings import emulated, joint_state, odometry, raw_messages, to_rosbag2, write_messages
from mcap.reader import make_reader
from rosbags.rosbag2 import Reader, StoragePlugin

from digital_twin_gz.recording import (
    RecordingError,
    joint_batch,
    list_topics,
    read_physical,
    stream_physical,
    typestore,
)
from digital_twin_gz.twin import JointMap

TOPICS = {"/physical/joint_states": "sensor_msgs/msg/JointState", "/physical/odom": "nav_msgs/msg/Odometry"}


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    return emulated(tmp_path_factory.mktemp("rec") / "emulated.mcap", seconds=2.0)


def expected_arrays(path, description):
    """Joint positions, velocities, stamps and base poses decoded message by message with rosbags."""
    decode = typestore().deserialize_cdr
    joints, base = [], []
    for topic, kind, _, data in raw_messages(path):
        msg = decode(data, kind)
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        if topic == "/physical/joint_states":
            order = [list(msg.name).index(n) for n in description.joint_names]
            joints.append((stamp, msg.position[order], msg.velocity[order], msg.effort[order]))
        else:
            p, q = msg.pose.pose.position, msg.pose.pose.orientation
            base.append((stamp, [p.x, p.y, p.z], [q.x, q.y, q.z, q.w]))
    return joints, base


def check_matches(physical, path, description):
    joints, base = expected_arrays(path, description)
    assert physical.joints.stamps_ns.tolist() == [j[0] for j in joints]
    assert np.array_equal(physical.joints.positions, np.array([j[1] for j in joints]))
    assert np.array_equal(physical.joints.velocities, np.array([j[2] for j in joints]))
    assert np.array_equal(physical.joints.efforts, np.array([j[3] for j in joints]))
    assert physical.base.stamps_ns.tolist() == [b[0] for b in base]
    assert np.array_equal(physical.base.positions, np.array([b[1] for b in base]))
    assert np.array_equal(physical.base.orientations, np.array([b[2] for b in base]))


def test_our_mcap_is_what_ros2_bag_record_writes(recording):
    with open(recording, "rb") as stream:
        reader = make_reader(stream)
        assert reader.get_header().profile == "ros2"
        summary = reader.get_summary()
        assert {s.name: s.encoding for s in summary.schemas.values()} == dict.fromkeys(TOPICS.values(), "ros2msg")
        assert {c.topic: c.message_encoding for c in summary.channels.values()} == dict.fromkeys(TOPICS, "cdr")
        counts = summary.statistics.channel_message_counts
        assert sum(counts.values()) == summary.statistics.message_count > 1500
        assert summary.chunk_indexes
        metadata = {m.name: m.metadata for m in reader.iter_metadata()}
    assert metadata["digital_twin_gz"]["profile"] == "default"
    # rosbags' rosbag2 reader (which, like rosbag2, insists on the ros2 profile) reads it.
    with Reader(recording) as reader:
        assert {c.topic: c.msgtype for c in reader.connections} == TOPICS
        assert reader.message_count == summary.statistics.message_count
    assert {t.name: t.type for t in list_topics(recording)} == TOPICS


def test_reads_our_mcap_into_arrays_in_joint_order(recording, description):
    physical = read_physical(recording, description)
    assert physical.warnings == ()
    assert physical.metadata["motion"] == "squat"
    n = len(description.joint_names)
    assert physical.joints.positions.shape == (len(physical.joints), n) and len(physical.joints) > 900
    assert np.all(np.diff(physical.joints.stamps_ns) > 0)
    assert physical.duration == pytest.approx(2.0, abs=0.05)
    check_matches(physical, recording, description)


@pytest.mark.parametrize("storage", [StoragePlugin.SQLITE3, StoragePlugin.MCAP])
def test_reads_rosbag2_directories(recording, description, tmp_path, storage):
    bag = to_rosbag2(recording, tmp_path / "bag", storage)
    assert (bag / "metadata.yaml").is_file()
    physical = read_physical(bag, description)
    assert physical.warnings == ()
    check_matches(physical, recording, description)
    # The storage file on its own reads too (a bag whose recorder never wrote metadata.yaml).
    (bag / "metadata.yaml").unlink()
    check_matches(read_physical(bag, description), recording, description)


def test_names_in_any_order_partial_messages_and_nan(description, tmp_path):
    names = list(description.joint_names)
    n = len(names)
    rng = np.random.default_rng(0)
    values = rng.uniform(-0.2, 0.2, (6, n))
    shuffled = names[::-1]
    messages = [("/physical/odom", odometry(k)) for k in range(6)]
    messages += [("/physical/joint_states", joint_state(0, names, values[0], np.ones(n), np.zeros(n), "base")),
                 ("/physical/joint_states", joint_state(1, shuffled, values[1][::-1])),
                 ("/physical/joint_states", joint_state(2, names[:3], values[2][:3])),
                 ("/physical/joint_states", joint_state(4, names, values[4])),
                 ("/physical/joint_states", joint_state(3, names, np.where(np.arange(n) == 5, np.nan, values[3])))]
    physical = read_physical(write_messages(tmp_path / "mixed.mcap", messages), description)
    joints = physical.joints
    assert joints.stamps_ns.tolist() == sorted(joints.stamps_ns.tolist()) and len(joints) == 5
    assert np.array_equal(joints.positions[0], values[0]) and np.array_equal(joints.velocities[0], np.ones(n))
    assert np.isnan(joints.velocities[1]).all() and np.isnan(joints.efforts[1]).all()
    assert np.array_equal(joints.positions[1], values[1])
    # A message naming three joints: the others hold their last reported positions.
    assert np.array_equal(joints.positions[2], np.r_[values[2][:3], values[1][3:]])
    assert np.isnan(joints.positions[3, 5])
    assert np.array_equal(np.delete(joints.positions[3], 5), np.delete(values[3], 5))
    assert np.array_equal(joints.positions[4], values[4])


def joined(pieces, part, field):
    return np.concatenate([getattr(getattr(piece, part), field) for piece in pieces])


def same_samples(pieces, whole) -> bool:
    fields = {"joints": ("stamps_ns", "positions", "velocities", "efforts"),
              "base": ("stamps_ns", "positions", "orientations")}
    return all(np.array_equal(joined(pieces, part, f), getattr(getattr(whole, part), f), equal_nan=True)
               for part, names in fields.items() for f in names)


def test_read_in_pieces_it_is_the_same_recording(recording, description, tmp_path):
    """Replay reads the recording piece by piece while it runs (stream_physical): joined,
    the pieces are what read_physical reads, from an MCAP file and a rosbag2 directory."""
    whole = read_physical(recording, description)
    bag = to_rosbag2(recording, tmp_path / "bag", StoragePlugin.SQLITE3)
    for source in (recording, bag):
        pieces = list(stream_physical(source, description, seconds=0.5))
        assert len(pieces) >= 4 and same_samples(pieces, whole)
        assert pieces[0].metadata == whole.metadata if source == recording else True
        assert all(piece.topics == whole.topics and not piece.warnings for piece in pieces)


def test_pieces_hold_left_out_joints_and_survive_a_mocap_dropout(description, tmp_path):
    """Joints a message leaves out keep their positions across pieces; a piece whose base
    poses are all NaN (the mocap lost the robot) is part of the recording, not an error."""
    names = list(description.joint_names)
    values = np.random.default_rng(2).uniform(-0.2, 0.2, (300, len(names)))
    messages = []
    for k in range(300):
        messages.append(("/physical/odom", odometry(k, (np.nan, 0.0, 0.93) if 100 <= k < 200 else (0.0, 0.0, 0.93))))
        messages.append(("/physical/joint_states", joint_state(k, names if k < 150 else names[:3],
                                                               values[k] if k < 150 else values[k][:3])))
    path = write_messages(tmp_path / "dropout.mcap", messages)
    whole = read_physical(path, description)
    pieces = list(stream_physical(path, description, seconds=0.1))
    assert len(pieces) == 6 and same_samples(pieces, whole)
    assert np.isnan(pieces[3].base.positions[:, 0]).all()  # messages 300..399: poses 150..199
    assert np.array_equal(pieces[5].joints.positions[-1], np.r_[values[299][:3], values[149][3:]])


def test_a_truncated_file_is_read_up_to_the_damage(recording, description, tmp_path):
    data = recording.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    physical = read_physical(cut, description)
    full = read_physical(recording, description)
    assert 0.3 * len(full.joints) < len(physical.joints) < 0.8 * len(full.joints)
    assert len(physical.warnings) == 1 and str(cut) in physical.warnings[0]
    assert "truncated" in physical.warnings[0] and "replaying what comes before" in physical.warnings[0]
    assert np.array_equal(physical.joints.positions, full.joints.positions[: len(physical.joints)])
    # The same in a rosbag2 directory (mcap storage): rosbags refuses the file, it is read up to the cut.
    bag = to_rosbag2(recording, tmp_path / "bag", StoragePlugin.MCAP)
    storage = next(bag.glob("*.mcap"))
    storage.write_bytes(storage.read_bytes()[: int(storage.stat().st_size * 0.6)])
    in_bag = read_physical(bag, description)
    assert 0 < len(in_bag.joints) < len(full.joints) and "truncated" in in_bag.warnings[0]
    # Cut before any message: nothing to replay.
    cut.write_bytes(data[:300])
    with pytest.raises(RecordingError, match=f"{cut}.*(no topic|not a readable)"):
        read_physical(cut, description)


def test_corrupt_files_fail_clearly_or_stop_at_the_damage(recording, description, tmp_path):
    garbage = tmp_path / "garbage.mcap"
    garbage.write_bytes(np.random.default_rng(1).bytes(5000))
    with pytest.raises(RecordingError, match=f"{garbage}: not a readable MCAP file"):
        read_physical(garbage, description)
    # Bytes zeroed in the last chunk: it fails decompression or its checksum; the first chunk is read.
    data = bytearray(recording.read_bytes())
    at = int(len(data) * 0.8)
    data[at: at + 64] = bytes(64)
    damaged = tmp_path / "damaged.mcap"
    damaged.write_bytes(bytes(data))
    physical = read_physical(damaged, description)
    assert "damaged or truncated" in physical.warnings[0]
    assert 0 < len(physical.joints) < len(read_physical(recording, description).joints)
    # A rosbag2 directory whose database is corrupt.
    bag = to_rosbag2(recording, tmp_path / "bag", StoragePlugin.SQLITE3)
    db = next(bag.glob("*.db3"))
    db.write_bytes(db.read_bytes()[:100] + bytes(4096))
    with pytest.raises(RecordingError, match=str(db.parent)):
        read_physical(bag, description)
    with pytest.raises(RecordingError, match="no such file or directory"):
        read_physical(tmp_path / "nothing.mcap", description)


def test_missing_topic_lists_the_topics_there(recording, description):
    with pytest.raises(RecordingError) as err:
        read_physical(recording, description, joint_topic="/joint_states")
    message = str(err.value)
    assert str(recording) in message and "no topic /joint_states" in message and "--joint-states" in message
    assert "/physical/joint_states [sensor_msgs/msg/JointState" in message and "/physical/odom [nav_msgs" in message
    with pytest.raises(RecordingError, match="/physical/odom is nav_msgs/msg/Odometry, expected sensor_msgs"):
        read_physical(recording, description, joint_topic="/physical/odom")


def test_joints_that_do_not_match_the_robot(recording, description, other_humanoid, tmp_path):
    from digital_twin_gz.robot import load_description as load

    urdf, packages = other_humanoid
    other = load(urdf, packages=packages)
    with pytest.raises(RecordingError, match=f"{recording}: the joints on /physical/joint_states do not match "
                                             "robot 'other': unknown joints"):
        read_physical(recording, other)
    # Recorded names that differ from the description's: a joint map fixes them.
    names = [f"hw_{n}" for n in description.joint_names]
    messages = [("/physical/odom", odometry(k)) for k in range(3)]
    messages += [("/physical/joint_states", joint_state(k, names, np.zeros(len(names)))) for k in range(3)]
    renamed = write_messages(tmp_path / "renamed.mcap", messages)
    with pytest.raises(RecordingError, match="unknown joints"):
        read_physical(renamed, description)
    joint_map = JointMap(description, {f"hw_{n}": n for n in description.joint_names})
    assert len(read_physical(renamed, description, joint_map).joints) == 3
    # A recording that never reports some of the robot's joints.
    few = write_messages(tmp_path / "few.mcap", messages[:3] + [
        ("/physical/joint_states", joint_state(k, description.joint_names[:-2], np.zeros(len(names) - 2)))
        for k in range(3)])
    with pytest.raises(RecordingError, match=f"never reports joints {description.joint_names[-2]}"):
        read_physical(few, description)


def test_recording_of_a_directory_without_a_bag(tmp_path, description):
    shutil.copytree(tmp_path, tmp_path / "empty")
    with pytest.raises(RecordingError, match="not a rosbag2 recording"):
        read_physical(tmp_path / "empty", description)


def test_messages_that_do_not_decode_are_skipped_with_a_warning(description, tmp_path):
    from digital_twin_gz.recording import McapRecorder

    path = write_messages(tmp_path / "ok.mcap", [("/physical/odom", odometry(k)) for k in range(4)] + [
        ("/physical/joint_states", joint_state(k, description.joint_names, np.zeros(len(description.joint_names))))
        for k in range(4)])
    good = raw_messages(path)
    bad = tmp_path / "bad.mcap"
    with McapRecorder(bad) as recorder:
        for k, (topic, kind, t, data) in enumerate(good):
            channel = recorder.channel(topic, kind)
            recorder.write(channel, data[:30] if k in (1, 5) else data, t)  # one odom, one joint state cut short
    physical = read_physical(bad, description)
    assert len(physical.joints) == 3 and len(physical.base) == 3
    assert any("1 messages on /physical/joint_states that do not decode" in w for w in physical.warnings)
    assert any("1 messages on /physical/odom that do not decode" in w for w in physical.warnings)


def test_a_joint_state_that_names_no_joint_is_left_out(description):
    """Gazebo publishes an empty JointState when its JointStatePublisher finds none of the joints
    it was given: gap_monitor leaves such messages out instead of failing on them."""
    names = list(description.joint_names)
    q = description.default_positions
    empty = [joint_state(k, [], []) for k in (1, 2)]
    messages = [joint_state(0, names, q), *empty, joint_state(3, names, q + 0.1)]
    datas = [bytes(typestore().serialize_cdr(m, m.__msgtype__)) for m in messages]
    batch = joint_batch(datas, JointMap(description), q)
    assert not batch.errors and batch.usable.tolist() == [True, False, False, True]
    assert np.array_equal(batch.positions, np.array([q, q + 0.1]))
    assert len(joint_batch(datas[1:3], JointMap(description), q).positions) == 0
