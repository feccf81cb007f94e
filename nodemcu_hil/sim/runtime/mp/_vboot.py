# MicroPython side: what ports/esp8266/main.c mp_reset() and the frozen _boot.py do,
# run at the start of every run_main() (power-on, hard reset and soft reset alike).
# Called from the generated boot file as _vboot.run(); argv[1] says the REPL mode.
import sys
import gc
import micropython
import os

import _vboard
import _vsys
import _vgc

ESP_PATH = ["", ".frozen", "/lib", "/"]
REPL_RAW = "raw"
BALLAST_SLOTS = 4096
BALLAST_FIRST = 65536
BALLAST_SMALLEST = 16
_ballast = []


HOST_DOORS = ("_vbnative",)  # the unix port's own modules (its vfs has VfsPosix)


def _preimport():
    """Load the ESP8266 modules while the host directories are still mounted, then drop
    the module through which they reach the unix port's own (nothing imports it later).
    On the chip they are built in: no __file__ (a module's repr shows it, a host path)."""
    for name in _vboard.PREIMPORT:
        try:
            module = __import__(name)
        except ImportError as e:
            print("vboard: cannot import %s: %r" % (name, e))
            continue
        try:
            del module.__file__
        except AttributeError:
            pass
    for name in HOST_DOORS:
        sys.modules.pop(name, None)


def _mount():
    import vfs  # the ESP8266's (esp8266/_vbvfs.py), installed by the pre-import
    from flashbdev import bdev

    vfs.umount("/")
    if bdev is None:
        return
    try:
        vfs.mount(bdev, "/")
    except Exception:
        import inisetup

        inisetup.setup()


def _fit_heap():
    """Leave one contiguous free area of the ESP8266's size; fill every other hole.

    A block of the target size is set aside first (it lands in the big free tail of the
    heap), every other free gap is filled with ballast, then the reserve is released.
    """
    gc.collect()
    target = _vboard.HEAP_FREE_TARGET
    if gc.mem_free() <= target:
        return
    slots = [None] * BALLAST_SLOTS
    try:
        reserve = bytearray(target)
    except MemoryError:
        reserve = None
    size = BALLAST_FIRST
    i = 0
    while size >= BALLAST_SMALLEST and i < BALLAST_SLOTS:
        try:
            slots[i] = bytearray(size)
            i += 1
        except MemoryError:
            size //= 2
    _ballast.append(slots)
    del reserve  # released last, so the free area it held stays in one piece
    gc.collect()
    gc.threshold(_vboard.HEAP_TOTAL * _vboard.HEAP_SCALE // 4)  # _boot.py: a quarter of the heap


def _exec_file(name, main):
    """pyexec_file_if_exists(): False only when the file raised (SystemExit counts as ok).
    CTRL-C is armed only while the file runs."""
    try:
        os.stat(name)
    except OSError:
        return True
    try:
        micropython.kbd_intr(3)
        try:
            execfile(name, main.__dict__)
        finally:
            micropython.kbd_intr(-1)
    except SystemExit:
        pass
    except BaseException as e:
        return _failed(e)
    main.__dict__["__file__"] = name
    return True


def _failed(e):
    micropython.kbd_intr(-1)
    sys.print_exception(e)
    return False


def _run_files(main, raw):
    """boot.py, then main.py in the friendly REPL if boot.py did not fail. A CTRL-C can
    land after a file ended and before CTRL-C is disarmed; the port's pyexec raises it
    as the file's own exception and clears the rest, so it never reaches the boot
    (here it escaped the boot entry, the boot stopped half done)."""
    name = "boot.py"
    while name:
        current, name = name, None
        try:
            if _exec_file(current, main) and current == "boot.py" and not raw:
                name = "main.py"
        except KeyboardInterrupt as e:
            try:
                _failed(e)
            except KeyboardInterrupt:
                pass


HEAP_LOCK_WRAP = 16384  # heap_unlock() at depth 0 reports the wrapped counter (32767)
_main = []  # __main__, held from boot: the exit function must not import


def _heap_locked():
    """Whether an allocation fails. Asked without touching the lock: heap_unlock() at
    depth 0 wraps the counter, and a CTRL-C between it and the heap_lock() undoing it
    left the heap locked for every later boot (MemoryError, then FATAL at the REPL)."""
    try:
        bytearray(1)
        return False
    except MemoryError:
        return True


def _unlock_heap():
    """A program may leave the heap locked (asyncio, heap_lock()); soft reset unlocks it."""
    for _ in range(64):
        if not _heap_locked():
            return
        depth = micropython.heap_unlock()
        if depth < 0 or depth >= HEAP_LOCK_WRAP:  # it was full, not locked: undo the wrap
            micropython.heap_lock()
            return


def _soft_reset():
    """ESP8266 soft_reset() runs every finaliser (gc_sweep_all): unclosed files are
    flushed and sockets closed. Here: drop every reference a program could hold, collect.
    Runs as the port's exit function, outside any exception handler: whatever the program
    left behind (a replaced __import__, a locked heap), it must not raise. The next
    run_main re-initialises heap and module table, as the port's soft reset does."""
    try:
        _unlock_heap()
    except BaseException:
        pass
    try:
        for main in _main:
            main.__dict__.clear()
        sys.modules.clear()
        _ballast.clear()
        gc.collect()
        gc.collect()
    except BaseException:
        pass


def run():
    micropython.kbd_intr(-1)  # _boot.py cannot be interrupted
    raw = len(sys.argv) > 1 and sys.argv[1] == REPL_RAW
    import __main__ as main

    _main[:] = [main]
    sys.atexit(_soft_reset)
    _vsys.install()
    _vgc.install()
    _preimport()
    sys.argv[:] = []
    try:
        _mount()
    except KeyboardInterrupt as e:
        sys.print_exception(e)
    os.chdir("/")
    sys.path[:] = ESP_PATH
    _fit_heap()
    main.__dict__.pop("__file__", None)
    _run_files(main, raw)
    if not raw:
        print()  # init_done's CRLF; the REPL banner follows
