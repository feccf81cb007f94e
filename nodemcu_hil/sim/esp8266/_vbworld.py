# MicroPython side: the firmware's end of the world channel (see nodemcu_hil/sim/world.py).
# One loopback TCP connection per boot, JSON lines. Events pushed by the world (pin edges)
# and software timers are dispatched from wait(), which time.sleep*, machine.idle,
# select.poll and blocking socket calls go through: the firmware's soft IRQs run while
# it waits, as they do on the chip between bytecodes.
from _vbnative import socket as _socket, select as _select, time as _time
import ujson as _json
import _vboard


_sock = None
_buf = b""
_next_id = 0
_irq = {}  # pin -> callable(pin_level) installed by machine.Pin.irq
_timers = []  # objects with .due (ticks_ms), .fire()
_events = []


def _connect():
    global _sock
    if _sock is not None or _vboard.WORLD is None:
        return _sock
    host, port = _vboard.WORLD
    s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
    s.connect(_socket.getaddrinfo(host, port)[0][-1])
    _sock = s
    return s


def available():
    return _connect() is not None


def _send(msg):
    s = _connect()
    if s is None:
        return False
    data = _json.dumps(msg) + "\n"
    s.write(data)
    return True


def _read_line(timeout_ms):
    """One line from the channel, or None after timeout_ms (-1 = wait)."""
    global _buf
    while b"\n" not in _buf:
        if timeout_ms >= 0:
            p = _select.poll()
            p.register(_sock, _select.POLLIN)
            if not p.poll(timeout_ms):
                return None
        chunk = _sock.recv(4096)
        if not chunk:
            raise OSError("world channel closed")
        _buf += chunk
    line, _buf = _buf.split(b"\n", 1)
    return _json.loads(line)


def call(op, **args):
    """Request/reply; raises ValueError with the world's text on error."""
    global _next_id
    if _connect() is None:
        return None
    _next_id += 1
    args["op"] = op
    args["id"] = _next_id
    _send(args)
    while True:
        msg = _read_line(-1)
        if "ev" in msg:
            _events.append(msg)
            continue
        if msg.get("id") != _next_id:
            continue
        if "err" in msg:
            raise ValueError(msg["err"])
        return msg.get("ok")


def tell(op, **args):
    """Fire and forget (GPIO writes): ordering is kept by the stream."""
    args["op"] = op
    _send(args)


def add_timer(t):
    if t not in _timers:
        _timers.append(t)


def remove_timer(t):
    if t in _timers:
        _timers.remove(t)


def _protected(fn, arg):
    """Run a soft-IRQ handler as the scheduler does: an exception is printed, not raised."""
    try:
        fn(arg)
    except Exception as e:
        import sys
        print("Uncaught exception in IRQ callback handler")
        sys.print_exception(e)


def _dispatch():
    while _events:
        ev = _events.pop(0)
        handler = _irq.get(ev.get("pin"))
        if handler is not None:
            _protected(handler, ev.get("level"))
    now = _time.ticks_ms()
    for t in list(_timers):
        if _time.ticks_diff(now, t.due) >= 0:
            _protected(_fire, t)


def _fire(t):
    t.fire()


def _until_timer(ms):
    if not _timers:
        return ms
    now = _time.ticks_ms()
    soonest = min(max(0, _time.ticks_diff(t.due, now)) for t in _timers)
    return soonest if ms < 0 else min(ms, soonest)


def heap_locked():
    """micropython.heap_lock() in force (a hard IRQ, asyncio's allocation-free paths).
    Probed by allocating: the port has no heap_locked(), and unlocking to read the depth
    wraps the counter at 0 (a CTRL-C before the relock left the heap locked)."""
    try:
        bytearray(1)
        return False
    except MemoryError:
        return True


def _locked_sleep(ms):
    """A wait that allocates nothing: no IRQs or world traffic (they need the heap)."""
    while ms < 0:
        _time.sleep_ms(1000)
    _time.sleep_ms(ms)
    return ()


def wait(ms, extra=None):
    """Sleep up to ms (-1 = forever) while delivering IRQs and timers.

    `extra` is an optional native poll object: return its events as soon as it has any.
    """
    if heap_locked():
        return _locked_sleep(ms)
    deadline = _time.ticks_add(_time.ticks_ms(), ms) if ms >= 0 else None
    _dispatch()
    while True:
        left = -1 if deadline is None else max(0, _time.ticks_diff(deadline, _time.ticks_ms()))
        step = _until_timer(left)
        if _sock is None and extra is None:
            if step < 0:
                step = 1000
            _time.sleep_ms(step)
        else:
            p = extra if extra is not None else _select.poll()
            if _sock is not None:
                p.register(_sock, _select.POLLIN)
            try:
                ready = p.poll(step)
            finally:
                if _sock is not None:
                    p.unregister(_sock)
            world_ready = False
            hits = []
            for item in ready:
                if item[0] is _sock:
                    world_ready = True
                else:
                    hits.append(item)
            if world_ready:
                _pump()
            if hits:
                _dispatch()
                return hits
        _dispatch()
        if deadline is not None and _time.ticks_diff(deadline, _time.ticks_ms()) <= 0:
            return []


def _pump():
    global _buf
    chunk = _sock.recv(4096)
    if not chunk:
        return
    _buf += chunk
    while b"\n" in _buf:
        line, _buf = _buf.split(b"\n", 1)
        msg = _json.loads(line)
        if "ev" in msg:
            _events.append(msg)


def poll_events():
    """Non-blocking: take pushed events and run due handlers (cheap when idle)."""
    if _sock is not None:
        p = _select.poll()
        p.register(_sock, _select.POLLIN)
        if p.poll(0):
            _pump()
    _dispatch()


def _boot():
    """Say hello at every boot, soft resets included: the world then closes what the
    previous run left open, as gc_sweep_all() closes every lwIP socket on a soft reset."""
    try:
        if _connect() is not None:
            call("hello")
    except OSError as e:
        print("vboard: world endpoint %r unreachable: %r" % (_vboard.WORLD, e))


_boot()
