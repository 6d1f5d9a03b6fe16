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
REQUIRED = ("ros_topic_name", "gz_topic_name", "ros_type_name", "gz_type_name")
_MODEL_TOPIC = re.compile(r"^/model/(?P<model>[^/]+)/")
_WORLD_TOPIC = re.compile(r"^/world/(?P<world>[^/]+)/(?:model/(?P<model>[^/]+)/)?")


class BridgeError(ValueError):
    """A bridge file that cannot be read; the message names file and line."""


@dataclass(frozen=True)
class BridgeEntry:
    ros_topic: str
    gz_topic: str
    ros_type: str
    gz_type: str
    direction: str
    line: int

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
    return frozenset((ros, gz) for ros, gzs in table.items() for gz in ([gzs] if isinstance(gzs, str) else gzs))


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
    entries = []
    for node in root.value:
        line = node.start_mark.line + 1
        if not isinstance(node, yaml.MappingNode):
            raise BridgeError(f"{path}: line {line}: an entry must be a mapping")
        fields = {k.value: v.value for k, v in node.value if isinstance(v, yaml.ScalarNode)}
        missing = [k for k in REQUIRED if not fields.get(k)]
        if missing:
            raise BridgeError(f"{path}: line {line}: entry lacks {', '.join(missing)}")
        entries.append(BridgeEntry(fields["ros_topic_name"], fields["gz_topic_name"], fields["ros_type_name"],
                                   fields["gz_type_name"], fields.get("direction", "BIDIRECTIONAL"), line))
    return entries


def problems(entries: list[BridgeEntry], robot_name: str, world_name: str) -> list[str]:
    """What ros_gz_bridge would refuse, or what points at another robot or world."""
    found = []
    pairs = type_pairs()
    for e in entries:
        at = f"line {e.line}: {e.ros_topic}"
        if e.direction not in DIRECTIONS:
            found.append(f"{at}: direction '{e.direction}' is not one of {', '.join(DIRECTIONS)}")
        if (e.ros_type, e.gz_type) not in pairs:
            found.append(f"{at}: ros_gz_bridge cannot convert {e.ros_type} <-> {e.gz_type}")
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
    """ros_gz_bridge YAML text of ``entries``."""
    return yaml.safe_dump([{"ros_topic_name": e.ros_topic, "gz_topic_name": e.gz_topic,
                            "ros_type_name": e.ros_type, "gz_type_name": e.gz_type,
                            "direction": e.direction} for e in entries], sort_keys=False)


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
