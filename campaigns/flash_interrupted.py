"""Flashing killed mid-write: the next `hil flash` notices and rewrites, and the board boots.

A `hil flash --force` subprocess writes a 1 MiB image (the simulator's image with
incompressible data after its MD5 trailer, so the write takes many blocks) to one
virtual board and is SIGKILLed once esptool reports the write past a kill point. The
flash must then not hold the image, a plain `hil flash` (no --force) must write it (not
"already held"), and the board must boot to its banner.
"""

from __future__ import annotations

import os
import queue
import random
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from campaigns.model import Context, Result

NAME = "flash_interrupted"
SUMMARY = "hil flash killed mid-write: the next run rewrites the image and the board boots"

KILL_POINTS = (10.0, 40.0, 70.0)  # percent of the write esptool has reported
IMAGE_BYTES = 1 << 20
RANDOM_SEED = 8266
PROGRESS = re.compile(r"Writing at 0x[0-9a-f]+ .*?(\d+(?:\.\d+)?)%")
WRITTEN = "written in"
ALREADY_HELD = "already held the image"
RUN_TIMEOUT_S = 120.0
BOOT_TIMEOUT_S = 20.0
HIL = [sys.executable, "-m", "nodemcu_hil.cli", "flash"]


def interrupted_image(directory: Path) -> Path:
    """The sim image plus seeded random bytes after its MD5 trailer: valid, bootable, slow to write."""
    from nodemcu_hil.sim.mpimage import build_image

    good = build_image()
    path = directory / "interrupted-1MiB.bin"
    path.write_bytes(good + random.Random(RANDOM_SEED).randbytes(IMAGE_BYTES - len(good)))
    return path


def _environment(ctx: Context) -> dict:
    return {**os.environ, "HIL_LEASE_DIR": str(ctx.work_dir / "leases"), "PYTHONUNBUFFERED": "1"}


def kill_mid_write(url: str, image: Path, point: float, env: dict, deadline: float) -> tuple[float | None, str]:
    """Run `hil flash --force`, SIGKILL it at the first progress line at or past `point` percent.

    Returns (the percent seen when killed or None, the output it printed).
    """
    process = subprocess.Popen([*HIL, "--port", url, "--force", str(image)], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    output, seen = [], None
    try:
        while seen is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break  # the run ended before the kill point
            output.append(line)
            progress = PROGRESS.search(line)
            if progress and float(progress.group(1)) >= point:
                process.send_signal(signal.SIGKILL)
                seen = float(progress.group(1))
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    return seen, "".join(output)


def _pump(stream, lines: queue.Queue) -> None:
    """Lines of the subprocess's output into `lines`, then None at its end."""
    for line in stream:
        lines.put(line)
    lines.put(None)


def holds_image(record, image: Path) -> bool:
    """Whether the board's flash holds the image (MD5 from byte 4, read with esptool)."""
    import hashlib

    from nodemcu_hil.esptool_session import connect, quiet
    from nodemcu_hil.flashing import PATCHED_HEADER_BYTES
    from nodemcu_hil.ports import open_port

    data = image.read_bytes()[PATCHED_HEADER_BYTES:]
    with open_port(record.port) as port:
        esp = connect(port, where={"board": record.name, "port": record.port})
        with quiet(lambda line: None):
            on_flash = esp.flash_md5sum(PATCHED_HEADER_BYTES, len(data))
            esp.hard_reset()
    return on_flash == hashlib.md5(data).hexdigest()


def boots_to_banner(record, version: str) -> bool:
    """Reset the board and wait (bounded) for its MicroPython banner."""
    from nodemcu_hil.console import Console
    from nodemcu_hil.errors import WaitTimeout
    from nodemcu_hil.ports import open_port
    from nodemcu_hil.timeline import Timeline

    with open_port(record.port) as port:
        console = Console(port, board=record.name, timeline=Timeline())
        try:
            mark = console.hard_reset()
            console.expect(rf"MicroPython {re.escape(version)} on ", timeout=BOOT_TIMEOUT_S, since=mark)
            return True
        except WaitTimeout:
            return False
        finally:
            console.close()


def run(ctx: Context) -> Result:
    from nodemcu_hil.sim_rig import virtual_board
    from nodemcu_hil.sim.mpimage import recognise_file

    started = time.monotonic()
    result = Result(NAME)
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    image = interrupted_image(ctx.work_dir)
    version = recognise_file(image).version
    env = _environment(ctx)
    points = KILL_POINTS[:ctx.cases(len(KILL_POINTS), 1)]
    with virtual_board("campaign-flash-kill", ctx.work_dir / "board", wifi_ssid="campaign-ap",
                       wifi_password=None) as (record, _process):
        for index, point in enumerate(points):
            if ctx.out_of_time():
                result.not_reached = len(points) - index
                break
            result.rows.append(_case(record, image, version, point, env, result))
    rows = result.rows
    result.figures = {"kills": sum(row["killed at"] != "-" for row in rows),
                      "recovered": sum(row["next run"] == "rewrote" and row["boots"] == "yes" for row in rows)}
    result.seconds = time.monotonic() - started
    return result


def _case(record, image: Path, version: str, point: float, env: dict, result: Result) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT_S
    seen, output = kill_mid_write(record.port, image, point, env, deadline)
    row = {"kill point": f"{point:.0f}%", "killed at": f"{seen:.1f}%" if seen is not None else "-"}
    if seen is None:
        result.fail(f"kill at {point:.0f}%: the write never got there (last output: {output[-200:]!r})")
    held = holds_image(record, image)
    row["flash held image after kill"] = "yes" if held else "no"
    if held:
        result.fail(f"kill at {point:.0f}%: the flash already held the whole image: the kill came too late")
    again = subprocess.run([*HIL, "--port", record.port, str(image)], capture_output=True, text=True, env=env,
                           timeout=RUN_TIMEOUT_S)
    rewrote = again.returncode == 0 and WRITTEN in again.stdout and ALREADY_HELD not in again.stdout
    row["next run"] = "rewrote" if rewrote else ("already held" if ALREADY_HELD in again.stdout
                                                 else f"rc {again.returncode}")
    if not rewrote:
        result.fail(f"kill at {point:.0f}%: the next hil flash did not rewrite the image "
                    f"({(again.stdout + again.stderr).strip()[-300:]!r})")
    booted = boots_to_banner(record, version)
    row["boots"] = "yes" if booted else "no"
    if not booted:
        result.fail(f"kill at {point:.0f}%: no 'MicroPython {version}' banner within {BOOT_TIMEOUT_S:.0f} s")
    return row
