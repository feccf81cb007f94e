"""Issue 13 on the runtime alone: the port's streams (items 3) and a soft reset that
gives a fresh interpreter whatever the program left behind (item 2)."""

from __future__ import annotations

import os

import pytest

from nodemcu_hil.sim.runtime.console import boot_runtime

pytest.importorskip("micropython_run")

PROMPT = b">>> "
FRIENDLY = b'Type "help()" for more information.\r\n>>> '
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"


@pytest.fixture
def repl(tmp_path):
    runtime, console = boot_runtime(tmp_path)
    console.expect(FRIENDLY)
    yield runtime, console
    runtime.stop()


def raw_exec(runtime, console, source: bytes, timeout: float = 10) -> tuple[bytes, bytes]:
    """mpremote's exec: raw REPL, source, CTRL-D; returns (stdout, stderr)."""
    runtime.receive(b"\r\x03\x03\x01")
    console.expect(RAW_PROMPT)
    runtime.receive(source + b"\x04")
    console.expect(b"OK")
    out = console.expect(b"\x04", timeout)[:-1]
    err = console.expect(b"\x04>", timeout)[:-2]
    return out, err


def test_stdout_write_takes_the_optional_length(repl):
    runtime, console = repl
    out, err = raw_exec(runtime, console,
                        b"import sys\nsys.stdout.write('abcdef', 3)\nsys.stdout.buffer.write(b'XYZW', 2)\n"
                        b"sys.stdout.buffer.write(b'0123456', 2, 3)\n"
                        b"print(sys.stdout.write('hi'), sys.stdout.buffer.write(b'123', 1))")
    assert err == b""
    assert out == b"abcXY234hi12 1\r\n"


def test_stdin_and_stdout_are_the_port_types(repl):
    runtime, console = repl
    out, err = raw_exec(runtime, console,
                        b"import sys\nprint(type(sys.stdout).__name__, type(sys.stdin).__name__,"
                        b" type(sys.stdout) is type(sys.stdin) is type(sys.stderr),"
                        b" type(sys.stdout.buffer).__name__, type(sys.stdin.buffer).__name__)\n"
                        b"print(sys.stdout, sys.stderr, file=sys.stdout)\n"
                        b"try:\n    1/0\nexcept Exception as e:\n    sys.print_exception(e, sys.stdout)\n")
    assert err == b""
    assert out == (b"TextIOWrapper TextIOWrapper True FileIO FileIO\r\n"
                   b"<io.TextIOWrapper 1> <io.TextIOWrapper 2>\r\n"
                   b"Traceback (most recent call last):\r\n  File \"<stdin>\", line 5, in <module>\r\n"
                   b"ZeroDivisionError: divide by zero\r\n")


def test_raw_repl_source_with_crlf_runs(repl):
    """The port's lexer takes CR LF as one newline (py/lexer.c); the unix port's reader
    turns LF into CR, which made it two (was: 'a\\n\\nb' 4)."""
    runtime, console = repl
    out, err = raw_exec(runtime, console, b"x = 1\r\nif x:\r\n    s = '''a\r\nb'''\r\n"
                                          b"    print(repr(s), len(s))\r\n")
    assert (out, err) == (b"'a\\nb' 3\r\n", b"")


def test_soft_reset_after_a_replaced_import_gives_a_fresh_interpreter(repl):
    runtime, console = repl
    raw_exec(runtime, console, b"import builtins\n"
                               b"def imp(*a):\n    raise ImportError('nope')\n"
                               b"builtins.__import__ = imp")
    runtime.receive(b"\x04")  # soft reset from the raw REPL, as mpremote's soft-reset
    console.expect(b"soft reboot\r\n")
    console.expect(RAW_PROMPT)
    out, err = raw_exec(runtime, console, b"import os\nprint('fresh', os.getcwd())")
    assert (out, err) == (b"fresh /\r\n", b"")
    assert b"FATAL" not in console.text


def test_soft_reset_with_the_heap_left_locked(repl):
    runtime, console = repl
    raw_exec(runtime, console, b"import micropython\nmicropython.heap_lock()\nmicropython.heap_lock()")
    runtime.receive(b"\x04")
    console.expect(b"soft reboot\r\n")
    console.expect(RAW_PROMPT)  # as mpremote's soft reset waits for it before sending more
    out, err = raw_exec(runtime, console, b"print('fresh', [1] * 3)")
    assert (out, err) == (b"fresh [1, 1, 1]\r\n", b"")
    assert b"FATAL" not in console.text


