# umqtt.simple2 as the firmware needs it, subclassed so the library stays as published:
# - every string goes out as UTF-8 bytes: the library sizes packets with len(), which
#   counts a str in characters but writes bytes, so a non-ASCII topic, payload or
#   password broke the packet and the session (issue 11, defect 6);
# - a PUBLISH longer than MAX_MSG is never held whole: of each field only HEAD bytes are
#   kept, the rest is read and thrown away in CHUNK-sized pieces; `big` holds its length
#   so the service refuses it with an error event. The library still sends the PUBACK,
#   so the session lives on and a retained one is not redelivered in a loop (defect 7);
# - each packet goes out in one socket write: the library writes a PUBLISH in four or
#   five pieces and a PUBACK in two, and with Nagle's algorithm on the board's side and
#   delayed ACKs on the broker's, every piece after the first could wait ~40 ms, so a
#   burst of commands was answered at a few dozen per second (issue 14).
from umqtt.simple2 import MQTTClient

MAX_MSG = 512  # a command is under 64 B; 512 B leaves room for odd but honest topics
HEAD = 64      # what an error event echoes
CHUNK = 128    # the largest allocation while discarding


def utf8(s):
    return s.encode() if isinstance(s, str) else s


class Link(MQTTClient):
    big = 0  # remaining length of the PUBLISH just read, when over MAX_MSG; else 0
    batch = None  # the pieces of the packet(s) being written, sent as one write

    def connect(self, clean_session=True):
        self.client_id = utf8(self.client_id)
        self.user = utf8(self.user)
        self.pswd = utf8(self.pswd)
        self.lw_topic = utf8(self.lw_topic)
        self.lw_msg = utf8(self.lw_msg)
        return MQTTClient.connect(self, clean_session)

    def publish(self, topic, msg, retain=False, qos=0, dup=False):
        return self.in_one_write(MQTTClient.publish, utf8(topic), utf8(msg), retain, qos, dup)

    def subscribe(self, topic, qos=0):
        return self.in_one_write(MQTTClient.subscribe, utf8(topic), qos)

    def check_msg(self):
        self.big = 0  # one packet per call: the flag never outlives its message
        return self.in_one_write(MQTTClient.check_msg)

    def in_one_write(self, method, *args):
        # Nested calls (a publish from a message callback) join the outer write.
        if self.batch is not None:
            return method(self, *args)
        self.batch = []
        try:
            result = method(self, *args)
            pieces = self.batch
        finally:
            self.batch = None
        if pieces:
            MQTTClient._write(self, b"".join(pieces))
        return result

    def _write(self, data, length=-1):
        if self.batch is None:
            return MQTTClient._write(self, data, length)
        piece = bytes(data) if length < 0 else bytes(data[:length])
        self.batch.append(piece)
        return len(piece)

    def _recv_len(self):
        # Called by check_msg only for a PUBLISH, right after its fixed header.
        n = MQTTClient._recv_len(self)
        if n > MAX_MSG:
            self.big = n
        return n

    def _read(self, n):
        if not self.big or n <= 2:  # lengths and packet ids are always read
            return MQTTClient._read(self, n)
        head = MQTTClient._read(self, min(n, HEAD))
        n -= len(head)
        while n > 0:
            n -= len(MQTTClient._read(self, min(n, CHUNK)))
        return head
