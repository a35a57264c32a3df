"""Session tokens and the request budget of the simulated gateway (docs/simgateway.md, "Sessions
and rate limits").

Tokens live 24 h on the real gateway and /Auth/validate hands out a new one
(official "Validate Session" page); the lifetime is settable so a test can
run through several in seconds. The budget follows the official "Rate
Limits" page: 200 requests per 60 s, /History/retrieveBars 30 per 30 s,
HTTP 429 past it, for authenticated requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

TOKEN_LIFETIME_S = 24 * 3600.0
BARS_PATH = "/History/retrieveBars"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Tokens:
    """HS256 JWTs with `exp` (the SDK decodes the payload for expiry, never the signature).

    `validate_expired`: whether /Auth/validate renews a token already past its
    expiry. The official page says an expired token must be re-validated to get
    a new one, which reads as yes; no capture confirms it, so it is settable.
    """

    def __init__(
        self,
        lifetime_s: float = TOKEN_LIFETIME_S,
        *,
        validate_expired: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secrets.token_bytes(32)
        self.lifetime_s = lifetime_s
        self.validate_expired = validate_expired
        self._clock = clock
        self._issued: dict[str, tuple[str, float]] = {}  # token -> (subject, expiry epoch s)

    def issue(self, subject: str) -> str:
        exp = round(self._clock() + self.lifetime_s, 3)
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        claims = {"sub": subject, "exp": exp, "jti": secrets.token_hex(8)}
        body = _b64(json.dumps(claims).encode())
        sig = hmac.new(self._secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        token = f"{header}.{body}.{_b64(sig)}"
        self._issued[token] = (subject, exp)
        return token

    def ok(self, token: str) -> bool:
        """Issued here, not revoked, not expired."""
        found = self._issued.get(token)
        return found is not None and self._clock() < found[1]

    def subject(self, token: str) -> str | None:
        found = self._issued.get(token)
        return None if found is None else found[0]

    def expiry(self, token: str) -> float | None:
        found = self._issued.get(token)
        return None if found is None else found[1]

    def renew(self, token: str) -> str | None:
        """/Auth/validate: a new token for the same user, or None when refused."""
        found = self._issued.get(token)
        if found is None or not (self.ok(token) or self.validate_expired):
            return None
        return self.issue(found[0])

    def revoke(self, token: str) -> None:
        self._issued.pop(token, None)

    def revoke_all(self) -> None:
        self._issued.clear()


@dataclass(frozen=True, slots=True)
class Window:
    limit: int
    seconds: float


class RateLimits:
    """Sliding windows per (user, bucket); a request past its window's limit is refused.

    Whether refused requests count, and whether a 429 carries Retry-After, is not
    documented: `count_refused` and `retry_after_s` set each (default: no, none).
    Which requests share a budget (per user, per token, per IP) is not documented:
    per user here.
    """

    def __init__(
        self,
        default: Window = Window(200, 60.0),
        bars: Window = Window(30, 30.0),
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.windows = {"default": default, "bars": bars}
        self.enabled = enabled
        self.count_refused = False
        self.retry_after_s: int | None = None
        self.refused = 0
        self._clock = clock
        self._seen: dict[tuple[str, str], deque[float]] = {}

    def admit(self, user: str, path: str) -> bool:
        if not self.enabled:
            return True
        bucket = "bars" if path == BARS_PATH else "default"
        window = self.windows[bucket]
        now = self._clock()
        seen = self._seen.setdefault((user, bucket), deque())
        while seen and seen[0] <= now - window.seconds:
            seen.popleft()
        if len(seen) >= window.limit:
            self.refused += 1
            if self.count_refused:  # a client that keeps knocking keeps itself refused
                seen.append(now)
            return False
        seen.append(now)
        return True

    def set(self, limit: int, seconds: float, *, bars: bool = False) -> None:
        self.windows["bars" if bars else "default"] = Window(limit, seconds)
