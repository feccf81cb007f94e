"""One board with the firmware deployed and running, for a campaign: the pytest fixtures'
bring-up (`board` > `flashed` > `broker` > `deployed` > `device`) as one context manager.

    with deployed_rig(ctx, {"telemetry_period": 1}) as rig:
        rig.mqtt.publish(rig.topic("gpio/5/set"), "1")
        rig.broker.messages.wait_for(rig.topic("gpio/5/state"), since=..., timeout=...)

Settings resolve as for the `hil` command (environment, pytest.ini, defaults), with
`settings_overrides` on top and the reports in the campaign's scratch directory. Without
a boards file that is a virtual board; with one, the first board it lists, leased.
"""

from __future__ import annotations

import json
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from campaigns.model import Context

ROOT = Path(__file__).resolve().parent.parent
STATUS_ONLINE = b"online"
OVERRIDE_SOURCE = "campaign"


@dataclass
class Rig:
    board: object       # nodemcu_hil.board.Board: console, pins, wifi, repl()
    broker: object      # nodemcu_hil.broker.HilBroker: messages, restart(), kick()
    mqtt: object        # nodemcu_hil.mqtt.MqttClient subscribed to `prefix/#` (None: observe=False)
    settings: object    # nodemcu_hil.config.Settings as the firmware was deployed with
    prefix: str         # this rig's topic namespace
    timeline: object    # nodemcu_hil.timeline.Timeline of everything above
    client_id: str = ""
    base: str = ""      # the firmware's topic base, `prefix/<client id>`
    online_at: float = 0.0  # when the broker got this boot's `online`

    def topic(self, suffix: str) -> str:
        return f"{self.base}/{suffix}"

    @property
    def boot_timeout(self) -> float:
        """Reset to `online`: Wi-Fi join plus MQTT connect, with the settings' deadlines."""
        return self.settings.wifi_timeout + self.settings.mqtt_timeout

    def boot(self) -> None:
        """A clean start of the deployed firmware (the ladder if it does not answer), then
        wait for its `online`, which names its client id."""
        from nodemcu_hil import bringup

        started = time.monotonic()
        bringup.restart_for_test(self.board, self.settings, lambda: None)
        status = self.broker.messages.wait_for(
            f"{self.prefix}/+/status", lambda m: m.payload == STATUS_ONLINE and not m.will, since=started,
            timeout=self.boot_timeout, what="the firmware's online status after boot")
        self.client_id, self.base, self.online_at = status.sender, status.topic.rsplit("/", 1)[0], status.at

    def onlines(self, since: float | None = None) -> int:
        """`online` statuses since `since` (default: this boot's): each one after the
        first is a reconnect."""
        return len(self.broker.messages.matching(
            self.topic("status"), lambda m: m.payload == STATUS_ONLINE and not m.will,
            since=self.online_at if since is None else since))

    def telemetry(self, since: float | None = None, *, timeout: float | None = None) -> dict:
        """The first telemetry the broker got after `since` (default: now), decoded."""
        since = time.monotonic() if since is None else since
        period = self.settings.telemetry_period
        message = self.broker.messages.wait_for(self.topic("telemetry"), since=since,
                                                timeout=timeout or period * 2 + self.settings.mqtt_timeout,
                                                what="telemetry")
        return {**json.loads(message.payload), "at": message.at}

    def telemetry_since_boot(self) -> list[dict]:
        return [{**json.loads(m.payload), "at": m.at}
                for m in self.broker.messages.matching(self.topic("telemetry"), since=self.online_at)]

    def console_tail(self, chars: int = 600) -> str:
        return self.board.console.text()[-chars:]


def rig_settings(ctx: Context, overrides: Mapping[str, object] | None = None):
    from nodemcu_hil.config import resolve_for_cli

    settings = resolve_for_cli({}, ROOT / "pytest.ini")
    given = {"report_dir": str(ctx.work_dir / "reports"), **(overrides or {})}
    return settings.with_overrides(given, source=OVERRIDE_SOURCE)


@contextmanager
def deployed_rig(ctx: Context, settings_overrides: Mapping[str, object] | None = None, *,
                 name: str = "campaign", observe: bool = True) -> Iterator[Rig]:
    """A board flashed, deployed for a broker of its own and booted into the firmware.

    `name` keeps rigs apart: the virtual board's name (and MAC) and the topic namespace.
    `observe=False` leaves out the paho client (`rig.mqtt` is None); the broker's own log
    still records every publish. A campaign that stops the broker needs that: amqtt 0.12's
    shutdown hangs while a QoS 1 delivery to a subscriber awaits its PUBACK.
    """
    from nodemcu_hil import bringup
    from nodemcu_hil.broker import HilBroker
    from nodemcu_hil.mqtt import MqttClient
    from nodemcu_hil.sources import choose_source
    from nodemcu_hil.timeline import Timeline

    settings = rig_settings(ctx, settings_overrides)
    source = choose_source(settings)
    timeline = Timeline()
    with ExitStack() as stack:
        board = stack.enter_context(bringup.session_board(source, settings, worker=name, worker_index=0,
                                                          state_dir=ctx.work_dir / "boards", timeline=timeline))
        bringup.flash_board(board, bringup.firmware_image_path(settings, source, ctx.work_dir / "image"), settings)
        broker = stack.enter_context(HilBroker(source.broker_address(settings),
                                               settings.broker_port, log_name=f"broker-{name}",
                                               on_action=lambda text: timeline.action("broker", text)))
        prefix = f"{settings.topic_prefix}/{name}"
        mqtt = None
        if observe:
            mqtt = stack.enter_context(MqttClient(broker.host, broker.port, f"hil-{name}", log_name=f"mqtt-{name}"))
            mqtt.subscribe(f"{prefix}/#")
        bringup.deploy_board(board, settings, broker.host, broker.port, prefix)
        rig = Rig(board=board, broker=broker, mqtt=mqtt, settings=settings, prefix=prefix, timeline=timeline)
        rig.boot()
        yield rig
