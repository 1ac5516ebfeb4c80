"""Which named commands a device may send, and how a mutation's `args` reach each one.

A domain makes one of its commands syncable by registering it here (as quotes and reminders
do); the push endpoint knows nothing about any domain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from server.accounts import service as accounts
from server.accounts.models import Account
from server.contacts import service as contacts
from server.contacts.models import Contact
from server.leads import service as leads
from server.leads.models import Lead
from server.quotes import approvals
from server.quotes import service as quotes
from server.reminders import service as reminders
from server.reminders.models import Reminder
from server.visits import service as visits
from sync import conflicts

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.db import Versioned
    from server.users.models import User


@dataclass(frozen=True)
class Context:
    """What a command may need besides its arguments: when the mutation reached the server."""

    received_at: dt.datetime


# A handler runs one command for one mutation and returns the record it made or changed.
Handler = Callable[["AsyncSession", "User", Mapping[str, Any], Context], Awaitable[Any]]


@dataclass(frozen=True)
class Merge:
    """How an edit command's fields merge with the server's (DESIGN.md: per field).

    `target` names the arg holding the record's id; `notes` are long text fields, which a device
    never overwrites when the server changed them too.
    """

    model: type[Versioned]
    target: str
    notes: tuple[str, ...] = ()


@dataclass
class Registry:
    handlers: dict[str, Handler] = field(default_factory=dict)
    merges: dict[str, Merge] = field(default_factory=dict)

    def register(self, name: str, handler: Handler, *, merge: Merge | None = None) -> None:
        if name in self.handlers:
            raise ValueError(f"sync command {name!r} is registered twice")
        self.handlers[name] = handler
        if merge is not None:
            self.merges[name] = merge

    def get(self, name: str) -> Handler | None:
        return self.handlers.get(name)


def rep_day_commands(registry: Registry) -> Registry:
    """The commands of the rep's day: visits, leads, contacts and account details."""
    commands: dict[str, Handler] = {
        "accounts.update": lambda s, u, a, _: accounts.update(s, u, a.get("account_id"), a),
        "contacts.create": lambda s, u, a, _: contacts.create(s, u, a.get("account_id"), a, record_id=a.get("id")),
        "contacts.update": lambda s, u, a, _: contacts.update(s, u, a.get("contact_id"), a),
        "visits.plan": lambda s, u, a, _: visits.plan(s, u, a, record_id=a.get("id")),
        "visits.reschedule": lambda s, u, a, _: visits.reschedule(s, u, a.get("visit_id"), a),
        "visits.skip": lambda s, u, a, _: visits.skip(s, u, a.get("visit_id"), a),
        "visits.check_in": lambda s, u, a, c: visits.check_in(s, u, a.get("visit_id"), a, received_at=c.received_at),
        "visits.check_out": lambda s, u, a, c: visits.check_out(s, u, a.get("visit_id"), a, received_at=c.received_at),
        "visits.record_outcome": lambda s, u, a, _: visits.record_outcome(s, u, a.get("visit_id"), a),
        "leads.capture": lambda s, u, a, _: leads.capture(s, u, a, record_id=a.get("id")),
        "leads.update": lambda s, u, a, _: leads.update(s, u, a.get("lead_id"), a),
        "leads.convert": lambda s, u, a, _: leads.convert(s, u, a.get("lead_id"), a),
        "leads.disqualify": lambda s, u, a, _: leads.disqualify(s, u, a.get("lead_id"), a),
    }  # fmt: skip
    merges = {
        "accounts.update": Merge(Account, "account_id", notes=("notes",)),
        "contacts.update": Merge(Contact, "contact_id"),
        "leads.update": Merge(Lead, "lead_id", notes=("note",)),
    }
    for name, handler in commands.items():
        registry.register(name, handler, merge=merges.get(name))
    return registry


def reminder_commands(registry: Registry) -> Registry:
    """Reminders are on the device: made, snoozed, done, edited and deleted offline too."""
    registry.register("reminders.create", lambda s, u, a, _: reminders.create(s, u, a, record_id=a.get("id")))
    registry.register("reminders.update", lambda s, u, a, _: reminders.update(s, u, a.get("reminder_id"), a),
                      merge=Merge(Reminder, "reminder_id"))  # fmt: skip
    registry.register(
        "reminders.complete",
        lambda s, u, a, c: reminders.complete(s, u, a.get("reminder_id"), now=c.received_at),
    )
    registry.register(
        "reminders.snooze",
        lambda s, u, a, c: reminders.snooze(s, u, a.get("reminder_id"), a, now=c.received_at),
    )
    registry.register("reminders.delete", lambda s, u, a, _: reminders.delete(s, u, a.get("reminder_id")))
    return registry


def quote_commands(registry: Registry) -> Registry:
    """A rep drafts, changes and submits quotes offline; a manager approves or rejects offline.
    A quote's lines are one document (no per-field merge); a decision names the revision it saw."""
    commands: dict[str, Handler] = {
        "quotes.create": lambda s, u, a, _: quotes.create(s, u, a, record_id=a.get("id")),
        "quotes.update": lambda s, u, a, _: quotes.update(s, u, a.get("quote_id"), a),
        "quotes.submit": lambda s, u, a, _: approvals.submit(s, u, a.get("quote_id"), a),
        "quotes.approve": lambda s, u, a, _: approvals.approve(s, u, a.get("quote_id"), a),
        "quotes.reject": lambda s, u, a, _: approvals.reject(s, u, a.get("quote_id"), a),
        "quotes.mark_sent": lambda s, u, a, _: quotes.mark_sent(s, u, a.get("quote_id")),
        "quotes.mark_accepted": lambda s, u, a, _: quotes.mark_accepted(s, u, a.get("quote_id")),
    }
    for name, handler in commands.items():
        registry.register(name, handler)
    return registry


def default_registry() -> Registry:
    registry = quote_commands(reminder_commands(rep_day_commands(Registry())))
    registry.register("sync.resolve_conflict", lambda s, u, a, _: conflicts.resolve(s, u, a))
    return registry
