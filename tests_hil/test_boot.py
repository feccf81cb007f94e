"""Boot: the image runs, boot.py comes before main.py, the firmware reports its heap."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.hil


def test_flashed_board_shows_the_micropython_banner(flashed, hil_settings):
    mark = flashed.hard_reset()
    version = flashed.reach_repl(mark, hil_settings.boot_timeout)
    assert re.fullmatch(r"v\d+\.\d+\.\d+\S*", version)
    flashed.console.expect(r"rst cause:2, boot mode:\(3,\d\)", timeout=hil_settings.boot_timeout, since=mark)


def test_boot_py_runs_before_main_py(deployed, hil_settings):
    # A soft reset keeps the ESP8266's Wi-Fi association: boot.py joins, or finds it up.
    boot = deployed.console.expect(r"boot: (joining |wifi already up)", timeout=hil_settings.boot_timeout,
                                   since=deployed.last_boot)
    main = deployed.console.expect(r"main: waiting for wifi", timeout=hil_settings.boot_timeout,
                                   since=deployed.last_boot)
    assert boot.start() < main.start()


def test_free_heap_is_reported_after_start(deployed, hil_settings, record_property):
    found = deployed.console.expect(r"main: free heap after start: (\d+)",
                                    timeout=hil_settings.wifi_timeout + hil_settings.mqtt_timeout,
                                    since=deployed.last_boot)
    free = int(found.group(1))
    deployed.facts["free_heap"] = free
    record_property("free_heap", free)
    assert 0 < free < 40 * 1024, "an ESP8266 has a 38 KiB heap: more means the limit is not applied"
