"""Ending the virtual board's TCP endpoints (its RFC2217 face, control and world servers).

`shutdown` before `close` wakes a thread blocked in accept() or recv() on the socket; a
peer that has already gone makes it fail, which at that point is no error.
"""

from __future__ import annotations

import socket


def hang_up(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def close_listener(sock: socket.socket) -> None:
    hang_up(sock)
    sock.close()
