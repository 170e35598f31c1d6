"""A token bucket: the per-connection limit on frames a WebSocket client may send."""

import time
from collections.abc import Callable


class TokenBucket:
    """
    Allow bursts of up to *burst* actions, refilled at *rate* per second.

    An action may cost more than one token (a replayed page costs its size):
    it is allowed while at least one token is left, and may leave the bucket
    in debt, which the refill pays off before the next one is allowed. So a
    cost larger than the burst is never refused for good, only paced.

    Not thread-safe: each owner uses it on the event loop only.
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

    def take(self, cost: float = 1) -> bool:
        """Spend *cost* tokens and return True, or return False if none is left."""
        return self.try_take(cost) == 0

    def try_take(self, cost: float = 1) -> float:
        """Spend *cost* tokens and return 0, or return the seconds until one is left."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens < 1:
            return (1 - self._tokens) / self.rate
        self._tokens -= cost
        return 0.0

    @property
    def full(self) -> bool:
        """Whether the bucket has refilled to its burst (it can then be forgotten)."""
        return self._tokens + (self._clock() - self._updated) * self.rate >= self.burst
