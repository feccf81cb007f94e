# MicroPython side: the ESP8266's `select` (extmod/modselect.c: poll and select) for the
# virtual board's sockets. A socket still connecting through the world's relay is not
# writable until the relay says the peer answered; pin IRQs run while poll waits.
from _vbnative import select as _n, time as _t
import _vbworld as _w

POLLIN = 1
POLLOUT = 4
POLLERR = 8
POLLHUP = 16
POLLNVAL = 32
FLAG_ONESHOT = 1
_NOTHING = ()


def _host(obj):
    return getattr(obj, "_s", obj)


class poll:
    def __init__(self):
        self._reg = {}  # id(obj) -> [obj, mask]

    def register(self, obj, eventmask=POLLIN | POLLOUT):
        self._reg[id(obj)] = [obj, eventmask]

    def modify(self, obj, eventmask):
        if id(obj) not in self._reg:
            raise OSError(2)  # ENOENT, as modselect
        self._reg[id(obj)][1] = eventmask

    def unregister(self, obj):
        self._reg.pop(id(obj), None)

    def _now_ready(self):
        out = []
        for obj, mask in self._reg.values():
            if not hasattr(obj, "_settle"):
                continue
            obj._settle()
            if obj._state == "closed":
                out.append((obj, POLLNVAL))
            elif obj._state == "new":
                out.append((obj, POLLHUP))  # lwIP: a socket that is not connected is HUP
            elif obj._state == "failed":
                out.append((obj, POLLERR | POLLHUP))
            elif obj._errno:
                out.append((obj, obj._poll_error(mask)))
        return out

    def poll(self, timeout=-1):
        deadline = None if timeout is None or timeout < 0 else _t.ticks_add(_t.ticks_ms(), timeout)
        while True:
            ready = self._now_ready()
            if ready:
                return ready
            native = _n.poll()
            back = {}
            for obj, mask in self._reg.values():
                h = _host(obj)
                if h is None:
                    continue
                connecting = getattr(obj, "_state", "") == "connecting"
                native.register(h, POLLIN if connecting else mask)
                back[id(h)] = (obj, mask, connecting)
            left = -1 if deadline is None else max(0, _t.ticks_diff(deadline, _t.ticks_ms()))
            hits = _w.wait(left, native)
            out = []
            for h, ev in hits:
                obj, mask, connecting = back[id(h)]
                if connecting:
                    obj._settle()
                    if obj._state == "connected" and mask & POLLOUT:
                        out.append((obj, POLLOUT))
                    elif obj._state != "connecting" and obj._state != "connected":
                        out.append((obj, POLLERR | POLLHUP))
                elif ev & (POLLERR | POLLHUP) and hasattr(obj, "_poll_error"):
                    out.append((obj, obj._poll_error(mask)))
                else:
                    out.append((obj, ev))
            if out or (deadline is not None and _t.ticks_diff(deadline, _t.ticks_ms()) <= 0):
                return out

    def ipoll(self, timeout=-1, flags=0):
        """With the one-shot flag an object that reported events polls for none until
        registered or modified again (extmod/modselect.c FLAG_ONESHOT); POLLERR and
        POLLHUP still come, as for any mask. With nothing registered it only waits and
        allocates nothing, as the port's (asyncio sleeps with the heap locked)."""
        if not self._reg:
            _w.wait(-1 if timeout is None else timeout)
            return _NOTHING
        ready = self.poll(timeout)
        if flags & FLAG_ONESHOT:
            for obj, _ in ready:
                entry = self._reg.get(id(obj))
                if entry is not None:
                    entry[1] = 0
        return iter(ready)


def select(rlist, wlist, xlist, timeout=None):
    p = poll()
    for obj in rlist:
        p.register(obj, POLLIN)
    for obj in wlist:
        p._reg.setdefault(id(obj), [obj, 0])[1] |= POLLOUT
    for obj in xlist:
        p._reg.setdefault(id(obj), [obj, 0])[1] |= POLLERR
    ms = -1 if timeout is None else int(timeout * 1000)
    r, w, x = [], [], []
    for obj, ev in p.poll(ms):
        if ev & (POLLIN | POLLHUP) and obj in rlist:
            r.append(obj)
        if ev & POLLOUT and obj in wlist:
            w.append(obj)
        if ev & POLLERR and obj in xlist:
            x.append(obj)
    return r, w, x


def _alias():
    import sys
    from _vbnative import alias
    alias('select', sys.modules[__name__])


_alias()
