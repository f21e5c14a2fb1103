"""``stockroom users``: account provisioning and the operator's side of revocation.

Every change that ends sessions (promotion, reset, deactivation) makes all earlier tokens of
the account invalid at once (``service_layer.services.users``); reactivating an account ends
none, as there are none left to end.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from domain.errors import DomainError, EmailTaken
from entrypoints.cli.common import console, container_of, run
from service_layer.services import users as user_services
from service_layer.views import UserView

users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)

_NEVER_ON_THE_COMMAND_LINE = "Prompted for when not in the environment; avoid the command line."


@users_app.command("create-admin")
def users_create_admin(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The admin's email address.")],
    # Optional on the command line (so --help does not call it required): when it is neither
    # given nor in the environment, click prompts for it, so it is never None below.
    password: Annotated[
        str | None,
        typer.Option(
            envvar="STOCKROOM_ADMIN_PASSWORD",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            show_envvar=True,
            help=_NEVER_ON_THE_COMMAND_LINE,
        ),
    ] = None,
    promote: Annotated[
        bool,
        typer.Option(
            "--promote",
            help="If the email already has an account, make it an admin with this password "
            "(and end all its sessions). Without it an existing account is refused.",
        ),
    ] = False,
) -> None:
    """Create an admin account (an existing account only with --promote)."""
    assert password is not None  # prompted for
    container = container_of(ctx)
    hasher = container.password_hasher()

    async def create() -> tuple[UserView, bool]:
        try:
            return await user_services.create_admin(
                container.uow(), hasher, email, password, promote=promote
            )
        except EmailTaken:
            # Anyone can register an address first; promoting their account must be asked for.
            raise DomainError(
                "that email already has an account; check whose it is, then pass --promote "
                "to make it an admin with this password (its sessions end)"
            ) from None

    user, created = run(container, create)
    verb = "created" if created else "promoted"
    console.print(f"{verb} admin {user.email} (id {user.id})", markup=False)


@users_app.command("list")
def users_list(
    ctx: typer.Context,
    skip: Annotated[int, typer.Option(min=0)] = 0,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """List accounts in id order."""
    container = container_of(ctx)
    views = run(
        container, lambda: user_services.list_users(container.uow(), skip=skip, limit=limit)
    )
    table = Table("id", "email", "role", "active", "created")
    for view in views:
        cells = (
            str(view.id),
            view.email,
            view.role.value,
            "yes" if view.is_active else "no",
            view.created_at.isoformat(timespec="seconds"),
        )
        table.add_row(*(Text(cell) for cell in cells))  # Text: an email is data, not markup
    console.print(table)


@users_app.command("deactivate")
def users_deactivate(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The account's email address.")],
) -> None:
    """Stop an account from logging in, and end all its sessions."""
    container = container_of(ctx)
    user = run(container, lambda: user_services.deactivate_user(container.uow(), email))
    console.print(f"deactivated {user.email} (id {user.id})", markup=False)


@users_app.command("activate")
def users_activate(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The account's email address.")],
) -> None:
    """Let a deactivated account log in again, with the role and password it had."""
    container = container_of(ctx)
    user, was_deactivated = run(
        container, lambda: user_services.activate_user(container.uow(), email)
    )
    if was_deactivated:
        console.print(f"activated {user.email} (id {user.id})", markup=False)
    else:
        console.print(f"{user.email} (id {user.id}) was already active", markup=False)


@users_app.command("reset-password")
def users_reset_password(
    ctx: typer.Context,
    email: Annotated[str, typer.Argument(help="The account's email address.")],
    password: Annotated[
        str | None,
        typer.Option(
            envvar="STOCKROOM_NEW_PASSWORD",
            prompt="New password",
            hide_input=True,
            confirmation_prompt=True,
            show_envvar=True,
            help=_NEVER_ON_THE_COMMAND_LINE,
        ),
    ] = None,
) -> None:
    """Set a new password and end all the account's sessions. Never changes its role."""
    assert password is not None  # prompted for
    container = container_of(ctx)
    hasher = container.password_hasher()
    user = run(
        container,
        lambda: user_services.reset_password(container.uow(), hasher, email, password),
    )
    # Reset all the same: the operator may be preparing the account before activating it.
    still_locked = (
        ""
        if user.is_active
        else f" (the account is deactivated: `stockroom users activate {user.email}` "
        "to let it log in)"
    )
    console.print(f"reset the password of {user.email} (id {user.id}){still_locked}", markup=False)
