"""How many connections a process keeps to one database, and for how long."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PoolSettings:
    """Per process (uvicorn worker). Fixed size by default (``max_overflow=0``): SQLAlchemy
    closes an overflow connection as soon as it comes back to a pool holding ``size`` idle
    ones and opens a new one at the next burst, so under steady load a large share of
    requests paid for a connect. Requests beyond ``size`` wait (up to ``timeout``, then 503)."""

    size: int = 10
    max_overflow: int = 0
    timeout: float = 30.0
    recycle: int = 1800
