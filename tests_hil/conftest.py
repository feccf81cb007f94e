"""Suite-level helpers over the harness fixtures (no board access of their own)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

STATUS_ONLINE = b"online"


@dataclass(frozen=True)
class Device:
    """The firmware as the broker sees it: its MQTT client id and topic base."""

    client_id: str
    base: str
    online_at: float

    def topic(self, suffix: str) -> str:
        return f"{self.base}/{suffix}"


@pytest.fixture
def device(deployed, broker, hil_topic_prefix, hil_settings) -> Device:
    """Wait for this boot's retained `online` status; it names the firmware's client id."""
    started = time.monotonic()
    status = broker.messages.wait_for(f"{hil_topic_prefix}/+/status", lambda m: m.payload == STATUS_ONLINE,
                                      since=started, timeout=hil_settings.wifi_timeout + hil_settings.mqtt_timeout,
                                      what="the firmware's online status after boot")
    base = status.topic.rsplit("/", 1)[0]
    return Device(client_id=status.sender, base=base, online_at=status.at)
