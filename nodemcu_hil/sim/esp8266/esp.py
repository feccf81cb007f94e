# MicroPython side: the ESP8266's `esp` module (ports/esp8266/modesp.c) over the board's
# flash file: flash_read/write/erase change the same bytes esptool reads back.
import uhashlib as _hash
import gc as _gc
import _vboard

SLEEP_NONE = 0
SLEEP_LIGHT = 1
SLEEP_MODEM = 2
LOG_NONE = 0
LOG_ERROR = 1
LOG_WARNING = 2
LOG_INFO = 3
LOG_DEBUG = 4
LOG_VERBOSE = 5
_SECTOR = 4096
_FW_SIZE_AT = 0x8FFC  # makeimg.py: u32 length of the image the MD5 covers
_FW_SIZE_MAX = 1024 * 1024
_USER_START_2M = 0x100000  # boards/esp8266_2MiB.ld
_USER_START_1M = 0x98000  # boards/esp8266_1MiB.ld
_WINBOND = 0xEF
_MEMORY_TYPE = 0x40
_SIZE_CODES = {1 << 20: 0x14, 2 << 20: 0x15, 4 << 20: 0x16, 8 << 20: 0x17, 16 << 20: 0x18}
_state = {"osdebug": None, "sleep": SLEEP_NONE, "native": 0}


def _f():
    return _vboard.flash()


def osdebug(level):
    _state["osdebug"] = level


def sleep_type(t=None):
    if t is None:
        return _state["sleep"]
    _state["sleep"] = t


def deepsleep(time_us=0, *args):
    _vboard.request_reset("deepsleep")


def flash_id():
    code = _SIZE_CODES.get(_vboard.FLASH_SIZE, 0x16)
    return (code << 16) | (_MEMORY_TYPE << 8) | _WINBOND


def flash_size():
    return _vboard.FLASH_SIZE


def flash_user_start():
    """_firmware_size: where irom0 ends in the build's linker script (esp8266_*MiB.ld)."""
    if _vboard.FS_START:
        return _vboard.FS_START
    return _USER_START_2M if _vboard.FLASH_SIZE >= 2 * 1024 * 1024 else _USER_START_1M


def _check_range(offset, n):
    if offset < 0 or offset + n > _vboard.FLASH_SIZE:
        raise OSError(5)  # EIO: the SDK refuses addresses beyond the chip


def flash_read(offset, len_or_buf):
    n = len_or_buf if isinstance(len_or_buf, int) else len(len_or_buf)
    _check_range(offset, n)
    f = _f()
    f.seek(offset)
    data = f.read(n)
    if isinstance(len_or_buf, int):
        return data
    len_or_buf[:n] = data
    return None


def flash_write(offset, buf):
    if len(buf) & 3:
        raise ValueError("len must be multiple of 4")
    _check_range(offset, len(buf))
    f = _f()
    f.seek(offset)
    old = f.read(len(buf))
    f.seek(offset)
    f.write(bytes(a & b for a, b in zip(old, buf)))  # NOR flash only clears bits
    f.flush()


def flash_erase(sector):
    _check_range(sector * _SECTOR, _SECTOR)
    f = _f()
    f.seek(sector * _SECTOR)
    f.write(b"\xff" * _SECTOR)
    f.flush()


def check_fw():
    f = _f()
    f.seek(_FW_SIZE_AT)
    raw = f.read(4)
    size = raw[0] | raw[1] << 8 | raw[2] << 16 | raw[3] << 24
    print("size: %d" % size)
    if size > _FW_SIZE_MAX:
        print("Invalid size")
        return False
    md5 = _hash.md5()
    f.seek(4)
    left = size - 4
    while left > 0:
        chunk = f.read(min(left, 4096))
        if not chunk:
            break
        md5.update(chunk)
        left -= len(chunk)
    digest = md5.digest()
    print("md5: " + "".join("%02x" % b for b in digest))
    f.seek(size)
    return digest == f.read(16)


def freemem():
    return _gc.mem_free()


def meminfo():
    print("data  : 0x3ffe8000 ~ 0x3ffe8680, len: 1664")
    print("rodata: 0x3ffe8680 ~ 0x3ffe8a58, len: 984")
    print("bss   : 0x3ffe8a58 ~ 0x3fff95f8, len: 68512")
    print("heap  : 0x3fff95f8 ~ 0x3fffc000, len: 10760")


def malloc(size):
    return 0


def free(addr):
    pass


def esf_free_bufs(idx):
    return 4


def apa102_write(clock_pin, data_pin, buf):
    clock_pin.value(0)
    data_pin.value(0)


def set_native_code_location(start, length):
    if start is not None and start + (length or 0) > _FW_SIZE_MAX:
        raise ValueError("flash location must be below 1MByte")
    _state["native"] = start
