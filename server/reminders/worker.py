"""Running the dispatcher: inside the server process (the default), or as `fieldbook worker`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

import click
from sqlalchemy.ext.asyncio import async_sessionmaker

from server.db import create_engine
from server.reminders import vapid
from server.reminders.dispatcher import Dispatcher
from server.schema import needs_schema

if TYPE_CHECKING:
    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncEngine

    from server.settings import Settings

STATE_KEY = "push_dispatcher"


def dispatcher_for(settings: Settings, engine: AsyncEngine, **options: int) -> Dispatcher:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return Dispatcher(sessions, vapid.load(settings), settings.vapid_subject, **options)


async def start_push(app: Litestar) -> None:
    """On start: make sure the VAPID key exists, and send due reminders from this process unless told not to."""
    settings: Settings = app.state["settings"]
    app.state["vapid"] = await asyncio.to_thread(vapid.load, settings)
    if not settings.push_dispatcher:
        return
    dispatcher = dispatcher_for(settings, app.state["alchemy"].get_engine())
    stop = asyncio.Event()
    app.state[STATE_KEY] = (stop, asyncio.create_task(dispatcher.run(stop)))


async def stop_push(app: Litestar) -> None:
    running = app.state.get(STATE_KEY)
    if running is None:
        return
    stop, task = running
    stop.set()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(task, timeout=20)


async def run_worker(settings: Settings, *, until_idle: bool, interval: float, batch: int) -> None:
    engine = create_engine(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await dispatcher_for(settings, engine, batch=batch).run(
            stop, interval=interval, until_idle=until_idle
        )
    finally:
        await engine.dispose()


@click.command(
    "worker",
    help="Send due reminders as Web Push notifications (alongside or instead of the server's own dispatcher).",
)
@click.option("--until-idle", is_flag=True, help="Stop when nothing is due, instead of waiting for more.")
@click.option("--interval", type=click.FloatRange(0.1, 600), default=5.0, show_default=True,
              help="Seconds between looks when nothing is due.")  # fmt: skip
@click.option("--batch", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="Deliveries claimed at a time.")  # fmt: skip
@needs_schema
def worker_command(app: Litestar, until_idle: bool, interval: float, batch: int) -> None:
    logging.basicConfig(level=logging.INFO)
    asyncio.run(run_worker(app.state["settings"], until_idle=until_idle, interval=interval, batch=batch))
