# Start-up: wait for the Wi-Fi join that boot.py began (with a deadline), report the
# outcome, then run the MQTT service, which keeps retrying a failed join. CTRL-C stops it
# and leaves the REPL usable.
import gc
import json
import time

VERSION = '0.1.0'
CONFIG = 'config.json'
STATUS_NAMES = {0: 'idle', 1: 'connecting', 2: 'wrong password', 3: 'no AP found',
                4: 'connect failed', 5: 'got IP'}
WRONG_PASSWORD, NO_AP_FOUND, CONNECT_FAIL = 2, 3, 4


def load_config(path=CONFIG):
    with open(path) as f:
        return json.load(f)


def wait_wifi(sta, timeout_ms, poll_ms=100):
    # True once connected; False at the deadline or as soon as the join has definitely failed.
    start = time.ticks_ms()
    while not sta.isconnected():
        if sta.status() in (WRONG_PASSWORD, NO_AP_FOUND, CONNECT_FAIL):
            return False
        if time.ticks_diff(time.ticks_ms(), start) >= timeout_ms:
            return False
        time.sleep_ms(poll_ms)
    return True


def client_id():
    import machine
    import ubinascii
    return ubinascii.hexlify(machine.unique_id()).decode()


def make_watchdog(cfg):
    # machine.WDT cannot be stopped on most ports: started only once the service runs.
    if not cfg.get('watchdog', True):
        return None, lambda: None
    try:
        from machine import WDT
        wdt = WDT()
    except (ImportError, AttributeError):
        print('main: no watchdog on this board')
        return None, lambda: None
    return wdt, wdt.feed


def main():
    import network
    try:
        cfg = load_config()
    except (OSError, ValueError) as exc:
        print('main: no usable %s (%r); REPL available' % (CONFIG, exc))
        return
    sta = network.WLAN(network.STA_IF)
    timeout_s = cfg.get('wifi_timeout_s', 20)
    print('main: waiting for wifi %s (deadline %d s)' % (cfg['wifi_ssid'], timeout_s))
    try:
        joined = wait_wifi(sta, timeout_s * 1000)
    except KeyboardInterrupt:
        print('main: stopped; REPL available')
        return
    if joined:
        print('main: wifi up, ip %s' % sta.ifconfig()[0])
    else:
        status = sta.status()
        print('main: wifi failed: %s (status %s); retrying, CTRL-C for the REPL'
              % (STATUS_NAMES.get(status, '?'), status))
    run_service(cfg, sta)


def client_factory(cfg, cid):
    # make_client(keepalive, socket_timeout) for Service; mqttlink sends the (str) user
    # and password as UTF-8 bytes, so a non-ASCII password is sized right in CONNECT.
    from mqttlink import Link

    def make_client(keepalive, socket_timeout):
        return Link(cid, cfg['broker_host'], cfg.get('broker_port', 1883),
                    user=cfg.get('broker_user') or None,
                    password=cfg.get('broker_password') or None,
                    keepalive=keepalive, socket_timeout=socket_timeout)
    return make_client


def run_service(cfg, sta):
    from machine import Pin
    from service import Service
    cid = client_id()
    make_client = client_factory(cfg, cid)
    wdt, feed = make_watchdog(cfg)
    svc = Service(cfg, cid, make_client, lambda n: Pin(n, Pin.OUT), sta, feed, VERSION)
    gc.collect()
    print('main: free heap after start: %d' % gc.mem_free())
    try:
        svc.run()
    except KeyboardInterrupt:
        print('main: stopped; REPL available')
        if svc.client is not None:
            try:
                svc.client.publish(svc.topics.status, b'offline', retain=True, qos=0)
                svc.client.disconnect()
            except Exception:
                pass
        if wdt is not None and hasattr(wdt, 'deinit'):
            wdt.deinit()
