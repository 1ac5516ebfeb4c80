"""The `fieldbook` command: Litestar's CLI bound to our app, plus Fieldbook's own commands."""

from __future__ import annotations

import asyncio
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from litestar.cli._utils import LitestarGroup
from litestar.plugins import CLIPluginProtocol
from sqlalchemy import inspect

from server.errors import NotFound
from server.reminders.worker import worker_command
from server.schema import needs_schema
from server.settings import Settings, SettingsError, check_demo_host
from server.tokens import service as tokens
from server.tokens.models import TokenPurpose

if TYPE_CHECKING:
    from litestar import Litestar


class FieldbookCLIPlugin(CLIPluginProtocol):
    def on_cli_init(self, cli: click.Group) -> None:
        _guard_run_command(cli)
        cli.add_command(demo_command)
        cli.add_command(
            token_commands("scim-token", TokenPurpose.SCIM, "your identity provider's SCIM provisioning")
        )
        cli.add_command(
            token_commands("api-token", TokenPurpose.API, "the ERP and other systems that send orders")
        )
        cli.add_command(import_commands())
        cli.add_command(tiers_command)
        cli.add_command(expire_quotes_command)
        cli.add_command(worker_command)
        cli.add_command(backup_command)
        cli.add_command(restore_command)


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
@needs_schema
def demo_command(app: Litestar, scale: int) -> None:
    from server.demo import load_demo

    counts = asyncio.run(load_demo(app.state["alchemy"], scale=scale))
    summary = ", ".join(f"{count} {name}" for name, count in counts.items())
    click.echo(f"Demo data ready: {summary}.")


@click.command("tiers", help="Recompute every customer's tier from its last 12 months of orders (run daily).")
@needs_schema
def tiers_command(app: Litestar) -> None:
    from server.accounts import tiers

    async def run() -> int:
        async with app.state["alchemy"].get_session() as session:
            changed = await tiers.refresh(session)
            await session.commit()
            return changed

    click.echo(f"{asyncio.run(run())} accounts changed tier.")


@click.command("expire-quotes", help="Expire open quotes whose validity date has passed (run daily).")
@needs_schema
def expire_quotes_command(app: Litestar) -> None:
    from server.db import utcnow
    from server.quotes import service as quotes

    async def run() -> int:
        async with app.state["alchemy"].get_session() as session:
            expired = await quotes.expire_due(session, utcnow().date())
            await session.commit()
            return expired

    click.echo(f"{asyncio.run(run())} quotes expired.")


def token_commands(name: str, purpose: TokenPurpose, what: str) -> click.Group:
    """`fieldbook scim-token ...` and `fieldbook api-token ...`: make, list and revoke bearer tokens."""
    group = LitestarGroup(name, help=f"Bearer tokens for {what}.")

    @group.command("create", help="Make a new token and print it (it is shown only once).")
    @click.argument("label")
    @needs_schema
    def create(app: Litestar, label: str) -> None:
        async def run() -> str:
            async with app.state["alchemy"].get_session() as session:
                _, token = await tokens.create(session, None, label, purpose)
                await session.commit()
                return token

        click.echo(asyncio.run(run()))

    @group.command("list", help="List the tokens (never the tokens themselves).")
    @needs_schema
    def list_tokens(app: Litestar) -> None:
        async def run() -> list:
            async with app.state["alchemy"].get_session() as session:
                return await tokens.list_tokens(session, purpose)

        for token in asyncio.run(run()):
            state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
            click.echo(f"{token.id}  {token.name}  created {token.created_at:%Y-%m-%d}  {state}")

    @group.command("revoke", help="Revoke a token by its id (from `list`); it stops working at once.")
    @click.argument("token_id")
    @needs_schema
    def revoke(app: Litestar, token_id: str) -> None:
        async def run() -> None:
            async with app.state["alchemy"].get_session() as session:
                await tokens.revoke(session, None, token_id)
                await session.commit()

        try:
            asyncio.run(run())
        except NotFound as error:
            raise click.ClickException("no token with that id") from error
        click.echo("revoked")

    return group


def import_commands() -> click.Group:
    """`fieldbook import KIND FILE`: load what another system exported, all or nothing."""
    group = LitestarGroup("import", help="Load a file another system exported (all or nothing).")

    for kind in ("accounts", "contacts", "products", "orders"):
        group.add_command(_import_command(kind))
    return group


IMPORT_HELP = {
    "accounts": "Load accounts (name, street, city, postcode, phone, customer_number, latitude, longitude, "
    "owner_email, notes).",
    "contacts": "Load contacts (account_customer_number or account_name and account_city, name, title, phone, email).",
    "products": "Load the product catalogue (code, name, unit, list_price, currency, active).",
    "orders": "Load orders from the ERP's CSV export through the same upsert as the order API.",
}


