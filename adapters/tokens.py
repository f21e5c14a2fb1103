"""Bearer tokens: short-lived JWTs (PyJWT), HMAC-signed with the service's secret key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

ALGORITHM = "HS256"


class InvalidToken(Exception):
    """Expired, forged, malformed or otherwise unusable; callers answer 401 and say no more."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    role: str
    expires_at: datetime


class JwtTokenCodec:
    """PyJWT: maintained, small, and strict when asked to be.

    Decoding accepts exactly one algorithm (so ``alg: none`` and algorithm-confusion tokens are
    refused) and requires ``sub``, ``exp`` and ``iat``.
    """

    def __init__(self, secret: str, lifetime: timedelta) -> None:
        if len(secret) < 32:
            raise ValueError("the signing key must be at least 32 characters")
        self._secret = secret
        self.lifetime = lifetime

    def issue(self, user_id: int, role: str, *, now: datetime | None = None) -> str:
        issued = now or datetime.now(UTC)
        claims = {"sub": str(user_id), "role": role, "iat": issued, "exp": issued + self.lifetime}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "exp", "iat"]},
            )
            return TokenClaims(
                user_id=int(claims["sub"]),
                role=str(claims["role"]),
                expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            )
        except (jwt.InvalidTokenError, KeyError, TypeError, ValueError) as error:
            raise InvalidToken(str(error)) from error
