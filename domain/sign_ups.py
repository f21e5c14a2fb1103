"""Sign-up throttling: how many accounts one address may create in a window.

Registration is anonymous and each one costs an Argon2 hash, so an address (an IPv6 /64,
``domain.address_activity.client_network``) gets ``per_window`` sign-ups per ``window``,
counted from its first one; beyond, it is refused until the window ends, before any hashing
(``domain.login_throttle.TooManySignUps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.address_activity import Activity, ActivityCounter, ActivityKey, client_network


@dataclass(frozen=True)
class SignUpLimit:
    per_window: int = 20
    window: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        if self.per_window < 1 or self.window <= timedelta(0):
            raise ValueError("a sign-up limit allows at least one sign-up in a positive window")

    @staticmethod
    def key(address: str | None) -> ActivityKey:
        return ActivityKey(Activity.SIGN_UP, client_network(address))

    def window_starts_after(self, now: datetime) -> datetime:
        """A counter whose window started before this is over: counting starts again."""
        return now - self.window

    def wait(
        self, counter: ActivityCounter | None, now: datetime, *, counted: bool
    ) -> timedelta | None:
        """How long this sign-up must wait, given the address's ``counter`` (which holds this
        sign-up if ``counted``); ``None``: go ahead."""
        if counter is None or counter.started_at < self.window_starts_after(now):
            return None
        this_one = counter.count if counted else counter.count + 1
        wait = counter.started_at + self.window - now
        return wait if this_one > self.per_window and wait > timedelta(0) else None
