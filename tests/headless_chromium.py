"""Headless Chromium (or Chrome) from the command line, for looking at a report as a person would.

No browser library: the browser's own switches dump the rendered DOM (`--dump-dom`) or
take a screenshot, and write a net log (`--log-net-log`) of every URL request. Host names
resolve to nothing (`--host-resolver-rules`), so no request can leave the machine even if
one is made; the net log still records it. The browser's own background requests
(component updates, time, sign-in) carry the initiator "not an origin"; a request made by
the page carries the page's origin (`null` for a file), which is how `page_requests` tells
them apart.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
SWITCHES = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--disable-default-apps", "--host-resolver-rules=MAP * ~NOTFOUND")
TIMEOUT_S = 90
BROWSER_INITIATOR = "not an origin"


def find_browser() -> str | None:
    return next((path for name in NAMES if (path := shutil.which(name))), None)


def run(browser: str, url: str, *switches: str, net_log: Path) -> subprocess.CompletedProcess:
    """One headless browser run on `url` in a fresh profile; its stdout is what it dumps."""
    with tempfile.TemporaryDirectory(prefix="hil-chromium-") as profile:
        return subprocess.run([browser, *SWITCHES, f"--user-data-dir={profile}", f"--log-net-log={net_log}",
                               *switches, url], capture_output=True, text=True, timeout=TIMEOUT_S, check=True)


def dump_dom(browser: str, url: str, net_log: Path) -> str:
    return run(browser, url, "--dump-dom", net_log=net_log).stdout


def screenshot(browser: str, url: str, png: Path, net_log: Path, size: tuple[int, int] = (1280, 2400)) -> None:
    run(browser, url, f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", net_log=net_log)


def page_requests(net_log: Path) -> list[str]:
    """URLs of the requests the page made (not the browser's own background ones)."""
    log = json.loads(net_log.read_text())
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [event["params"]["url"] for event in log["events"]
            if event["type"] == start_job and "url" in event.get("params", {})
            and event["params"].get("initiator") != BROWSER_INITIATOR]


def png_size(png: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    header = png.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")
