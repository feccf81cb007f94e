"""mpremote's serial transport over a port the harness opened, read without polling."""

from __future__ import annotations

import time

from mpremote.transport_serial import SerialTransport


class Transport(SerialTransport):
    """mpremote's transport over an already opened port (ours, not one it opens)."""

    def __init__(self, port, name: str):
        self.in_raw_repl = False
        self.use_raw_paste = True
        self.device_name = name
        self.mounted = False
        self.serial = port
        self.is_pty = False

    def read_until(self, min_num_bytes, ending, timeout=10, data_consumer=None, timeout_overall=None):
        """mpremote's read_until, blocking on the port until the next byte or the deadline
        instead of polling it every 10 ms (up to 10 ms lost at every turn of the exchange).

        Byte by byte as mpremote's, so nothing past `ending` is consumed; the port's own
        timeout, which mpremote's raw-paste reads rely on, is restored afterwards.
        """
        data = b""
        started = time.monotonic()
        saved = self.serial.timeout
        try:
            while not data.endswith(ending):
                if not self.serial.in_waiting:
                    left = [timeout] if timeout is not None else []
                    if timeout_overall is not None:
                        left.append(started + timeout_overall - time.monotonic())
                    wait = min(left) if left else None
                    if wait is not None and wait <= 0:
                        break
                    if self.serial.timeout != wait:
                        self.serial.timeout = wait
                byte = self.serial.read(1)
                if not byte:
                    break
                if data_consumer:
                    data_consumer(byte)
                    data = byte
                else:
                    data += byte
        finally:
            if self.serial.timeout != saved:
                self.serial.timeout = saved
        return data
