# MicroPython side: the ESP8266's `socket` (extmod/modlwip.c) over the world's network
# path. A TCP connect asks the world for a route (EHOSTUNREACH while the station has no
# address, as lwIP's ERR_RTE), then opens a host socket to the world's relay, which
# carries the bytes so that link drops, blackholes and latency hit this very socket.
# Errors are lwIP's: ECONNRESET for a refused connect or a peer's RST, ECONNABORTED when
# the Wi-Fi link went away under the connection, ETIMEDOUT for socket timeouts.
import io
from _vbnative import socket as _n, select as _sel
import _vbworld as _w

AF_INET = 2
AF_INET6 = 10
SOCK_STREAM = 1
SOCK_DGRAM = 2
SOCK_RAW = 3
SOL_SOCKET = 1
SO_REUSEADDR = 4
SO_BROADCAST = 32
IPPROTO_IP = 0
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_SEC = 282
IP_ADD_MEMBERSHIP = 1024
IP_DROP_MEMBERSHIP = 1025
TCP_NODELAY = 64
MSG_PEEK = 1
MSG_DONTWAIT = 2
EAGAIN = 11
EINVAL = 22
EBADF = 9
ECONNABORTED = 103
ECONNRESET = 104
EISCONN = 106
ENOTCONN = 107
ETIMEDOUT = 110
EALREADY = 114
EINPROGRESS = 115
EHOSTUNREACH = 113
_GET_FILENO = 10  # MP_STREAM_GET_FILENO: lets the unix port's poll see the host fd
_POLL = 3  # MP_STREAM_POLL


def _parse_ip(addr):
    try:
        host, port = addr
        parts = [int(p) for p in host.split(".")]
        if len(parts) != 4 or not all(0 <= p < 256 for p in parts):
            raise ValueError
        return host, int(port)
    except (TypeError, ValueError, AttributeError):
        raise ValueError("invalid arguments")


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    try:
        ip, port = _parse_ip((host, port))
    except ValueError:
        r = _w.call("net.resolve", host=host) if _w.available() else {"errno": -2}
        if "errno" in r:
            raise OSError(r["errno"])
        ip = r["ip"]
    return [(AF_INET, SOCK_STREAM, 0, "", (ip, port))]


def _host_addr(ip, port):
    return _n.getaddrinfo(ip, port)[0][-1]


# extmod/modlwip.c STATE_*; a closed socket holds _ERR_BADF (-16 with the SDK's lwIP 1.4)
_LWIP_STATE = {"new": 0, "listening": 1, "connecting": 2, "connected": 3, "dgram": 4,
               "failed": 5, "closed": -16}


def _as_int(value):
    """mp_obj_get_int, as modlwip's constructor reads its arguments."""
    if not isinstance(value, int):
        raise TypeError("can't convert %s to int" % type(value).__name__)
    return value


