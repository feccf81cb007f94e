# MicroPython side: the unix port's own modules, captured before the ESP8266 modules
# take over their names (and their u-prefixed aliases) in sys.modules.
import utime as time
import usocket as socket
import uselect as select
import uos as os
import ubinascii as binascii
import vfs


def alias(name, module):
    """Make `import u<name>` give the ESP8266 module too, as on the chip."""
    import sys
    sys.modules["u" + name] = module
