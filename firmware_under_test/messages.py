# Topic names and JSON payloads the firmware publishes.
import json

STATUS_ONLINE = b'online'
STATUS_OFFLINE = b'offline'


class Topics:

    def __init__(self, prefix, client_id):
        self.base = '%s/%s/' % (prefix, client_id)
        self.status = self.base + 'status'
        self.telemetry = self.base + 'telemetry'
        self.error = self.base + 'error'
        self.gpio_set = self.base + 'gpio/+/set'

    def gpio_state(self, pin):
        return '%sgpio/%d/state' % (self.base, pin)

    def gpio_pin(self, topic):
        # 'p/id/gpio/<pin>/set' -> '<pin>', or None for a foreign topic.
        head = self.base + 'gpio/'
        if not topic.startswith(head) or not topic.endswith('/set'):
            return None
        return topic[len(head):-4]


def telemetry(uptime_s, heap_free, rssi, reconnects, version, dropped=0, seq=0):
    # seq counts telemetry messages since boot, so a receiver sees gaps and duplicates;
    # dropped counts those the outbox threw away (see outbox.py).
    return json.dumps({'uptime_s': uptime_s, 'heap_free': heap_free, 'rssi': rssi,
                       'reconnects': reconnects, 'version': version, 'dropped': dropped,
                       'seq': seq})


def text(raw, limit=64):
    # At most `limit` bytes of raw as a str for JSON: UTF-8 when it is (a character cut
    # at the limit is left out), else its repr, so the event is always valid JSON.
    if isinstance(raw, str):
        return raw[:limit]
    cuts = 4 if len(raw) > limit else 1  # a UTF-8 character is at most 4 bytes long
    raw = bytes(raw[:limit])
    for cut in range(cuts):
        try:
            return raw[:len(raw) - cut].decode('utf-8')
        except UnicodeError:
            pass
    return repr(raw)


def error_event(reason, topic, payload, size=None):
    # Topic and payload are echoed (64 bytes each) so the sender sees what was refused.
    event = {'error': reason, 'topic': text(topic), 'payload': text(payload)}
    if size is not None:
        event['size'] = size
    return json.dumps(event)
