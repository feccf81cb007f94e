# MicroPython side: the ESP8266's `network` (ports/esp8266/network_wlan.c,
# modnetwork_globals.h). Association state lives in the world (nodemcu_hil/sim/
# world_wifi.py), which decides STAT_* outcomes from its access points.
from _vbnative import binascii as _hex
import _vboard
import _vbworld as _w

STA_IF = 0
AP_IF = 1
STAT_IDLE = 0
STAT_CONNECTING = 1
STAT_WRONG_PASSWORD = 2
STAT_NO_AP_FOUND = 3
STAT_CONNECT_FAIL = 4
STAT_GOT_IP = 5
MODE_11B = 1
MODE_11G = 2
MODE_11N = 3
AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4
_HOSTNAME_DEFAULT = "mpy-esp8266"
_state = {"hostname": _HOSTNAME_DEFAULT, "phy": MODE_11N, "country": "CN"}


def _mac(if_id):
    m = bytearray(_vboard.MAC)
    if if_id == AP_IF:
        m[0] |= 0x02  # the SDK's soft-AP MAC: the station MAC with the local bit set
    return bytes(m)


def _ap_essid():
    return "MicroPython-" + _hex.hexlify(_mac(AP_IF)[-3:]).decode()


def hostname(name=None):
    if name is None:
        return _state["hostname"]
    _state["hostname"] = name


def phy_mode(mode=None):
    if mode is None:
        return _state["phy"]
    _state["phy"] = mode


def country(code=None):
    if code is None:
        return _state["country"]
    _state["country"] = code


def ipconfig(*args, **kw):
    if args:
        if args[0] == "prefer":
            return 4
        raise ValueError("unexpected key")
    return None


def _error(ok, msg):
    if not ok:
        raise OSError(msg)


class WLAN:
    IF_STA = 0
    IF_AP = 1
    SEC_OPEN = 0
    SEC_WEP = 1
    SEC_WPA = 2
    SEC_WPA2 = 3
    SEC_WPA_WPA2 = 4
    PM_NONE = 0
    PM_PERFORMANCE = 2
    PM_POWERSAVE = 1
    _objs = {}

    def __new__(cls, if_id=STA_IF):
        if if_id not in (STA_IF, AP_IF):
            raise ValueError()
        obj = WLAN._objs.get(if_id)
        if obj is None:
            obj = object.__new__(cls)
            obj._if = if_id
            obj._ap = {"essid": _ap_essid(), "key": "micropythoN", "authmode": AUTH_WPA_WPA2_PSK,
                       "channel": 11, "hidden": False}
            obj._pm = WLAN.PM_NONE
            obj._txpower = 20
            WLAN._objs[if_id] = obj
        return obj

    def __init__(self, if_id=STA_IF):
        pass

    def _require(self, if_id):
        _error(self._if == if_id, "STA required" if if_id == STA_IF else "AP required")

    def active(self, on=None):
        if on is None:
            return bool(_w.call("wifi.active", **{"if": self._if}))
        _w.call("wifi.active", on=bool(on), **{"if": self._if})

    def connect(self, ssid=None, key=None, *, bssid=None):
        self._require(STA_IF)
        if bssid is not None and len(bssid) != 6:
            raise ValueError()
        _error(_w.call("wifi.connect", ssid=ssid, key=key), "Cannot connect to AP")

    def disconnect(self):
        self._require(STA_IF)
        _w.call("wifi.disconnect")

    def status(self, param=None):
        if param is None:
            if self._if == STA_IF:
                return _w.call("wifi.status")
            return -1
        if param == "rssi" and self._if == STA_IF:
            return _w.call("wifi.rssi")
        if param == "stations" and self._if == AP_IF:
            return []
        raise ValueError("unknown status param")

    def isconnected(self):
        if self._if == STA_IF:
            return _w.call("wifi.status") == STAT_GOT_IP
        return False  # no station ever joins the virtual board's AP

    def scan(self):
        self._require(STA_IF)
        _error(_w.call("wifi.active", **{"if": STA_IF}), "STA must be active")
        return [(a[0].encode(), _hex.unhexlify(a[1]), a[2], a[3], a[4], a[5])
                for a in _w.call("wifi.scan")]

    def ifconfig(self, config=None):
        if config is None:
            return tuple(_w.call("wifi.ifconfig", **{"if": self._if}))
        if len(config) != 4:
            raise ValueError()
        raise OSError("wifi_set_ip_info() failed")

    def ipconfig(self, *args, **kw):
        if args:
            cfg = self.ifconfig()
            key = args[0]
            if key == "dhcp4":
                return self._if == STA_IF
            if key == "addr4":
                return (cfg[0], cfg[1])
            if key == "gw4":
                return cfg[2]
            raise ValueError("unexpected key")
        if kw:
            raise OSError("wifi_set_ip_info() failed")
        raise TypeError("must query one param")

    def config(self, *args, **kw):
        if args and kw:
            raise TypeError("either pos or kw args are allowed")
        if kw:
            for key, value in kw.items():
                self._set(key, value)
            return None
        if len(args) != 1:
            raise TypeError("can query only one param")
        return self._get(args[0])

    def _get(self, key):
        if key == "mac":
            return _mac(self._if)
        if key in ("ssid", "essid"):
            return _w.call("wifi.config")["ssid"] if self._if == STA_IF else self._ap["essid"]
        if key == "hidden":
            self._require(AP_IF)
            return self._ap["hidden"]
        if key in ("security", "authmode"):
            self._require(AP_IF)
            return self._ap["authmode"]
        if key == "channel":
            return self._ap["channel"]
        if key in ("hostname", "dhcp_hostname"):
            return _state["hostname"]
        if key == "protocol":
            return _state["phy"]
        if key == "pm":
            return self._pm
        raise ValueError("unknown config param")

    def _set(self, key, value):
        if key == "mac":
            if len(value) != 6:
                raise ValueError("invalid buffer length")
        elif key in ("ssid", "essid"):
            self._require(AP_IF)
            self._ap["essid"] = str(value)
        elif key in ("key", "password"):
            self._require(AP_IF)
            self._ap["key"] = str(value)
        elif key in ("hidden", "security", "authmode", "channel"):
            self._require(AP_IF)
            self._ap[{"security": "authmode"}.get(key, key)] = value
        elif key in ("hostname", "dhcp_hostname"):
            _state["hostname"] = value
        elif key == "protocol":
            _state["phy"] = value
        elif key == "txpower":
            self._txpower = value
        elif key == "pm":
            self._pm = value
        else:
            raise ValueError("unknown config param")
