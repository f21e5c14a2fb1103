"""Who is acting, as the service layer needs to know it: an id and whether they are staff."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    is_admin: bool = False

    def may_see(self, owner_id: int) -> bool:
        return self.is_admin or self.user_id == owner_id
