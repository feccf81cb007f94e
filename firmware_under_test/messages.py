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


def telemetry(uptime_s, heap_free, rssi, reconnects, version, dropped=0):
    return json.dumps({'uptime_s': uptime_s, 'heap_free': heap_free, 'rssi': rssi,
                       'reconnects': reconnects, 'version': version, 'dropped': dropped})


def error_event(reason, topic, payload):
    # The offending payload is echoed (at most 64 bytes) so the sender sees what was refused.
    payload = bytes(payload[:64])
    try:
        text = payload.decode('utf-8')
    except UnicodeError:
        text = repr(payload)
    return json.dumps({'error': reason, 'topic': topic, 'payload': text})
