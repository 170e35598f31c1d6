"""A token bucket: the per-connection limit on frames a WebSocket client may send."""

import time
from collections.abc import Callable


class TokenBucket:
    """
    Allow bursts of up to *burst* actions, refilled at *rate* per second.

    Not thread-safe: each WebSocket connection owns one and uses it on the
    event loop only.
    """

    def __init__(
        self, *, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()

    def take(self) -> bool:
        """Spend one token and return True, or return False if none is left."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True
