"""The `fieldbook` command: Litestar's CLI bound to our app, plus Fieldbook's own commands."""

from __future__ import annotations

import asyncio
import functools
import os
from typing import TYPE_CHECKING, Any

import click
from litestar.cli._utils import LitestarGroup
from litestar.plugins import CLIPluginProtocol

from server.settings import Settings, SettingsError, check_demo_host

if TYPE_CHECKING:
    from litestar import Litestar


class FieldbookCLIPlugin(CLIPluginProtocol):
    def on_cli_init(self, cli: click.Group) -> None:
        _guard_run_command(cli)
        cli.add_command(demo_command)
        cli.add_command(scim_token_group)


def _guard_run_command(cli: click.Group) -> None:
    """`fieldbook run` refuses to put the demo sign-in on the network unless told to."""
    run = cli.commands.get("run")
    if run is None or run.callback is None or getattr(run.callback, "fieldbook_guarded", False):
        return
    original = run.callback

    @functools.wraps(original)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            check_demo_host(Settings.from_env(), kwargs.get("host") or "127.0.0.1")
        except SettingsError as error:
            raise click.UsageError(str(error)) from error
        return original(*args, **kwargs)

    guarded.fieldbook_guarded = True  # type: ignore[attr-defined]
    run.callback = guarded


@click.command("demo", help="Load the demo data set (safe to run again: it adds only what is missing).")
@click.option("--scale", type=click.IntRange(1, 200), default=1, show_default=True,
              help="Multiply the data set, for benchmarks: N x 2,000 accounts.")  # fmt: skip
def demo_command(app: Litestar, scale: int) -> None:
    from server.demo import load_demo

    counts = asyncio.run(load_demo(app.state["alchemy"], scale=scale))
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    click.echo(f"Demo data ready: {summary}.")


@click.group("scim-token", cls=LitestarGroup, help="Bearer tokens for your identity provider's SCIM provisioning.")
def scim_token_group() -> None:
    pass


@scim_token_group.command("create", help="Make a new SCIM token and print it (it is shown only once).")
@click.argument("name")
def scim_token_create(app: Litestar, name: str) -> None:
    from server.tokens import service as tokens
    from server.tokens.models import TokenPurpose

    async def create() -> str:
        async with app.state["alchemy"].get_session() as session:
            _, token = await tokens.create(session, None, name, TokenPurpose.SCIM)
            await session.commit()
            return token

    click.echo(asyncio.run(create()))


@scim_token_group.command("list", help="List SCIM tokens (never the tokens themselves).")
def scim_token_list(app: Litestar) -> None:
    from server.tokens import service as tokens
    from server.tokens.models import TokenPurpose

    async def rows() -> list:
        async with app.state["alchemy"].get_session() as session:
            return await tokens.list_tokens(session, TokenPurpose.SCIM)

    for token in asyncio.run(rows()):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        click.echo(f"{token.id}  {token.name}  created {token.created_at:%Y-%m-%d}  {state}")


@scim_token_group.command("revoke", help="Revoke a SCIM token by its id (from `list`).")
@click.argument("token_id")
def scim_token_revoke(app: Litestar, token_id: str) -> None:
    from server.errors import NotFound
    from server.tokens import service as tokens

    async def revoke() -> None:
        async with app.state["alchemy"].get_session() as session:
            await tokens.revoke(session, None, token_id)
            await session.commit()

    try:
        asyncio.run(revoke())
    except NotFound as error:
        raise click.ClickException("no token with that id") from error
    click.echo("revoked")


def main() -> None:
    os.environ.setdefault("LITESTAR_APP", "server.app:create_app")
    from litestar.cli.main import litestar_group

    litestar_group(prog_name="fieldbook")
