"""Who is asking, what they may do, and the ONE scoping function that decides what they may see.

Every view, JSON endpoint and (later) the sync pull asks `visible(actor, Model)` for the records
a user may see; nothing queries around it.
"""

from __future__ import annotations

import copy
import functools
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware.authentication import AuthenticationResult
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.security.session_auth.middleware import SessionAuthMiddleware
from litestar.types import Empty
from sqlalchemy import ColumnElement, Select, and_, bindparam, false, or_, select, true

from server.accounts.models import Account
from server.contacts.models import Contact
from server.db import locked
from server.errors import Message, NotFound, ValidationError
from server.i18n import N_
from server.leads.models import Lead
from server.orders.models import Order
from server.organisation.models import OrganisationPolicy
from server.quotes.models import ApprovalRule, Product, Quote, QuoteApproval
from server.reminders.models import Reminder
from server.users.models import Role, TeamManager, User
from server.validation import parse_uuid
from server.visits.models import Visit

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.db import Versioned

# Route handlers that anyone may reach carry this in their `opt`; everything else needs a user.
PUBLIC = {"exclude_from_auth": True, "public": True}
# The 401 of someone whose account was deactivated or deleted (not merely signed out).
ACCOUNT_INACTIVE = "account_inactive"
SESSION_USER_KEY = "user_id"
_FRESH_SESSION_ID = "fieldbook_fresh_session_id"
_LOADED_SESSION = "fieldbook_loaded_session"
_RENEWED_AT = "renewed_at"
# An unchanged session is written back (renewing its expiry) at most this often.
SESSION_RENEWAL_SECONDS = 3600


# --- sessions -------------------------------------------------------------------------------


class RotatingSessionBackend(ServerSideSessionBackend):
    """Litestar's server-side sessions, plus a new session id at sign-in (no session fixation),
    written back only when a request changed them.

    Litestar writes the session after every request. The phone sends several at once (a page, a
    sync, the service worker keeping pages), and a request that only read the session would then
    write back the copy it loaded over what another one had just stored: a one-time message set
    by a form was lost that way. Unchanged sessions are still written now and then, so that an
    active person's session does not expire. Nor is a session written back, or its cookie sent,
    once another request signed the person in (a new id) or out.
    """

    def get_session_id(self, connection: ASGIConnection) -> str:
        fresh = connection.scope.get("state", {}).get(_FRESH_SESSION_ID)
        return fresh or super().get_session_id(connection)

    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        connection.scope.setdefault("state", {})[_LOADED_SESSION] = copy.deepcopy(data)
        return data

    async def store_in_message(self, scope_session: Any, message: Any, connection: ASGIConnection) -> None:
        state = connection.scope.get("state", {})
        loaded = state.get(_LOADED_SESSION)
        nothing_to_keep = scope_session is Empty or not scope_session
        # Nothing to keep and nothing was kept: no session row and no cookie. Above all not the
        # cookie the request came with: it may name the session a sign-in has just replaced (the
        # service worker asks for pages in the background), and would sign the person out again.
        if nothing_to_keep and not loaded:
            return
        if loaded and not state.get(_FRESH_SESSION_ID):
            if scope_session == loaded and time.time() - loaded.get(_RENEWED_AT, 0) < SESSION_RENEWAL_SECONDS:
                return
            if not await self._still_kept(connection):
                return  # signed in or out on another request meanwhile: this copy would undo that
        if not nothing_to_keep:
            scope_session[_RENEWED_AT] = int(time.time())
        await super().store_in_message(scope_session, message, connection)

    async def _still_kept(self, connection: ASGIConnection) -> bool:
        store = self.config.get_store_from_app(connection.scope["app"])
        return await store.exists(self.get_session_id(connection))


class RotatingSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend


