"""ros_gz_bridge configuration: reading it with line numbers, and checking it.

The ROS side of ``config/bridge.yaml`` is the topic contract both simulators honour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from digital_twin_gz.robot import share_dir

# The simulators behind the contract: the embedded one speaks its ROS side itself, Gazebo through the bridge.
SIMULATORS = ("embedded", "gazebo")
DIRECTIONS = ("BIDIRECTIONAL", "GZ_TO_ROS", "ROS_TO_GZ")
NAME_KEYS = ("topic_name", "ros_topic_name", "gz_topic_name")
TYPE_KEYS = ("ros_type_name", "gz_type_name")
OPTION_KEYS = ("lazy", "publisher_queue", "subscriber_queue")
KEYS = (*NAME_KEYS, *TYPE_KEYS, "direction", *OPTION_KEYS)
# yaml-cpp's spellings of a bool (ros_gz_bridge reads ``lazy`` with as<bool>()).
_BOOLEANS = {**dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
             **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False)}
_MODEL_TOPIC = re.compile(r"^/model/(?P<model>[^/]+)/")
_WORLD_TOPIC = re.compile(r"^/world/(?P<world>[^/]+)/(?:model/(?P<model>[^/]+)/)?")


class BridgeError(ValueError):
    """A bridge file that cannot be read; the message names file and line."""


@dataclass(frozen=True)
class BridgeEntry:
    """One entry as ros_gz_bridge reads it (``parseEntry`` of ros_gz jazzy 1.0.5).

    ``names``: the name keys the file used (``topic_name`` alone, one of ``ros_topic_name`` and
    ``gz_topic_name`` for both sides, or both); ``options``: ``lazy``, ``publisher_queue`` and
    ``subscriber_queue`` as given; ``ignored``: keys ros_gz_bridge does not read."""

    ros_topic: str
    gz_topic: str
    ros_type: str
    gz_type: str
    direction: str
    line: int
    names: tuple[str, ...] = ("ros_topic_name", "gz_topic_name")
    options: tuple[tuple[str, bool | int], ...] = ()
    ignored: tuple[str, ...] = ()

    @property
    def to_ros(self) -> bool:
        """Gazebo (or the embedded simulator) publishes this topic on the ROS side."""
        return self.direction in ("GZ_TO_ROS", "BIDIRECTIONAL")

    @property
    def from_ros(self) -> bool:
        """Gazebo (or the embedded simulator) subscribes to this topic on the ROS side."""
        return self.direction in ("ROS_TO_GZ", "BIDIRECTIONAL")


def bundled_bridge() -> Path:
    return share_dir() / "config" / "bridge.yaml"


@lru_cache(maxsize=1)
def type_pairs() -> frozenset[tuple[str, str]]:
    """The (ROS type, gz type) pairs ros_gz_bridge converts (ros_gz_bridge_types.yaml beside this module)."""
    table = yaml.safe_load((Path(__file__).parent / "ros_gz_bridge_types.yaml").read_text())
    return frozenset((f"{package}/msg/{ros}", f"gz.msgs.{gz}") for package, pairs in table.items()
                     for ros, gzs in pairs.items() for gz in ([gzs] if isinstance(gzs, str) else gzs))


def converts(ros_type: str, gz_type: str) -> bool:
    """ros_gz_bridge matches a gz type by its ``gz.msgs.`` or its older ``ignition.msgs.`` name."""
    if gz_type.startswith("ignition.msgs."):
        gz_type = "gz.msgs." + gz_type.removeprefix("ignition.msgs.")
    return (ros_type, gz_type) in type_pairs()


def _option(key: str, node: yaml.Node, at: str) -> bool | int:
    text = node.value if isinstance(node, yaml.ScalarNode) else None
    if key == "lazy":
        if text not in _BOOLEANS:
            raise BridgeError(f"{at}: lazy: {text!r} is not a boolean (true/false)")
        return _BOOLEANS[text]
    if text is None or not text.isdigit():
        raise BridgeError(f"{at}: {key}: {text!r} is not a queue size (an integer >= 0)")
    return int(text)


def _entry(node: yaml.Node, path: Path) -> BridgeEntry:
    line = node.start_mark.line + 1
    at = f"{path}: line {line}"
    if not isinstance(node, yaml.MappingNode):
        raise BridgeError(f"{at}: an entry must be a mapping")
    given = {k.value: v for k, v in node.value}
    fields = {}
    for key in (*NAME_KEYS, *TYPE_KEYS, "direction"):
        if key in given:
            if not isinstance(given[key], yaml.ScalarNode):
                raise BridgeError(f"{at}: {key} must be a string")
            fields[key] = given[key].value
    for other in ("ros_topic_name", "gz_topic_name"):
        if fields.get("topic_name") and fields.get(other):
            raise BridgeError(f"{at}: topic_name and {other} are mutually exclusive")
    missing = [k for k in TYPE_KEYS if not fields.get(k)]
    if missing:
        raise BridgeError(f"{at}: entry lacks {', '.join(missing)}")
    names = tuple(k for k in NAME_KEYS if fields.get(k))
    if not names:
        raise BridgeError(f"{at}: entry names no topic (topic_name, ros_topic_name or gz_topic_name)")
    # One name serves both sides.
    ros = fields.get("ros_topic_name") or fields.get("topic_name") or fields["gz_topic_name"]
    gz = fields.get("gz_topic_name") or fields.get("topic_name") or fields["ros_topic_name"]
    options = tuple((k, _option(k, given[k], at)) for k in OPTION_KEYS if k in given)
    return BridgeEntry(ros, gz, fields["ros_type_name"], fields["gz_type_name"],
                       fields.get("direction", "BIDIRECTIONAL"), line, names, options,
                       tuple(k for k in given if k not in KEYS))


def load_bridge(path: Path) -> list[BridgeEntry]:
    """Entries of a ros_gz_bridge YAML file, each with the line it starts on."""
    try:
        root = yaml.compose(Path(path).read_text())
    except OSError as err:
        raise BridgeError(f"{path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise BridgeError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(root, yaml.SequenceNode):
        raise BridgeError(f"{path}: expected a list of bridge entries")
    return [_entry(node, Path(path)) for node in root.value]


def problems(entries: list[BridgeEntry], robot_name: str, world_name: str) -> list[str]:
    """What ros_gz_bridge would refuse, or what points at another robot or world."""
    found = []
    for e in entries:
        at = f"line {e.line}: {e.ros_topic}"
        if e.direction not in DIRECTIONS:
            found.append(f"{at}: direction '{e.direction}' is not one of {', '.join(DIRECTIONS)}")
        if not converts(e.ros_type, e.gz_type):
            found.append(f"{at}: ros_gz_bridge cannot convert {e.ros_type} <-> {e.gz_type}")
        found += [f"{at}: ros_gz_bridge ignores the key '{key}'" for key in e.ignored]
        world = _WORLD_TOPIC.match(e.gz_topic)
        model = _MODEL_TOPIC.match(e.gz_topic)
        if world and world.group("world") != world_name:
            found.append(f"{at}: gz topic {e.gz_topic} names world '{world.group('world')}', "
                         f"the world is '{world_name}'")
        named_model = (world and world.group("model")) or (model and model.group("model"))
        if named_model and named_model != robot_name:
            found.append(f"{at}: gz topic {e.gz_topic} names model '{named_model}', the robot is '{robot_name}'")
    return found


def retarget(entries: list[BridgeEntry], robot_name: str, world_name: str) -> list[BridgeEntry]:
    """The same contract for another robot or world: gz topic names follow the new names."""

    def rename(topic: str) -> str:
        topic = _WORLD_TOPIC.sub(lambda m: f"/world/{world_name}/" + ("" if m.group("model") is None
                                                                      else f"model/{robot_name}/"), topic)
        return _MODEL_TOPIC.sub(f"/model/{robot_name}/", topic)

    return [replace(e, gz_topic=rename(e.gz_topic)) for e in entries]


def dump(entries: list[BridgeEntry]) -> str:
    """ros_gz_bridge YAML text of ``entries``, with the keys each was read with; an entry whose
    one name no longer fits both sides (retargeted) gets both names."""
    documents = []
    for e in entries:
        if len(e.names) == 1 and e.ros_topic == e.gz_topic:
            names = {e.names[0]: e.ros_topic}
        else:
            names = {"ros_topic_name": e.ros_topic, "gz_topic_name": e.gz_topic}
        documents.append({**names, "ros_type_name": e.ros_type, "gz_type_name": e.gz_type,
                          "direction": e.direction, **dict(e.options)})
    return yaml.safe_dump(documents, sort_keys=False)


@dataclass(frozen=True)
class VirtualTopics:
    """The ROS side of the contract, by role."""

    clock: str
    joint_states: str
    odom: str
    joint_trajectory: str


def virtual_topics(entries: list[BridgeEntry]) -> VirtualTopics:
    """Find each contract role in the bridge entries by its ROS type and direction."""
    wanted = {"clock": ("rosgraph_msgs/msg/Clock", True), "joint_states": ("sensor_msgs/msg/JointState", True),
              "odom": ("nav_msgs/msg/Odometry", True),
              "joint_trajectory": ("trajectory_msgs/msg/JointTrajectory", False)}
    found = {}
    for role, (ros_type, to_ros) in wanted.items():
        match = [e for e in entries if e.ros_type == ros_type and (e.to_ros if to_ros else e.from_ros)]
        if not match:
            direction = "GZ_TO_ROS" if to_ros else "ROS_TO_GZ"
            raise BridgeError(f"the bridge has no {direction} entry of type {ros_type}")
        found[role] = match[0].ros_topic
    return VirtualTopics(**found)
