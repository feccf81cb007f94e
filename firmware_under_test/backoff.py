# Capped exponential backoff with jitter, so a fleet does not reconnect in lockstep.


class Backoff:
    # Delay n is drawn from [d/2, d] with d = min(cap, base * 2**n): it grows, stays
    # bounded and never collapses to zero.

    def __init__(self, base_ms=1000, cap_ms=60000, rand=None):
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.rand = rand or _urandom
        self.attempt = 0

    def next_ms(self):
        ceiling = self.base_ms << min(self.attempt, 20)
        if ceiling > self.cap_ms:
            ceiling = self.cap_ms
        self.attempt += 1
        half = ceiling // 2
        return ceiling - half + self.rand(half)

    def reset(self):
        self.attempt = 0


def _urandom(limit):
    # Uniform integer in [0, limit].
    import random
    return random.getrandbits(30) % (limit + 1) if limit > 0 else 0
