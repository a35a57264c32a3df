"""Days-long sessions: when the hubs' token must be renewed, and how a new token is obtained.

Gateway tokens live 24 h and POST /Auth/validate answers a `newToken`
(docs/simgateway.md, "Sessions and rate limits"). project-x-py 4.4.1 renews
its REST token itself (validate_session() 5 min before `exp`, a new login if
that fails) but never hands the new token to the realtime client, whose hub
URLs carry the token they were built with: after the 24 h a dropped hub
cannot come back. LiveFeed (projectx_live) therefore renews the token before
the hubs' one expires and reconnects them with it (docs/broker.md).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

RENEW_BEFORE_S = 600.0  # the hubs move to a new token 10 min before theirs expires


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim (epoch seconds) of a JWT, None when it has none or is no JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        exp = claims["exp"] if isinstance(claims, dict) else None
    except (ValueError, KeyError):
        return None
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def expires_within(token: str, seconds: float, now: float | None = None) -> bool:
    """True when the token's `exp` is at most `seconds` away (False without an `exp`)."""
    exp = jwt_expiry(token)
    return exp is not None and exp - (time.time() if now is None else now) <= seconds


async def fresh_token(client: Any, renew_before_s: float = 0.0) -> str:
    """A token good for more than `renew_before_s`: /Auth/validate's newToken, else a new login.

    validate_session() answers True for a still-valid session even without a
    newToken; a token that would need renewing again at once is not fresh.
    """
    validate = getattr(client, "validate_session", None)
    if validate is not None and await validate():
        token = str(client.get_session_token())
        if not expires_within(token, renew_before_s):
            return token
    await client.authenticate()
    return str(client.get_session_token())
