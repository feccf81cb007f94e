"""Run the runtime alone on a PTY, without the ROM or the serial link.

    python -m nodemcu_hil.sim.runtime --flash /tmp/f.bin --pty /tmp/vb0 [--world HOST:PORT]

For developing the MicroPython side: picocom, mpremote and ampy work on the PTY path.
A `machine.reset()` (or deepsleep / WDT) restarts the interpreter with the matching
reset cause. A missing flash file is created erased (4 MiB of 0xFF).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import tty
from pathlib import Path

from nodemcu_hil.sim.runtime import BootParams, HeapConfig, Runtime

DEFAULT_FLASH_SIZE = 4 * 1024 * 1024
RESET_CAUSES = {"hard": 4, "deepsleep": 5, "wdt": 1, "crash": 2}  # machine.reset_cause() values


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m nodemcu_hil.sim.runtime")
    p.add_argument("--flash", required=True, help="flash image file")
    p.add_argument("--pty", required=True, help="path of the symlink to the PTY")
    p.add_argument("--world", help="HOST:PORT of the world endpoint")
    p.add_argument("--mac", default="5ccf7f000001", help="MAC as 12 hex digits")
    p.add_argument("--version", default="v1.28.0")
    p.add_argument("--build-date", default="2026-04-06")
    p.add_argument("--heap-free", type=int, default=None, help="free heap after boot")
    p.add_argument("--state-dir", default=None)
    return p.parse_args(argv)


def _ensure_flash(path: Path) -> int:
    if not path.exists():
        path.write_bytes(b"\xff" * DEFAULT_FLASH_SIZE)
    return path.stat().st_size


def main(argv=None) -> int:
    args = _parse(argv)
    flash = Path(args.flash).resolve()
    size = _ensure_flash(flash)
    world = None
    if args.world:
        host, port = args.world.rsplit(":", 1)
        world = (host, int(port))
    heap = HeapConfig.with_free(args.heap_free) if args.heap_free else HeapConfig()
    state = Path(args.state_dir or tempfile.mkdtemp(prefix="vboard-runtime-"))
    master, slave = os.openpty()
    tty.setraw(slave)
    link = Path(args.pty)
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(os.ttyname(slave))
    lock = threading.Lock()
    state_box = {"runtime": None}

    def output(data: bytes) -> None:
        os.write(master, data)

    def boot(cause: int) -> None:
        params = BootParams(flash_path=str(flash), flash_size=size,
                            mac=bytes.fromhex(args.mac), reset_cause=cause,
                            version=args.version, build_date=args.build_date,
                            world=world, heap=heap)
        with lock:
            state_box["runtime"] = Runtime(params, state / "run", output, on_reset).start()

    def on_reset(kind: str) -> None:
        threading.Thread(target=reboot, args=(kind,), daemon=True).start()

    def reboot(kind: str) -> None:
        with lock:
            old = state_box["runtime"]
        old.stop()
        boot(RESET_CAUSES.get(kind, 2))

    boot(0)
    print("READY pty=%s flash=%s pid=%d" % (link, flash, os.getpid()), flush=True)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    try:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:
                data = b""
            if data:
                with lock:
                    rt = state_box["runtime"]
                rt.receive(data)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        with lock:
            rt = state_box["runtime"]
        rt.stop()
        if link.is_symlink():
            link.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
