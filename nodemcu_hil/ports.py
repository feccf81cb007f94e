"""The one way the harness opens a serial port: device paths, by-id links, rfc2217:// URLs.

pyserial's RFC2217 client renegotiates every line setting, polling for each answer in
50 ms sleeps, whenever the read timeout changes, and esptool changes it around nearly
every command: bare `esptool flash-id` over RFC2217 takes 15 to 20 s even on loopback
(igrr/rfc2217-server issue 7). `Rfc2217Port` is a subclass of pyserial's client whose
timeout changes stay local, which renegotiates only when a line setting (baud, size,
parity, stop bits, flow control) really changes, which waits for the server's answers on
a condition instead of in 50 ms steps, and which buffers received data in runs instead
of byte by byte. Nothing inside pyserial or esptool is patched; esptool's Python API
takes the ready serial object (`ESPLoader(port=obj)`, `detect_chip(port=obj)`).
"""

from __future__ import annotations

import errno
import os
import threading
from urllib.parse import urlsplit

import serial
import serial.rfc2217 as rfc2217
from serial.serialutil import SerialException, Timeout

from nodemcu_hil.errors import BoardNotFound, ConfigError, HilError, PortBusy

RFC2217_SCHEME = "rfc2217://"
RFC2217_FORM = "rfc2217://host:port (e.g. rfc2217://rig-b.local:4000, options after ?)"
DEFAULT_TIMEOUT = 1.0
REFUSAL_MARKER = b"BUSY:"
RECV_SIZE = 65536
_M_NORMAL, _M_IAC_SEEN, _M_NEGOTIATE = rfc2217.M_NORMAL, rfc2217.M_IAC_SEEN, rfc2217.M_NEGOTIATE


