"""``stockroom users``: account provisioning."""

from __future__ import annotations

from typing import Annotated

import typer

from entrypoints.cli.common import console, container_of, run
from service_layer.services import users as user_services

users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)


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
            help="Prompted for when not in the environment; never pass it on the command line.",
        ),
    ] = None,
) -> None:
    """Create an admin, or promote (and reactivate, with this password) an existing account."""
    assert password is not None  # prompted for
    container = container_of(ctx)
    hasher = container.password_hasher()
    user, created = run(
        container, lambda: user_services.create_admin(container.uow(), hasher, email, password)
    )
    verb = "created" if created else "promoted"
    console.print(f"{verb} admin {user.email} (id {user.id})", markup=False)
