"""Real ROS 2 for the tests: a probe node on the test's private DDS domain.

Each test holds a domain id (digital_twin_gz.run.rosenv), so parallel test runs on one
machine never share a domain, and discovery stays on localhost.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from digital_twin_gz.run import Domain


class Probe:
    """A node in the test process, on the test's domain, spun by hand."""

    def __init__(self, domain: Domain, name: str = "probe") -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self.rclpy = rclpy
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain.id)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._subscriptions: dict[str, object] = {}

    def spin_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.executor.spin_once(timeout_sec=0.01)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if condition():
                return
            self.executor.spin_once(timeout_sec=0.02)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def collect(self, msg_type, topic: str, qos=100) -> list:
        received: list = []
        self._subscriptions[topic] = self.node.create_subscription(msg_type, topic, received.append, qos)
        return received

    def hears(self, topic: str) -> bool:
        """Whether the subscription ``collect`` made on ``topic`` has matched a publisher: what one
        publishes before then is lost to the probe (volatile), so a test that makes a node publish a
        few messages waits for this first."""
        return self._subscriptions[topic].get_publisher_count() >= 1

    def topics(self) -> dict[str, list[str]]:
        return dict(self.node.get_topic_names_and_types())

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.rclpy.shutdown(context=self.context)


def statuses(messages: list, name: str) -> list:
    """The DiagnosticStatus entries called ``name`` in collected DiagnosticArray messages."""
    return [s for m in messages for s in m.status if s.name == name]


def status_values(status) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}
