# MicroPython side: first-boot filesystem creation, as ports/esp8266/modules/inisetup.py.
import vfs
from flashbdev import bdev

BOOT_PY = """\
# This file is executed on every boot (including wake-boot from deepsleep)
#import esp
#esp.osdebug(None)
import os, machine
#os.dupterm(None, 1) # disable REPL on UART(0)
import gc
#import webrepl
#webrepl.start()
gc.collect()
"""
CORRUPT_PERIOD_S = 3
AP_KEY = b"micropythoN"


def wifi():
    try:
        import network
        import binascii
    except ImportError:
        return
    ap_if = network.WLAN(network.AP_IF)
    ssid = b"MicroPython-%s" % binascii.hexlify(ap_if.config("mac")[-3:])
    ap_if.config(ssid=ssid, security=network.AUTH_WPA_WPA2_PSK, key=AP_KEY)


def check_bootsec():
    buf = bytearray(bdev.SEC_SIZE)
    bdev.readblocks(0, buf)
    for b in buf:
        if b != 0xFF:
            fs_corrupted()
    return True


def fs_corrupted():
    import time
    import micropython

    micropython.kbd_intr(3)
    while 1:
        print(
            """\
The filesystem starting at sector %d with size %d sectors looks corrupt.
You may want to make a flash snapshot and try to recover it. Otherwise,
format it with vfs.VfsLfs2.mkfs(bdev), or completely erase the flash and
reprogram MicroPython.
"""
            % (bdev.start_sec, bdev.blocks)
        )
        time.sleep(CORRUPT_PERIOD_S)


def setup():
    check_bootsec()
    print("Performing initial setup")
    try:
        wifi()
    except Exception:
        pass
    vfs.VfsLfs2.mkfs(bdev)
    fs = vfs.VfsLfs2(bdev)
    vfs.mount(fs, "/")
    with open("boot.py", "w") as f:
        f.write(BOOT_PY)
    return vfs