class socket(io.IOBase):
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        for arg in (af, type, proto):
            _as_int(arg)
        if type not in (SOCK_STREAM, SOCK_DGRAM):  # no MICROPY_PY_LWIP_SOCK_RAW on ESP8266
            raise OSError(EINVAL)
        self._type = type
        self._s = None
        self._timeout = -1  # ms; -1 blocks, 0 never waits
        self._state = "new"
        self._errno = 0
        self._token = None
        if type == SOCK_DGRAM:
            self._s = _n.socket(_n.AF_INET, _n.SOCK_DGRAM)
            self._state = "dgram"

    # --- state
    def _check(self):
        if self._state == "closed":
            raise OSError(EBADF)
        if self._errno:
            raise OSError(self._errno)

    def _fail(self, exc=None):
        """The host socket broke: say it the way lwIP would for this connection's fate."""
        fate = _w.call("net.fate", token=self._token) if self._token and _w.available() else ""
        self._errno = ECONNABORTED if fate in ("aborted", "frozen") else ECONNRESET
        raise OSError(self._errno)

    def _poll_error(self, mask):
        """lwIP's poll flags for a broken connection (modlwip MP_STREAM_POLL): a reset one
        is readable, writable, ERR and HUP; an aborted one (link lost) only ERR."""
        if not self._errno:
            try:
                self._fail()
            except OSError:
                pass
        if self._errno == ECONNRESET:
            return (mask & 5) | 8 | 16  # (POLLIN|POLLOUT) asked, POLLERR, POLLHUP
        return 8

    def _settle(self):
        """Take the relay's status byte once it has arrived (connecting -> connected)."""
        if self._state != "connecting":
            return
        p = _sel.poll()
        p.register(self._s, _sel.POLLIN)
        if not p.poll(0):
            return
        try:
            b = self._s.recv(1)
        except OSError:
            b = b""
        if b == b"\x00":
            self._state = "connected"
        else:
            self._errno = b[0] if b else ECONNABORTED
            self._state = "failed"

    def _wait(self, event):
        """Block (per the timeout) until the host socket has `event`; IRQs run meanwhile."""
        if self._timeout == 0:
            raise OSError(EAGAIN)
        p = _sel.poll()
        p.register(self._s, event)
        if not _w.wait(self._timeout, p):
            raise OSError(ETIMEDOUT)

    def _connected(self):
        self._check()
        while self._state == "connecting":
            self._settle()
            self._check()
            if self._state == "connecting":
                self._wait(_sel.POLLIN)
        if self._state not in ("connected", "dgram"):
            raise OSError(ENOTCONN)

    # --- the lwIP socket API
    def connect(self, address):
        self._check()
        ip, port = _parse_ip(address)
        if self._state == "connected":
            raise OSError(EISCONN)
        if self._state == "connecting":
            raise OSError(EALREADY)
        if self._type == SOCK_DGRAM:
            self._s.connect(_host_addr(ip, port))
            return
        r = _w.call("net.connect", dst=[ip, port]) if _w.available() else {"errno": EHOSTUNREACH}
        if "errno" in r:
            raise OSError(r["errno"])
        s = _n.socket(_n.AF_INET, _n.SOCK_STREAM)
        s.connect(_host_addr(r["relay"][0], r["relay"][1]))
        s.write(r["token"] + "\n")
        s.setblocking(False)
        self._s, self._token, self._state = s, r["token"], "connecting"
        if self._timeout == 0:
            raise OSError(EINPROGRESS)
        try:
            self._connected()
        except OSError as e:
            if e.args[0] == EAGAIN:
                raise OSError(ETIMEDOUT)
            raise

    def settimeout(self, value):
        self._timeout = -1 if value is None else int(value * 1000)

    def setblocking(self, flag):
        self._timeout = -1 if flag else 0

    def setsockopt(self, level, optname, value):
        self._check()

    def recv(self, bufsize, flags=0):
        if self._state == "dgram":
            return self.recvfrom(bufsize)[0]
        self._connected()
        while True:
            try:
                data = self._s.recv(bufsize)
                return data
            except OSError as e:
                if e.args[0] != EAGAIN:
                    self._fail(e)
            self._wait(_sel.POLLIN)

    def send(self, data):
        self._connected()
        while True:
            try:
                n = self._s.send(data)
                if n is not None:
                    return n
            except OSError as e:
                if e.args[0] != EAGAIN:
                    self._fail(e)
            self._wait(_sel.POLLOUT)

    def sendall(self, data):
        mv = memoryview(data)
        while len(mv):
            mv = mv[self.send(mv):]

    def read(self, n=-1):
        out = b""
        while n < 0 or len(out) < n:
            try:
                chunk = self.recv(4096 if n < 0 else n - len(out))
            except OSError as e:
                if e.args[0] == EAGAIN:
                    return out if out else None
                raise
            if not chunk:
                break
            out += chunk
        return out

    def readinto(self, buf, nbytes=-1):
        n = len(buf) if nbytes < 0 else min(nbytes, len(buf))
        data = self.read(n)
        if data is None:
            return None
        buf[:len(data)] = data
        return len(data)

    def readline(self):
        line = b""
        while not line.endswith(b"\n"):
            c = self.read(1)
            if not c:
                break
            line += c
        return line

    def write(self, data, *span):
        """stream write(buf[, max_len]) or write(buf, off, max_len)."""
        off, n = (0, span[0]) if len(span) == 1 else (span if span else (0, -1))
        if off or n >= 0:
            data = memoryview(data)[off:] if n < 0 else memoryview(data)[off:off + n]
        try:
            self.sendall(data)
        except OSError as e:
            if e.args[0] == EAGAIN:
                return None
            raise
        return len(data)

    def makefile(self, mode="rb", buffering=0):
        return self

    def __repr__(self):
        """modlwip's lwip_socket_print: state number, timeout in ms as a 32-bit unsigned,
        the pending pbuf (none here) and receive offset; a datagram socket shows its queue."""
        state = _LWIP_STATE.get(self._state, _LWIP_STATE["connected"])
        timeout = self._timeout & 0xFFFFFFFF
        if self._type == SOCK_DGRAM:
            return "<socket state=%d timeout=%d incoming=0>" % (state, timeout)
        return "<socket state=%d timeout=%d incoming=0 off=0>" % (state, timeout)

    def close(self):
        if self._token and self._state in ("connecting", "connected") and _w.available():
            _w.call("net.close", token=self._token)  # an orderly close: the peer gets a FIN
        if self._s is not None:
            self._s.close()
        self._s, self._state = None, "closed"

    def ioctl(self, req, arg):
        if req == _GET_FILENO and self._s is not None:
            return self._s.fileno()
        return -1

    # --- servers and datagrams reach the host directly (not through the world's path)
    def bind(self, address):
        host, port = address
        if self._s is None:
            self._s = _n.socket(_n.AF_INET, _n.SOCK_STREAM)
            self._s.setsockopt(_n.SOL_SOCKET, _n.SO_REUSEADDR, 1)
        self._s.bind(_host_addr("127.0.0.1", port))

    def listen(self, backlog=2):
        self._s.listen(backlog)
        self._state = "listening"

    def accept(self):
        p = _sel.poll()
        p.register(self._s, _sel.POLLIN)
        if self._timeout != 0 and not _w.wait(self._timeout, p):
            raise OSError(ETIMEDOUT)
        conn, addr = self._s.accept()
        conn.setblocking(False)
        s = socket()
        s._s, s._state = conn, "connected"
        return s, (_n.inet_ntop(_n.AF_INET, addr[4:8]), (addr[2] << 8) | addr[3])

    def sendto(self, data, address):
        ip, port = _parse_ip(address)
        if _w.available() and _w.call("wifi.status") != 5:
            raise OSError(EHOSTUNREACH)
        return self._s.sendto(data, _host_addr(ip, port))

    def recvfrom(self, bufsize):
        """lwIP's UDP receive: EAGAIN at once without a timeout, ETIMEDOUT after one."""
        self._check()
        p = _sel.poll()
        p.register(self._s, _sel.POLLIN)
        if not p.poll(0):
            if self._timeout == 0:
                raise OSError(EAGAIN)
            if not _w.wait(self._timeout, p):
                raise OSError(ETIMEDOUT)
        data, addr = self._s.recvfrom(bufsize)
        return data, (_n.inet_ntop(_n.AF_INET, addr[4:8]), (addr[2] << 8) | addr[3])


Socket = socket


def reset():
    pass


def callback(*args):
    pass


def print_pcbs():
    pass


def _alias():
    import sys
    from _vbnative import alias
    alias('socket', sys.modules[__name__])


_alias()
