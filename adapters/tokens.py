"""Bearer tokens: short-lived JWTs (PyJWT), HMAC-signed with the service's secret key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

ALGORITHM = "HS256"
# Ids and versions are 32-bit INTEGER columns: a bigger number would overflow the query.
MAX_INTEGER = 2**31 - 1
# A user id as this service writes it: ASCII digits, no sign, no leading zero, no spaces
# (``int()`` alone would take " +1" or Arabic-Indic digits).
_SUBJECT = re.compile(r"[1-9][0-9]{0,9}")
REQUIRED_CLAIMS = ["sub", "role", "ver", "iat", "exp"]
# Clocks of the hosts that issue and check tokens differ a little: a token issued by another
# worker host a second "in the future" is still good. RFC 7519 (4.1.4, 4.1.5) allows "some
# small leeway, usually no more than a few minutes"; NTP keeps hosts well within this. PyJWT
# applies one leeway to iat, nbf and exp alike, so a token also lives up to this much past
# its exp: a bound on skew, not on lifetime worth noticing (the default lifetime is 60 min).
CLOCK_SKEW_LEEWAY = timedelta(seconds=30)


class InvalidToken(Exception):
    """Expired, forged, malformed or otherwise unusable; callers answer 401 and say no more."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: int
    credentials_version: int  # the account's, when the token was issued (domain.user.User)
    issued_at: datetime
    expires_at: datetime


class JwtTokenCodec:
    """PyJWT: maintained, small, and strict when asked to be.

    Decoding accepts exactly one algorithm (so ``alg: none`` and algorithm-confusion tokens are
    refused), requires every claim this service writes, and then holds each to what this
    service would have written: a token signed with the right key but claims out of range (a
    leaked key, a bug elsewhere, a hand-made token) is ``InvalidToken``, never a crash further
    down (a 32-bit id overflow in the database, a timestamp Python cannot represent).
    """

    def __init__(self, secret: str, lifetime: timedelta) -> None:
        if len(secret) < 32:
            raise ValueError("the signing key must be at least 32 characters")
        self._secret = secret
        self.lifetime = lifetime

    def issue(
        self, user_id: int, role: str, *, credentials_version: int, now: datetime | None = None
    ) -> str:
        issued = now or datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "role": role,  # for the client's convenience: rights come from the database
            "ver": credentials_version,
            "iat": issued,
            "exp": issued + self.lifetime,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> TokenClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": REQUIRED_CLAIMS},
                leeway=CLOCK_SKEW_LEEWAY,
            )
        except (jwt.InvalidTokenError, ValueError, TypeError, OverflowError) as error:
            raise InvalidToken(str(error)) from error
        return self._checked(claims)

    def _checked(self, claims: dict[str, Any]) -> TokenClaims:
        """PyJWT has checked the signature, that ``exp`` is not past and ``iat`` not ahead
        (each give or take ``CLOCK_SKEW_LEEWAY``); what remains is types and ranges."""
        subject, version = claims["sub"], claims["ver"]
        issued, expires = claims["iat"], claims["exp"]
        if not (isinstance(subject, str) and _SUBJECT.fullmatch(subject)):
            raise InvalidToken("sub is not a user id")
        # Exactly int: a JSON true is a Python bool, which is an int too.
        if not type(version) is type(issued) is type(expires) is int:
            raise InvalidToken("ver, iat and exp must be integers")
        if not (int(subject) <= MAX_INTEGER and 0 <= version <= MAX_INTEGER):
            raise InvalidToken("sub or ver out of range")
        # With exp in the future (checked), this also bounds iat and exp to a sane window.
        if not 0 < expires - issued <= self.lifetime.total_seconds():
            raise InvalidToken("lifetime is not one this service issues")
        if not isinstance(claims["role"], str):
            raise InvalidToken("role must be a string")
        return TokenClaims(
            user_id=int(subject),
            credentials_version=version,
            issued_at=datetime.fromtimestamp(issued, UTC),
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
