"""Per-tenant request rate limits: token buckets.

A bucket holds up to ``burst`` tokens and gains ``rate_per_s`` per second; each request takes
one, and a request that finds less than one is refused with the seconds until one is back
(HTTP 429 with ``Retry-After``). Distributed mode keeps the buckets in Redis (one Lua script:
read, refill, take, using the server's clock so API replicas agree); the embedded mode keeps
them in the API process, its only server.
"""

from __future__ import annotations

import math
import threading
import time
from abc import ABC, abstractmethod

__all__ = ["MemoryTokenBuckets", "RateLimiter", "RedisTokenBuckets"]


class RateLimiter(ABC):
    """Token buckets per key (a tenant)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError(f"a rate limit needs rate_per_s > 0 and burst >= 1, got {rate_per_s}, {burst}")
        self.rate_per_s = rate_per_s
        self.burst = burst

    @abstractmethod
    def take(self, key: str) -> float:
        """Take a token for ``key``: 0.0 when granted, else the seconds until one is back."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class MemoryTokenBuckets(RateLimiter):
    """Buckets in this process (the embedded mode's single API process)."""

    def __init__(self, rate_per_s: float, burst: int) -> None:
        super().__init__(rate_per_s, burst)
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate_per_s


# KEYS[1] bucket; ARGV: rate per second, burst. Returns milliseconds to wait (0: granted).
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1e6
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or t
tokens = math.min(burst, tokens + math.max(0, t - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(t))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return wait
"""


class RedisTokenBuckets(RateLimiter):
    """Buckets in Redis at ``url`` (keys ``<prefix>:ratelimit:<key>``, expiring once full)."""

    def __init__(self, url: str, rate_per_s: float, burst: int, *, prefix: str = "designsvc") -> None:
        super().__init__(rate_per_s, burst)
        import redis

        self._client = redis.Redis.from_url(url, socket_connect_timeout=5.0, socket_timeout=10.0)
        self._script = self._client.register_script(_TAKE)
        self.prefix = prefix

    def take(self, key: str) -> float:
        wait_ms = int(self._script(keys=[f"{self.prefix}:ratelimit:{key}"], args=[self.rate_per_s, self.burst]))
        return wait_ms / 1000.0

    def close(self) -> None:
        self._client.close()


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
