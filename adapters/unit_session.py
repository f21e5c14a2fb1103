"""The session class of units of work: one that knows whether its COMMIT was acknowledged."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session


class UnitSession(Session):
    """The sessions of units of work: each remembers whether the database acknowledged the
    COMMIT of its current transaction, which is how a unit of work tells "the COMMIT failed"
    (nothing written) from "something after the COMMIT failed" (the write stands). The two
    listeners below are on this class only; no other session in the process is touched."""

    commit_acknowledged = False


@event.listens_for(UnitSession, "after_begin")
def _transaction_began(session: UnitSession, _transaction: object, _connection: object) -> None:
    session.commit_acknowledged = False


@event.listens_for(UnitSession, "after_commit")
def _commit_acknowledged(session: UnitSession) -> None:
    # Fires once the database has acknowledged COMMIT, before any later after_commit hook.
    session.commit_acknowledged = True
