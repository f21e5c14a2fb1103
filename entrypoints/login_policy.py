"""The login throttle's policy (domain.login_throttle) as the ``STOCKROOM_LOGIN_*`` and
``STOCKROOM_SIGNUP*`` settings configure it (docs/security.md, "Login throttling")."""

from __future__ import annotations

from datetime import timedelta

from domain.login_throttle import Backoff, LoginThrottlePolicy
from domain.sign_ups import SignUpLimit
from entrypoints.settings import Settings


def login_throttle_policy(settings: Settings) -> LoginThrottlePolicy:
    cap = timedelta(seconds=settings.login_max_block_seconds)
    return LoginThrottlePolicy(
        per_account_at_address=Backoff(settings.login_free_failures, max_block=cap),
        per_account=Backoff(settings.login_free_failures_per_account, max_block=cap),
        per_address=Backoff(settings.login_free_failures_per_address, max_block=cap),
        forget_after=timedelta(seconds=settings.login_forget_after_seconds),
        remember_clients_for=timedelta(days=settings.login_known_client_days),
        sign_ups=SignUpLimit(
            settings.signups_per_address, timedelta(seconds=settings.signup_window_seconds)
        ),
    )
