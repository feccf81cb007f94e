# Runs on every reset, including each tool's soft reset through the raw REPL (mpremote,
# ampy, pyboard.py): it only starts the Wi-Fi join and returns at once. main.py waits.
import sys

# /lib before .frozen: the ESP8266 build freezes a `umqtt` package that would otherwise
# hide /lib/umqtt/simple2.py.
if '/lib' in sys.path:
    sys.path.remove('/lib')
    sys.path.insert(1, '/lib')


def _start_wifi():
    try:
        import json
        import network
        with open('config.json') as f:
            cfg = json.load(f)
        network.WLAN(network.AP_IF).active(False)
        sta = network.WLAN(network.STA_IF)
        sta.active(True)
        if sta.isconnected():
            print('boot: wifi already up')
        else:
            print('boot: joining %s' % cfg['wifi_ssid'])
            sta.connect(cfg['wifi_ssid'], cfg['wifi_password'])
    except Exception as exc:  # an exception here would skip main.py: report and go on
        print('boot: wifi not started: %r' % (exc,))


_start_wifi()
del _start_wifi
import gc
gc.collect()
