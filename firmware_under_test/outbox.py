# Bounded store of QoS 1 messages (telemetry): kept while disconnected, removed only on
# PUBACK.
#
# Bound: at most `limit` messages (config `outbox_limit`, 8 by default), queued and in
# flight together; each is a few hundred bytes of heap at most. With telemetry every T
# seconds the firmware rides out a broker or Wi-Fi outage of about limit * T seconds
# without losing any.
# Drop policy: a message added over the bound pushes out the oldest *queued* one (fresh
# telemetry is worth more than stale); messages in flight are never dropped, they are
# resent after a reconnect. Every drop is counted in `dropped`, which the telemetry
# reports, and the telemetry's `seq` shows which ones went.
# Delivery is at least once: a message whose PUBACK was lost with the link is sent
# again, so a receiver may see a `seq` twice.


class Outbox:

    def __init__(self, limit):
        self.limit = limit
        self.queue = []      # (topic, msg), oldest first, not yet sent on this session
        self.inflight = {}   # pid -> (topic, msg), sent and awaiting PUBACK
        self.dropped = 0

    def __len__(self):
        return len(self.queue) + len(self.inflight)

    def add(self, topic, msg):
        self.queue.append((topic, msg))
        while len(self) > self.limit and self.queue:
            self.queue.pop(0)
            self.dropped += 1

    def next(self):
        return self.queue[0] if self.queue else None

    def sent(self, pid):
        self.inflight[pid] = self.queue.pop(0)

    def acked(self, pid):
        return self.inflight.pop(pid, None) is not None

    def requeue(self):
        # Session lost: everything unacknowledged goes out again, in pid order.
        if self.inflight:
            self.queue = [self.inflight[p] for p in sorted(self.inflight)] + self.queue
            self.inflight = {}
