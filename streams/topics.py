"""Topic names and partition counts of the worker, from configuration.

The core speaks in *roles* (the contract's default names: ``sms.send`` ...);
operators may rename every topic (``[kafka] topic_*``). This module is the one
place that maps roles to real names, and names the worker's internal
repartition topics (one per non-account scope family).
"""

from __future__ import annotations

from dataclasses import dataclass

from detector.config import Config

INPUT_ROLES = ("sms.send", "sms.dlr", "sms.verify")
OUTPUT_ROLES = ("sms.alerts", "sms.throttle", "sms.deadletter")
ROLE_FIELDS = {
    "sms.send": "topic_send",
    "sms.dlr": "topic_dlr",
    "sms.verify": "topic_verify",
    "sms.alerts": "topic_alerts",
    "sms.throttle": "topic_throttle",
    "sms.deadletter": "topic_deadletter",
}


@dataclass(frozen=True)
class TopicLayout:
    """Real topic names by role, the partition count, and the worker's internal topics."""

    names: dict[str, str]
    partitions: int
    replication: int
    app_id: str

    @classmethod
    def from_config(cls, config: Config) -> TopicLayout:
        names = {role: getattr(config.kafka, attr) for role, attr in ROLE_FIELDS.items()}
        return cls(names, config.kafka.partitions, config.kafka.replication, config.worker.app_id)

    def name(self, role: str) -> str:
        return self.names[role]

    def role_of(self, topic: str) -> str:
        """Role of a real topic name; a role name is its own role (replay files may use either)."""
        for role, name in self.names.items():
            if name == topic:
                return role
        if topic in ROLE_FIELDS:
            return topic
        raise KeyError(f"unknown topic {topic!r}")

    def repartition_topic(self, family: str) -> str:
        """Internal topic carrying parsed events re-keyed by ``family``'s entity key.

        Prefixed with the app id like Faust's own repartition/changelog topics, so
        two apps (or two tests) on one broker never share one.
        """
        return f"{self.app_id}-{family}-events-repartition"

    def external_topics(self) -> dict[str, int]:
        """Inputs and outputs, name -> partition count (created by the worker if missing)."""
        return {name: self.partitions for name in self.names.values()}
