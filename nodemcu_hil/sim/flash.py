"""The board's SPI NOR flash, kept in a file.

The file is the flash: nothing is cached in this process, because the MicroPython
runtime (another process) keeps its filesystem in the same file and reads and writes it
directly. Programming only clears bits (new = old AND data), as on a real NOR chip;
erasing sets whole 4 KiB sectors back to 0xFF.
"""

from __future__ import annotations

import hashlib
import os

SECTOR_SIZE = 0x1000
DEFAULT_SIZE = 4 * 1024 * 1024
ERASED = 0xFF
_CHUNK = 64 * 1024


class FlashFileError(Exception):
    """The flash image file cannot be used (unwritable, wrong size, closed)."""


class FlashRangeError(ValueError):
    """An access reaches outside the chip or is not sector aligned where it must be."""


class Flash:
    def __init__(self, path: str | os.PathLike, size: int = DEFAULT_SIZE):
        if size <= 0 or size % SECTOR_SIZE:
            raise FlashRangeError(f"flash size {size:#x} is not a positive multiple of 4 KiB")
        self.path = os.fspath(path)
        self.size = size
        self._fd: int | None = None
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            actual = os.fstat(self._fd).st_size
            if actual == 0:
                self._fill(0, size)
            elif actual != size:
                raise FlashFileError(
                    f"flash image {self.path} holds {actual} bytes, expected {size} "
                    f"({size // 1024 // 1024} MB): delete it to start blank, or start the "
                    f"board with the flash size the file was made for")
        except OSError as exc:
            self.close()
            raise FlashFileError(
                f"cannot open flash image {self.path} for reading and writing: "
                f"{exc.strerror}; choose a writable directory for the board's flash") from exc
        except FlashFileError:
            self.close()
            raise

    def _handle(self) -> int:
        if self._fd is None:
            raise FlashFileError(f"flash image {self.path} is closed")
        return self._fd

    def _check(self, offset: int, length: int) -> None:
        if offset < 0 or length < 0 or offset + length > self.size:
            raise FlashRangeError(
                f"flash access {offset:#x}+{length:#x} is outside the {self.size:#x}-byte chip")

    def _fill(self, offset: int, length: int) -> None:
        fd = self._handle()
        block = bytes([ERASED]) * min(_CHUNK, length)
        end = offset + length
        while offset < end:
            n = min(len(block), end - offset)
            os.pwrite(fd, block[:n], offset)
            offset += n

    def read(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        fd = self._handle()
        parts = []
        end = offset + length
        while offset < end:
            chunk = os.pread(fd, min(_CHUNK, end - offset), offset)
            if not chunk:
                raise FlashFileError(f"flash image {self.path} was truncated by someone else")
            parts.append(chunk)
            offset += len(chunk)
        return b"".join(parts)

    def program(self, offset: int, data: bytes) -> None:
        """Page-program: every bit that is 0 in data or already 0 in flash ends up 0."""
        self._check(offset, len(data))
        if not data:
            return
        old = int.from_bytes(self.read(offset, len(data)), "little")
        new = (old & int.from_bytes(data, "little")).to_bytes(len(data), "little")
        os.pwrite(self._handle(), new, offset)

    def erase_sector(self, index: int) -> None:
        self._check(index * SECTOR_SIZE, SECTOR_SIZE)
        self._fill(index * SECTOR_SIZE, SECTOR_SIZE)

    def erase_region(self, offset: int, length: int) -> None:
        if offset % SECTOR_SIZE or length % SECTOR_SIZE:
            raise FlashRangeError(
                f"erase of {offset:#x}+{length:#x} is not aligned to 4 KiB sectors")
        self._check(offset, length)
        self._fill(offset, length)

    def erase_chip(self) -> None:
        self._fill(0, self.size)

    def md5(self, offset: int, length: int) -> bytes:
        self._check(offset, length)
        digest = hashlib.md5()
        end = offset + length
        while offset < end:
            n = min(_CHUNK, end - offset)
            digest.update(self.read(offset, n))
            offset += n
        return digest.digest()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Flash":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