class SignedInOnly(SessionAuthMiddleware):
    """Litestar's session sign-in check, except that a request from someone not signed in leaves
    their session as it is. Litestar empties it, and the session of someone signing in holds the
    sign-in in progress: the service worker keeping a page in the background then ended the sign-in
    before the identity provider sent the person back."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        session = connection.scope.get("session")
        user = (
            await self.retrieve_user_handler(session, connection)
            if isinstance(session, dict) and session
            else None
        )
        if user is None:
            raise NotAuthorizedException("not signed in")
        return AuthenticationResult(user=user, auth=session)


async def sign_in(connection: ASGIConnection, user: User, **extra: Any) -> None:
    """Start a session for `user` under a new session id; the old id stops working."""
    config: RotatingSessionConfig = connection.app.state["session_config"]
    old_id = connection.cookies.get(config.key)
    if old_id and old_id != "null":
        await config.get_store_from_app(connection.app).delete(old_id)
    connection.scope.setdefault("state", {})[_FRESH_SESSION_ID] = secrets.token_hex(config.session_id_bytes)
    connection.set_session({SESSION_USER_KEY: str(user.id), **extra})


def sign_out(connection: ASGIConnection) -> None:
    connection.clear_session()


def db_session(connection: ASGIConnection) -> AsyncSession:
    """The request's database session (the same one handlers receive as `db_session`)."""
    alchemy = connection.app.state["alchemy"]
    return alchemy.provide_session(connection.app.state, connection.scope)


async def retrieve_user(session_data: dict[str, Any], connection: ASGIConnection) -> User | None:
    """Session -> User. A deactivated user's sessions stop working on their next request."""
    user_id = parse_uuid(session_data.get(SESSION_USER_KEY))
    if user_id is None:
        return None
    session = db_session(connection)
    user = await session.get(User, user_id)
    # End the read's transaction, so the request holds no connection until its handler needs one
    # (the sync endpoints open their own): never one connection held while waiting for another.
    # The person stays loaded (expire_on_commit is off).
    await session.commit()
    if user is None or not user.is_active or user.deleted_at is not None:
        # Said apart from "not signed in", so a device wipes what it holds for this person.
        raise NotAuthorizedException(extra={"reason": ACCOUNT_INACTIVE})
    return user


def current_user(connection: ASGIConnection) -> User | None:
    """The signed-in user, or None on public routes and for anonymous visitors."""
    user = connection.scope.get("user")
    return user if isinstance(user, User) else None


# --- guards ---------------------------------------------------------------------------------


def requires_role(*roles: Role) -> Any:
    allowed = frozenset(roles)

    def guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
        user = current_user(connection)
        if user is None:
            raise NotAuthorizedException()
        if user.role not in allowed:
            raise PermissionDeniedException()

    guard.__name__ = f"requires_role({', '.join(sorted(allowed))})"
    return guard


