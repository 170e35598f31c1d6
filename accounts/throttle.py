"""
The limit on password guesses: per (account, client address) pair and per
client address, counted in Redis so that every server process shares it.

An attempt is counted when it starts, not when it has failed: the count is
what stops a burst of concurrent guesses, which would all pass a check made
before any of them had been recorded as a failure (each costing a password
hash). A successful log-in gives its attempt back: it clears the pair's count
and takes its own one off the address's count.

Nothing is counted per account alone: whoever knew a username could then keep
its owner out. Guesses at one account from one address stop at the pair's
limit; guesses from one address at many accounts stop at the address's limit;
the owner, from her own address, logs in meanwhile. A refused attempt does not
count, so a lockout lasts one window from the first counted attempt however
long the guessing goes on.

Without Redis (development, a single process) the counts are kept in the
process's memory; so they are when Redis fails, rather than refusing everyone
or letting every guess through.
"""

import hashlib
import ipaddress
import logging
import math
import threading
import time
import unicodedata
from dataclasses import dataclass

import redis
from django.conf import settings
from django.http import HttpRequest

from myproject.redis import get_redis, redis_key

logger = logging.getLogger(__name__)

# An IPv6 client usually holds at least a /64: counting its addresses one by
# one would give it billions of separate limits.
IPV6_PREFIX_LENGTH = 64

# KEYS: the pair's and the address's counters. ARGV: their limits and the window
# in milliseconds. Returns {milliseconds until the attempt may be retried, 0, 0}
# when it is refused, or {0, pair count, address count} once it is counted.
_ATTEMPT_SCRIPT = """
for i = 1, 2 do
    local count = tonumber(redis.call('GET', KEYS[i]) or '0')
    if count >= tonumber(ARGV[i]) then
        local ttl = redis.call('PTTL', KEYS[i])
        if ttl < 0 then
            redis.call('PEXPIRE', KEYS[i], ARGV[3])
            ttl = tonumber(ARGV[3])
        end
        return {ttl, 0, 0}
    end
end
local counts = {0}
for i = 1, 2 do
    counts[i + 1] = redis.call('INCR', KEYS[i])
    if counts[i + 1] == 1 then
        redis.call('PEXPIRE', KEYS[i], ARGV[3])
    end
end
return counts
"""

# KEYS: the pair's and the address's counters.
_SUCCESS_SCRIPT = """
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
    redis.call('DECR', KEYS[2])
end
return 0
"""


@dataclass(frozen=True)
class Refusal:
    """An attempt refused: when it may be made again."""

    retry_after: int

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


def client_address(request: HttpRequest) -> str:
    """
    Return the address the request came from, as the throttle counts it.

    REMOTE_ADDR is the client's: deploy/cluster.py's uvicorn takes it from
    nginx's X-Forwarded-For (--proxy-headers, nginx trusted only). Behind a
    proxy the server does not resolve, list the proxy in
    LOGIN_THROTTLE_TRUSTED_PROXIES: then X-Forwarded-For is read, from the
    right, skipping those proxies; the entries left of the first untrusted one
    are whatever the client chose to send.
    """
    address = _parse_ip(request.META.get("REMOTE_ADDR", ""))
    trusted = _trusted_proxies()
    if address is not None and trusted and _is_trusted(address, trusted):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        for item in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
            hop = _parse_ip(item)
            if hop is None:
                # Garbage in the header: what lies left of it cannot be trusted either.
                break
            address = hop
            if not _is_trusted(hop, trusted):
                break
    if address is None:
        return "unknown"
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/{IPV6_PREFIX_LENGTH}", strict=False))
    return str(address)