class Rfc2217Port(rfc2217.Serial):
    """pyserial's RFC2217 client, minus the renegotiation on every timeout change."""

    def __init__(self, *args, **kwargs):
        self._changed = threading.Condition()
        self._rx = bytearray()
        self._remote_gone = False
        self._line_settings: tuple | None = None
        super().__init__(*args, **kwargs)

    # -- line settings: renegotiated only when they really change --------------------

    def _line_tuple(self) -> tuple:
        return (self._baudrate, self._bytesize, self._parity, self._stopbits, self._xonxoff, self._rtscts)

    def _reconfigure_port(self) -> None:
        if self._socket is None:
            raise SerialException("Can only operate on open ports")
        wanted = self._line_tuple()
        previous = self._line_settings
        if wanted == previous:
            return  # a timeout (read, write, inter-byte) changed: that is local to the client
        if not 0 < self._baudrate < 2 ** 32:
            raise ValueError(f"invalid baudrate: {self._baudrate!r}")
        if self._rtscts and self._xonxoff:
            raise ValueError("xonxoff and rtscts together are not supported")
        values = {
            "baudrate": self._baudrate.to_bytes(4, "big"),
            "datasize": bytes([self._bytesize]),
            "parity": bytes([rfc2217.RFC2217_PARITY_MAP[self._parity]]),
            "stopsize": bytes([rfc2217.RFC2217_STOPBIT_MAP[self._stopbits]]),
        }
        changed = [name for index, name in enumerate(values)
                   if previous is None or previous[index] != wanted[index]]
        options = [self._rfc2217_port_settings[name] for name in changed]
        for name, option in zip(changed, options):
            option.set(values[name])
        self._await(lambda: all(option.active for option in options), f"line settings {changed}")
        if previous is None or previous[4:] != wanted[4:]:
            if self._rtscts:
                self.rfc2217_set_control(rfc2217.SET_CONTROL_USE_HW_FLOW_CONTROL)
            elif self._xonxoff:
                self.rfc2217_set_control(rfc2217.SET_CONTROL_USE_SW_FLOW_CONTROL)
            else:
                self.rfc2217_set_control(rfc2217.SET_CONTROL_USE_NO_FLOW_CONTROL)
        self._line_settings = wanted

    def rfc2217_set_control(self, value: bytes) -> None:
        option = self._rfc2217_options["control"]
        option.set(value)
        if not self._ignore_set_control_answer:
            self._await(lambda: option.active, "modem line change")

    def rfc2217_send_purge(self, value: bytes) -> None:
        option = self._rfc2217_options["purge"]
        option.set(value)
        self._await(lambda: option.active, "purge")

    def _internal_raw_write(self, data: bytes) -> None:
        try:
            super()._internal_raw_write(data)
        except OSError as exc:
            raise SerialException(f"{self.portstr}: connection failed: {exc}") from exc

    def _await(self, ready, what: str) -> None:
        """Wait for the server's answer, woken by the reader thread as answers arrive."""
        with self._changed:
            done = self._changed.wait_for(lambda: self._remote_gone or self.refusal() or ready(),
                                          self._network_timeout)
        if self.refusal():
            raise SerialException(f"{self.portstr}: {self.refusal()}")
        if self._remote_gone and not ready():
            raise SerialException(f"{self.portstr}: the server closed the connection during {what}")
        if not done:
            raise SerialException(f"{self.portstr}: no answer to {what} within {self._network_timeout} s")

    def _notify(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _telnet_process_subnegotiation(self, suboption: bytes) -> None:
        super()._telnet_process_subnegotiation(suboption)
        self._notify()

    def _telnet_negotiate_option(self, command: bytes, option: bytes) -> None:
        super()._telnet_negotiate_option(command, option)
        self._notify()

    # -- receive path: runs of data, not one queue item per byte ----------------------

    def _telnet_read_loop(self) -> None:
        mode, suboption, command = _M_NORMAL, None, None
        try:
            while self.is_open:
                try:
                    chunk = self._socket.recv(RECV_SIZE)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                data = bytearray()
                index = 0
                while index < len(chunk):
                    if mode == _M_NORMAL and suboption is None:
                        stop = chunk.find(rfc2217.IAC, index)
                        stop = len(chunk) if stop < 0 else stop
                        data += chunk[index:stop]
                        index = stop
                        if index >= len(chunk):
                            break
                    byte = chunk[index:index + 1]
                    index += 1
                    if mode == _M_NORMAL:
                        if byte == rfc2217.IAC:
                            mode = _M_IAC_SEEN
                        else:
                            suboption += byte
                    elif mode == _M_IAC_SEEN:
                        mode = _M_NORMAL
                        if byte == rfc2217.IAC:
                            if suboption is None:
                                data += byte
                            else:
                                suboption += byte
                        elif byte == rfc2217.SB:
                            suboption = bytearray()
                        elif byte == rfc2217.SE:
                            self._telnet_process_subnegotiation(bytes(suboption or b""))
                            suboption = None
                        elif byte in (rfc2217.DO, rfc2217.DONT, rfc2217.WILL, rfc2217.WONT):
                            command, mode = byte, _M_NEGOTIATE
                        else:
                            self._telnet_process_command(byte)
                    else:
                        self._telnet_negotiate_option(command, byte)
                        mode = _M_NORMAL
                if data:
                    with self._changed:
                        self._rx += data
                        self._changed.notify_all()
        finally:
            with self._changed:
                self._remote_gone = True
                self._changed.notify_all()

    @property
    def in_waiting(self) -> int:
        if not self.is_open:
            raise serial.PortNotOpenError()
        return len(self._rx)

    def read(self, size: int = 1) -> bytes:
        if not self.is_open:
            raise serial.PortNotOpenError()
        deadline = Timeout(self._timeout)
        with self._changed:
            while len(self._rx) < size and not self._remote_gone:
                left = deadline.time_left()
                if left is not None and left <= 0:
                    break
                self._changed.wait(left)
            if not self._rx and self._remote_gone and size:
                raise SerialException(f"{self.portstr}: connection closed by the server")
            data = bytes(self._rx[:size])
            del self._rx[:size]
        return data

    def reset_input_buffer(self) -> None:
        if not self.is_open:
            raise serial.PortNotOpenError()
        self.rfc2217_send_purge(rfc2217.PURGE_RECEIVE_BUFFER)
        with self._changed:
            self._rx.clear()

    def close(self) -> None:
        """Close without pyserial's fixed 0.3 s pause; the server frees its slot at once."""
        self.is_open = False
        sock, self._socket = self._socket, None
        if sock is not None:
            try:
                sock.shutdown(2)
            except OSError:
                pass
            sock.close()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(self._network_timeout + 1)

    def refusal(self) -> str | None:
        """The server's one-line reason when it turned this client away, else None."""
        start = self._rx.find(REFUSAL_MARKER)
        if start < 0:
            return None
        return bytes(self._rx[start:]).decode(errors="replace").strip()


def check_rfc2217_url(url: str) -> str:
    """An rfc2217:// URL pyserial can open: a host and a port 1-65535; ValueError otherwise.

    Checked here rather than left to pyserial, whose answer to a missing port is
    "'<=' not supported between instances of 'int' and 'NoneType'".
    """
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    problem = ("has no host" if not parts.hostname
               else "has no port" if port is None
               else "has a port outside 1-65535" if not 0 < port < 65536
               else None)
    if problem:
        raise ValueError(f"port URL {url!r} {problem}: expected {RFC2217_FORM}")
    return url


def open_port(url_or_path: str, *, baudrate: int = 115200, timeout: float | None = DEFAULT_TIMEOUT,
              exclusive: bool = True) -> serial.Serial:
    """Open a board's port, ready for esptool, the console or the REPL.

    Raises `BoardNotFound` when nothing is there and `PortBusy` when someone else holds it.
    """
    if url_or_path.startswith(RFC2217_SCHEME):
        try:
            check_rfc2217_url(url_or_path)
        except ValueError as exc:
            raise ConfigError(str(exc), port=url_or_path,
                              hint="fix the port in boards.toml or on the command line") from None
        return _open_rfc2217(url_or_path, baudrate, timeout)
    if "://" in url_or_path:
        return serial.serial_for_url(url_or_path, baudrate=baudrate, timeout=timeout)
    return _open_device(url_or_path, baudrate, timeout, exclusive)


def _open_rfc2217(url: str, baudrate: int, timeout: float | None) -> Rfc2217Port:
    port = Rfc2217Port(None, baudrate=baudrate, timeout=timeout)
    port.port = url
    try:
        port.open()
    except SerialException as exc:
        reason = port.refusal()
        if reason:
            raise PortBusy(f"the RFC2217 server refused the connection: {reason}", port=url,
                           hint="another client (esptool, a console, a second test worker) holds "
                                "this board; close it or wait for its lease") from None
        if "Could not open port" in str(exc):
            raise BoardNotFound(f"nothing accepts connections at {url} ({exc.__cause__ or exc})",
                                port=url, hint="start the board's RFC2217 server (hil sim, ser2net, "
                                               "esp_rfc2217_server) or fix the URL in boards.toml") from None
        raise BoardNotFound(f"{url} does not speak RFC2217: {exc}", port=url,
                            hint="the URL must point at an RFC2217 server, not a raw TCP socket") from None
    return port


def _open_device(path: str, baudrate: int, timeout: float | None, exclusive: bool) -> serial.Serial:
    if not os.path.exists(path):
        raise BoardNotFound(f"no serial device at {path}", port=path,
                            hint="check the cable and the port in boards.toml; /dev/serial/by-id/ "
                                 "names stay stable across replugs")
    port = serial.Serial(None, baudrate=baudrate, timeout=timeout, exclusive=exclusive)
    port.port = path
    try:
        port.open()
    except SerialException as exc:
        code = getattr(exc, "errno", None)
        text = str(exc)
        if code == errno.EBUSY or "exclusively lock" in text or "Resource busy" in text:
            raise PortBusy(f"{path} is held by another process", port=path,
                           hint="close picocom/screen/another esptool on it (fuser -v " + path + ")") from None
        if code == errno.ENOENT:
            raise BoardNotFound(f"{path} disappeared while opening it", port=path,
                                hint="the board was unplugged or is re-enumerating; retry") from None
        if code == errno.EACCES:
            raise HilError(f"no permission to open {path}", port=path,
                           hint="add your user to the dialout (or uucp) group and log in again") from None
        raise HilError(f"cannot open {path}: {text}", port=path) from None
    return port
