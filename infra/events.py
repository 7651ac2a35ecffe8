"""Events: the imgpipe EventBridge bus and an archive of everything imgpipe publishes (for replay)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from constructs import Construct

from infra.config import StageConfig
from infra.constants import EVENT_BUS, EVENT_SOURCE


class Events(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=config.physical_name(EVENT_BUS))
        self.archive = self.bus.archive(
            "Archive",
            archive_name=config.physical_name(EVENT_BUS),
            description="Every imgpipe event, so consumers can be replayed after a fix",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            retention=Duration.days(config.event_archive_days) if config.event_archive_days else None,
        )