# --- scoping ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """What scoping reads of a user. The clauses below are built once per person and kind (a sync
    push reads a record through `visible()` for every mutation, and building the clause cost as
    much as running the query); the same clause serves every statement it goes into."""

    id: uuid.UUID
    role: Role
    team_id: uuid.UUID | None

    @classmethod
    def of(cls, user: User | Person) -> Person:
        return cls(user.id, user.role, user.team_id)


def visible_owner_ids(actor: User | Person) -> Select[tuple[uuid.UUID]]:
    """The users whose records `actor` may see: themselves, plus everyone in the teams they lead."""
    return _owner_ids(Person.of(actor))


@functools.lru_cache(maxsize=1024)
def _owner_ids(actor: Person) -> Select[tuple[uuid.UUID]]:
    if actor.role is Role.ADMIN:
        return select(User.id)
    if actor.role is Role.MANAGER:
        # A manager leads their own team, and any other team they are named manager of.
        led_teams = select(TeamManager.team_id).where(
            TeamManager.user_id == actor.id, TeamManager.deleted_at.is_(None)
        )
        own_team = User.team_id == actor.team_id if actor.team_id is not None else false()
        return select(User.id).where(or_(User.id == actor.id, User.team_id.in_(led_teams), own_team))
    return select(User.id).where(User.id == actor.id)


def visible(actor: User | Person, model: type[Versioned]) -> ColumnElement[bool]:
    """THE scoping function: a WHERE clause for the rows of `model` that `actor` may see.

    A rep sees their own accounts and what hangs off them, a manager their teams', an admin
    everything. Tombstoned rows are never visible here; the sync pull asks for them separately.
    """
    return _visible(Person.of(actor), model)


@functools.lru_cache(maxsize=1024)
def _visible(actor: Person, model: type[Versioned]) -> ColumnElement[bool]:
    alive = model.deleted_at.is_(None)
    if model is Account:
        if actor.role is Role.ADMIN:
            return alive
        return and_(alive, Account.owner_id.in_(visible_owner_ids(actor)))
    if model is Contact:
        return and_(alive, Contact.account_id.in_(select(Account.id).where(visible(actor, Account))))
    if model is Order:
        return and_(alive, Order.account_id.in_(select(Account.id).where(visible(actor, Account))))
    if model is Visit:
        # The rep's own visits and their team's; and every visit to an account one may see, so
        # whoever owns the account now sees its history.
        return and_(
            alive,
            or_(
                Visit.owner_id.in_(visible_owner_ids(actor)),
                Visit.account_id.in_(select(Account.id).where(visible(actor, Account))),
            ),
        )
    if model is Lead:
        return and_(
            alive, true() if actor.role is Role.ADMIN else Lead.owner_id.in_(visible_owner_ids(actor))
        )
    if model is Reminder:  # one's own, and a manager their teams' (as for leads)
        return and_(
            alive, true() if actor.role is Role.ADMIN else Reminder.owner_id.in_(visible_owner_ids(actor))
        )
    if model is Quote:  # a rep's own quotes, a manager their teams' (deciding is checked apart)
        return and_(
            alive, true() if actor.role is Role.ADMIN else Quote.owner_id.in_(visible_owner_ids(actor))
        )
    if model is QuoteApproval:
        return and_(alive, QuoteApproval.quote_id.in_(select(Quote.id).where(visible(actor, Quote))))
    if model in (OrganisationPolicy, Product, ApprovalRule):  # the organisation's, read by everyone
        return alive
    if model is User:
        return and_(alive, true() if actor.role is Role.ADMIN else User.id.in_(visible_owner_ids(actor)))
    raise TypeError(f"no scoping rule for {model.__name__}")


@functools.lru_cache(maxsize=1024)
def _one_visible(actor: Person, model: type[Versioned]) -> Select[tuple[Any]]:
    # Built once per person and kind: SQLAlchemy keeps a statement's cache key on the statement, so
    # a push reading a record for each of its mutations skips building and hashing the clause.
    return select(model).where(model.id == bindparam("record_id"), _visible(actor, model))


async def get_visible(
    session: AsyncSession, actor: User, model: type[Versioned], record_id: Any, *, for_change: bool = False
) -> Any:
    """Load one record the actor may see, or raise NotFound (never 'forbidden': that would leak that it exists).

    `for_change`: a command is about to change it, so it is read again under its row's lock
    (`server.db.locked`): the checks the command makes (a visit's status, a quote's revision) see
    what another transaction committed meanwhile, and a change still uncommitted is waited for."""
    parsed = parse_uuid(record_id)
    record = None
    if parsed is not None:
        record = await session.scalar(_one_visible(Person.of(actor), model), {"record_id": parsed})
    if record is not None and for_change:
        await locked(session, model, record.id)
    if record is None or record.deleted_at is not None:  # (deleted while this one waited for the lock)
        raise NotFound(Message(N_("That record does not exist or is not yours to see.")))
    return record


async def check_assignable_owner(session: AsyncSession, actor: User, owner_id: uuid.UUID) -> User:
    """The owner a record may be given by `actor`: an active rep or manager the actor can see."""
    owner = await session.scalar(
        select(User).where(
            User.id == owner_id,
            User.is_active.is_(True),
            User.role.in_((Role.REP, Role.MANAGER)),
            visible(actor, User),
        )
    )
    if owner is None:
        raise ValidationError({"owner_id": Message(N_("You cannot give this record to that person."))})
    return owner
