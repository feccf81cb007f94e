# The MQTT session: connect with a last will, serve GPIO commands, publish telemetry,
# detect a silent broker by keepalive, reconnect with backoff, resend unacked QoS 1.
# Fairness: each loop turn first sends the telemetry that is due, then reads at most
# TURN_PACKETS incoming packets, answering each command at once; a flood of commands
# therefore neither starves telemetry nor lets replies pile up in RAM.
import gc
import time

import messages
from backoff import Backoff
from gpiocmd import CommandError, Gpio
from outbox import Outbox

LOOP_MS = 50          # poll period of the main loop when idle
TURN_PACKETS = 8      # incoming packets read per loop turn
WINDOW = 2            # QoS 1 messages in flight at once
SOCKET_TIMEOUT_S = 2  # below the ESP8266 watchdog's fixed 5 s
DELIVERED, TIMED_OUT = 1, 0  # umqtt.simple2 status callback values
# network.STAT_*: the join failed for good; the SDK will not try again by itself.
JOIN_FAILED = (2, 3, 4)  # WRONG_PASSWORD, NO_AP_FOUND, CONNECT_FAIL
IDLE = 0


class LinkLost(Exception):
    pass


class Service:

    def __init__(self, cfg, client_id, make_client, make_pin, sta, feed, version):
        self.cfg = cfg
        self.topics = messages.Topics(cfg.get('topic_prefix', 'hil'), client_id)
        self.keepalive = cfg.get('keepalive_s', 30)
        self.tele_ms = cfg.get('telemetry_s', 10) * 1000
        self.gpio = Gpio(cfg.get('gpio_allow', ()), make_pin)
        self.outbox = Outbox(cfg.get('outbox_limit', 8))
        self.backoff = Backoff(cfg.get('backoff_base_ms', 1000), cfg.get('backoff_cap_ms', 30000))
        self.make_client = make_client
        self.sta = sta
        self.feed = feed
        self.version = version
        self.client = None
        self.replies = []     # (topic, payload, retain): at most one packet's worth
        self.seen = 0         # callbacks so far: tells a packet read from an empty poll
        self.stale = None     # pid whose PUBACK never came: the session is broken
        self.seq = 0
        self.reconnects = -1  # the first connect is not a reconnect
        self.up_ms = 0
        self.wifi_backoff = Backoff(cfg.get('backoff_base_ms', 1000), cfg.get('backoff_cap_ms', 30000))
        self.rejoin_at = None

    # -- session -------------------------------------------------------------------------

    def connect(self):
        c = self.make_client(self.keepalive, SOCKET_TIMEOUT_S)
        self.stale = None
        c.set_callback(self.on_message)
        c.set_callback_status(self.on_status)
        c.set_last_will(self.topics.status, messages.STATUS_OFFLINE, retain=True, qos=1)
        c.connect()
        self.client = c
        self.reconnects += 1
        self.outbox.requeue()
        c.publish(self.topics.status, messages.STATUS_ONLINE, retain=True, qos=1)
        c.subscribe(self.topics.gpio_set, qos=1)
        self.last_ping = time.ticks_ms()
        print('mqtt: connected as %s (reconnects %d)' % (self.topics.base[:-1], self.reconnects))

    def drop(self, why):
        print('mqtt: link lost (%s)' % why)
        if self.client:
            try:
                self.client.sock.close()
            except Exception:
                pass
        self.client = None
        self.outbox.requeue()

    def on_message(self, topic, msg, retained, dup):
        # Raising here would skip the PUBACK and kill the session: every command is
        # answered, by its new state or by an error event.
        self.seen += 1
        try:
            big = getattr(self.client, 'big', 0)
            if big:  # only its head was read (mqttlink)
                return self.refuse('too large', topic, msg, big)
            try:
                name = topic.decode()
            except UnicodeError:
                return self.refuse('bad topic', topic, msg)
            pin = self.topics.gpio_pin(name)
            if pin is None:
                return
            pin, value = self.gpio.handle(pin, msg)
        except CommandError as exc:
            return self.refuse(exc.args[0], topic, msg)
        except MemoryError:
            gc.collect()
            return self.refuse('out of memory', topic, b'')
        self.replies.append((self.topics.gpio_state(pin), str(value), True))

    def refuse(self, reason, topic, msg, size=None):
        self.replies.append((self.topics.error, messages.error_event(reason, topic, msg, size), False))

    def on_status(self, pid, status):
        self.seen += 1
        if status == DELIVERED:
            self.outbox.acked(pid)
        elif status == TIMED_OUT:
            # No resend on a live link (that only makes duplicates): reconnect, and the
            # outbox resends everything unacknowledged.
            self.stale = pid

    # -- one pass of the loop ------------------------------------------------------------

    def service(self, now):
        # True when packets came in this turn: more are likely, the loop hardly sleeps.
        c = self.client
        self.flush_outbox(c)
        busy = False
        for _ in range(TURN_PACKETS):
            seen = self.seen
            if c.check_msg() is None and self.seen == seen:
                break  # nothing came (or a PINGRESP)
            busy = True
            while self.replies:
                topic, payload, retain = self.replies.pop(0)
                c.publish(topic, payload, retain=retain, qos=0)
        self.flush_outbox(c)  # PUBACKs just read may have opened the window
        if self.stale is not None:
            raise LinkLost('no PUBACK for pid %d' % self.stale)
        if self.keepalive:
            if time.ticks_diff(now, self.last_ping) >= self.keepalive * 500:
                c.ping()
                self.last_ping = now
            if time.ticks_diff(now, c.last_cpacket) > self.keepalive * 1000:
                raise LinkLost('broker silent for %d s' % self.keepalive)
        return busy

    def flush_outbox(self, c):
        item = self.outbox.next()
        while item is not None and len(self.outbox.inflight) < WINDOW:
            self.outbox.sent(c.publish(item[0], item[1], qos=1))
            item = self.outbox.next()

    def rejoin_wifi(self, now):
        # A failed join (wrong password, no AP) is retried with backoff until it works.
        status = self.sta.status()
        if status not in JOIN_FAILED and status != IDLE:
            return
        if self.rejoin_at is not None and time.ticks_diff(now, self.rejoin_at) < 0:
            return
        delay = self.wifi_backoff.next_ms()
        self.rejoin_at = time.ticks_add(now, delay)
        print('wifi: join failed (status %d); trying again, next in %d ms' % (status, delay))
        try:
            self.sta.connect(self.cfg['wifi_ssid'], self.cfg.get('wifi_password', ''))
        except OSError as exc:
            print('wifi: connect refused: %r' % (exc,))

    def telemetry(self):
        rssi = None
        try:
            rssi = self.sta.status('rssi')
        except Exception:
            pass
        gc.collect()
        self.seq += 1
        msg = messages.telemetry(self.up_ms // 1000, gc.mem_free(), rssi, max(self.reconnects, 0),
                                 self.version, self.outbox.dropped, self.seq)
        self.outbox.add(self.topics.telemetry, msg)

    def run(self, stop=None):
        last = time.ticks_ms()
        next_tele = last
        retry_at = last
        while stop is None or not stop(self):
            self.feed()
            now = time.ticks_ms()
            self.up_ms += time.ticks_diff(now, last)
            last = now
            if time.ticks_diff(now, next_tele) >= 0:
                self.telemetry()
                next_tele = time.ticks_add(now, self.tele_ms)
            if self.client is None and time.ticks_diff(now, retry_at) >= 0:
                # Without Wi-Fi, every turn looks again (rejoin_wifi keeps its own backoff),
                # so the session comes back as soon as the join completes.
                if not self.sta.isconnected():
                    self.rejoin_wifi(now)
                else:
                    self.wifi_backoff.reset()
                    self.rejoin_at = None
                    try:
                        self.connect()
                        self.backoff.reset()
                    except Exception as exc:  # OSError, MQTTException: refused, DNS, timeout
                        self.drop('connect failed: %r' % (exc,))
                        delay = self.backoff.next_ms()
                        print('mqtt: retry in %d ms' % delay)
                        retry_at = time.ticks_add(now, delay)
            busy = False
            if self.client is not None:
                try:
                    if not self.sta.isconnected():
                        raise LinkLost('wifi down')
                    busy = self.service(now)
                except Exception as exc:
                    self.drop(repr(exc))
                    retry_at = time.ticks_add(now, self.backoff.next_ms())
            time.sleep_ms(1 if busy else LOOP_MS)
