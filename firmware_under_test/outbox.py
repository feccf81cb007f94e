# Bounded store of QoS 1 messages: kept while disconnected, removed only on PUBACK.


class Outbox:

    def __init__(self, limit):
        self.limit = limit
        self.queue = []      # (topic, msg), oldest first, not yet sent on this session
        self.inflight = {}   # pid -> (topic, msg), sent and awaiting PUBACK
        self.dropped = 0

    def __len__(self):
        return len(self.queue) + len(self.inflight)

    def add(self, topic, msg):
        # Over the limit the oldest queued message goes: fresh telemetry is worth more.
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

    def expired(self, pid):
        item = self.inflight.pop(pid, None)
        if item is not None:
            self.queue.insert(0, item)

    def requeue(self):
        # Session lost: everything unacknowledged goes out again, in pid order.
        if self.inflight:
            self.queue = [self.inflight[p] for p in sorted(self.inflight)] + self.queue
            self.inflight = {}