def _import_command(kind: str) -> click.Command:
    @click.command(
        kind,
        help=f"{IMPORT_HELP[kind]} The whole file is applied in one transaction: if any row is wrong, "
        "nothing is written. Rows matching an existing record (same name and city, phone or email, "
        "code or number) are merged into it, or skipped.",
    )
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
    @click.option(
        "--dry-run", is_flag=True, help="Check the file and report what would change; write nothing."
    )
    @click.option("--duplicates", type=click.Choice(["merge", "skip"]), default="merge", show_default=True,
                  help="What to do with a row that matches an existing record.")  # fmt: skip
    @click.option(
        "--as",
        "as_email",
        default=None,
        help="The admin the import is recorded as (default: the first admin).",
    )
    @needs_schema
    def command(app: Litestar, file: Path, dry_run: bool, duplicates: str, as_email: str | None) -> None:
        from server.imports import service as imports
        from server.imports.models import Duplicates

        async def run() -> tuple[Any, bool]:
            async with app.state["alchemy"].get_session() as session:
                actor = await imports.first_admin(session, as_email)
                if actor is None and (as_email or kind != "orders"):
                    raise click.ClickException(
                        f"no active admin {as_email or ''} to import as: pass --as with an admin's email".replace(
                            "  ", " "
                        )
                    )
                return await imports.import_file(
                    session, actor, kind, file, Duplicates(duplicates), dry_run=dry_run
                )

        report, _ = asyncio.run(run())
        if report.problems:
            for problem in report.problems:
                click.echo(problem.render(), err=True)
            count = report.counts["problems"]
            more = f" (the first {len(report.problems)} are listed)" if count > len(report.problems) else ""
            raise click.ClickException(
                f"{file.name}: nothing was imported: {count:,} problem{'s' if count != 1 else ''} to correct{more}."
            )
        click.echo(imports.summary(kind, report, file.name, dry_run=dry_run))

    return command


async def _echo_table(name: str, rows: int) -> None:
    click.echo(f"  {name}: {rows:,} rows", err=True)


@click.command(
    "backup",
    help="Write a consistent snapshot of all data to FILE (gzip'd JSON lines), while the server runs. "
    "Sessions and what each phone was last sent are left out.",
)
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
def backup_command(app: Litestar, file: Path) -> None:
    from server import backup
    from server.db import create_engine

    async def run() -> backup.Summary:
        engine = create_engine(app.state["settings"].database_url, pooled=False)
        try:
            return await backup.backup(engine, file, progress=_echo_table)
        finally:
            await engine.dispose()

    click.echo(f"Backing up to {file} ...", err=True)
    try:
        summary = asyncio.run(run())
    except backup.BackupError as error:
        raise click.ClickException(f"no backup written: {error}") from error
    click.echo(
        f"Backup written to {file}: {summary.rows:,} rows in {len(summary.tables)} tables "
        f"(database revision {summary.alembic_revision}, {file.stat().st_size:,} bytes)."
    )


@click.command(
    "restore",
    help="Restore a backup made by `fieldbook backup` into an EMPTY database (migrated first if it has "
    "no tables), all or nothing. Phones start afresh from it and keep the changes they have queued.",
)
@click.argument("file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path))
def restore_command(app: Litestar, file: Path) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from server import backup
    from server.db import create_engine

    settings = app.state["settings"]
    try:
        header = backup.read_header(file)
        backup.check_header(header)
    except backup.BackupError as error:
        raise click.ClickException(f"{file}: nothing restored: {error}") from error

    async def no_tables() -> bool:
        engine = create_engine(settings.database_url, pooled=False)
        try:
            async with engine.connect() as connection:
                return not await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        finally:
            await engine.dispose()

    async def run() -> backup.Summary:
        engine = create_engine(settings.database_url, pooled=False)
        try:
            return await backup.restore(engine, file, progress=_echo_table)
        finally:
            await engine.dispose()

    if asyncio.run(no_tables()):
        from advanced_alchemy.alembic.commands import AlembicCommands

        click.echo("The database has no tables: creating them (database upgrade) ...", err=True)
        AlembicCommands(sqlalchemy_config=app.state["alchemy"]).upgrade("head")
    click.echo(
        f"Restoring {file} (made {header.get('created_at')} on {header.get('database')}) ...", err=True
    )
    try:
        summary = asyncio.run(run())
    except backup.BackupError as error:
        raise click.ClickException(f"{file}: nothing restored: {error}") from error
    except SQLAlchemyError as error:
        raise click.ClickException(
            f"{file}: nothing restored: the database refused a row: {error}"
        ) from error
    click.echo(
        f"Restored {summary.rows:,} rows in {len(summary.tables)} tables from {file}. "
        "Phones will fetch everything afresh at their next sync and send their queued changes again."
    )


def main() -> None:
    os.environ.setdefault("LITESTAR_APP", "server.app:create_app")
    from litestar.cli.main import litestar_group

    litestar_group(prog_name="fieldbook")