def attempt(request: HttpRequest, username: str) -> Refusal | None:
    """Count a log-in attempt as *username*; return a Refusal if it is over a limit."""
    keys = _keys(request, username)
    limits = (settings.LOGIN_THROTTLE_PAIR_LIMIT, settings.LOGIN_THROTTLE_ADDRESS_LIMIT)
    window = settings.LOGIN_THROTTLE_WINDOW
    client = get_redis() if settings.REDIS_URL else None
    result = None
    if client is not None:
        try:
            wait_ms, *counts = client.eval(_ATTEMPT_SCRIPT, 2, *keys, *limits, int(window * 1000))
        except redis.RedisError:
            logger.warning("Log-in throttle: Redis failed, counting in memory", exc_info=True)
        else:
            result = (int(wait_ms) / 1000, [int(count) for count in counts])
    if result is None:
        result = _memory.attempt(keys, limits, window)
    wait, counts = result
    if wait:
        return Refusal(math.ceil(wait))
    # Logged when a limit is reached rather than for every refusal after it,
    # which would let a flood of guesses flood the log too. Not the username:
    # people type their password into that field.
    messages = ("%d attempts at one account from %s (%s)", "%d attempts from %s (%s)")
    for count, limit, message in zip(counts, limits, messages, strict=True):
        if count == limit:
            logger.warning(
                f"Log-in throttle: {message}; more are refused for up to %d s",
                limit,
                client_address(request),
                request.path,
                window,
            )
    return None


def succeeded(request: HttpRequest, username: str) -> None:
    """Give back the attempt of a log-in as *username* that succeeded."""
    keys = _keys(request, username)
    client = get_redis() if settings.REDIS_URL else None
    if client is not None:
        try:
            client.eval(_SUCCESS_SCRIPT, 2, *keys)
        except redis.RedisError:
            logger.warning("Log-in throttle: Redis failed, counting in memory", exc_info=True)
        else:
            return
    _memory.succeeded(keys)


def _keys(request: HttpRequest, username: str) -> tuple[str, str]:
    address = client_address(request)
    # As AuthenticationForm cleans it, and case-blind, so that "Anna" and "anna"
    # share one count; hashed, so that a key's length does not depend on what
    # was typed.
    account = unicodedata.normalize("NFKC", username).casefold()
    pair = hashlib.sha256(f"{account}\n{address}".encode()).hexdigest()[:32]
    return (
        redis_key(f"login-throttle:pair:{pair}"),
        redis_key(f"login-throttle:address:{address}"),
    )


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted_proxies() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(item, strict=False)
        for item in settings.LOGIN_THROTTLE_TRUSTED_PROXIES
    ]


def _is_trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
    trusted: list[ipaddress.IPv4Network | ipaddress.IPv6Network],
) -> bool:
    return any(address.version == network.version and address in network for network in trusted)


class _MemoryCounters:
    """The same counts in this process's memory, for when Redis is off or failing."""

    # Expired counts are dropped once this many are kept, so that guesses at
    # ever new usernames cannot grow the table without bound.
    SWEEP_AT = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # key -> [count, monotonic time it expires]
        self._counts: dict[str, list[float]] = {}

    def attempt(
        self, keys: tuple[str, str], limits: tuple[int, int], window: float
    ) -> tuple[float, list[int]]:
        now = time.monotonic()
        with self._lock:
            if len(self._counts) >= self.SWEEP_AT:
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            entries = []
            for key, limit in zip(keys, limits, strict=True):
                entry = self._counts.get(key)
                if entry is None or entry[1] <= now:
                    entry = [0, now + window]
                if entry[0] >= limit:
                    return entry[1] - now, [0, 0]
                entries.append((key, entry))
            for key, entry in entries:
                entry[0] += 1
                self._counts[key] = entry
            return 0, [int(entry[0]) for _, entry in entries]

    def succeeded(self, keys: tuple[str, str]) -> None:
        pair, address = keys
        with self._lock:
            self._counts.pop(pair, None)
            entry = self._counts.get(address)
            if entry is not None and entry[0] > 0:
                entry[0] -= 1

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


_memory = _MemoryCounters()