def test_sys_behaves_as_the_ports_builtin_module(repl):
    """Item 5: py/modsys.c's fixed table as the ESP8266 build has it (v1.28.0, ROM level
    EXTRA_FEATURES: no tracebacklimit); only `path` may be stored."""
    runtime, console = repl
    out, err = raw_exec(runtime, console, b"""import sys
def attempt(stmt):
    try:
        exec(stmt)
        return 'ok'
    except Exception as e:
        return type(e).__name__
print(attempt('from sys import missing'), attempt('from sys import stdout, path'))
print(attempt('sys.foo = 1'), attempt('sys.stdout = None'), attempt('sys.tracebacklimit = 0'),
      attempt('sys.tracebacklimit'), attempt('del sys.argv'))
old = sys.path
sys.path = ['/lib', '']
print(sys.path, attempt('sys.path = old'), sys.path is old)
print(sys.__dict__['__name__'], 'path' in sys.__dict__, 'atexit' in sys.__dict__, repr(sys))
""")
    assert err == b""
    assert out == (b"ImportError ok\r\n"
                   b"AttributeError AttributeError AttributeError AttributeError AttributeError\r\n"
                   b"['/lib', ''] ok True\r\n"
                   b"sys False False <module 'sys'>\r\n")


def test_file_times_count_from_2000_as_the_ports(repl):
    """Item 7: os.stat times on the flash filesystem are seconds since 2000-01-01, the
    same clock as time.time() (was: the unix port's 1970 epoch, 30 years ahead); the
    filesystem object's own stat too (upstream extmod/vfs_lfs_mtime.py)."""
    runtime, console = repl
    out, err = raw_exec(runtime, console, b"""import os, time
with open('stamp.txt', 'w') as f:
    f.write('x')
st = os.stat('stamp.txt')
now = time.time()
print(abs(st[8] - now) <= 3, st[7] == st[8] == st[9], time.localtime(st[8])[0] == time.localtime()[0])
print(os.stat('/stamp.txt')[8] == st[8])
import vfs
fs = vfs.mount()[0][0]
print(fs.stat('stamp.txt')[8] == st[8], type(fs).__name__, isinstance(fs, vfs.VfsLfs2))
""")
    assert (out, err) == (b"True True True\r\nTrue\r\nTrue VfsLfs2 True\r\n", b"")


def test_socket_repr_is_lwips(repl):
    """Item 6: modlwip's lwip_socket_print (was <socket object at ...>)."""
    runtime, console = repl
    out, err = raw_exec(runtime, console, b"""import socket
s = socket.socket()
print(s)
s.settimeout(2)
print(s)
s.close()
print(s)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
print(u)
u.close()
""")
    assert err == b""
    assert out == (b"<socket state=0 timeout=4294967295 incoming=0 off=0>\r\n"
                   b"<socket state=0 timeout=2000 incoming=0 off=0>\r\n"
                   b"<socket state=-16 timeout=2000 incoming=0 off=0>\r\n"
                   b"<socket state=4 timeout=4294967295 incoming=0>\r\n")


def test_the_hosts_filesystem_is_out_of_reach(repl):
    """Item 7: an ESP8266 build has no VfsPosix (ESP8266_GENERIC: VFS_FAT and VFS_LFS2);
    the unix port's vfs and os had it, a way to mount the host's whole filesystem."""
    runtime, console = repl
    out, err = raw_exec(runtime, console, b"""import os, vfs
print(hasattr(os, 'VfsPosix'), hasattr(vfs, 'VfsPosix'), repr(vfs))
print(sorted(k for k in dir(vfs) if not k.startswith('_')))
print([type(fs).__name__ for fs, point in vfs.mount()], os.listdir('/'))
for name in ('_vbnative', 'uos'):
    try:
        m = __import__(name)
        print(name, hasattr(m, 'VfsPosix'))
    except ImportError:
        print(name, 'ImportError')
try:
    open('/etc/passwd')
except OSError as e:
    print(e.errno)
""")
    assert err == b""
    assert out == (b"False False <module 'vfs'>\r\n"
                   b"['VfsFat', 'VfsLfs2', 'mount', 'umount']\r\n"
                   b"['VfsLfs2'] ['boot.py']\r\n"
                   b"_vbnative ImportError\r\nuos False\r\n2\r\n")


def test_soft_reset_closes_what_the_program_left_open(repl):
    """The port's soft reset finalises every socket (gc_sweep_all); the unix port runs
    no finaliser when run_main ends, so a bound port stayed taken after a soft reset
    (upstream extmod/select_ipoll.py then skipped on EADDRINUSE) and every boot leaked
    its descriptors."""
    import socket as host_socket

    runtime, console = repl
    with host_socket.socket(host_socket.AF_INET, host_socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bind = b"import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n" \
           b"s.bind(socket.getaddrinfo('127.0.0.1', %d)[0][-1])\nprint('bound')" % port
    assert raw_exec(runtime, console, bind) == (b"bound\r\n", b"")
    fds = len(os.listdir("/proc/%d/fd" % runtime.pid))
    for _ in range(3):
        runtime.receive(b"\x04")
        console.expect(b"soft reboot\r\n")
        console.expect(RAW_PROMPT)
        assert raw_exec(runtime, console, bind) == (b"bound\r\n", b"")
    assert len(os.listdir("/proc/%d/fd" % runtime.pid)) <= fds
