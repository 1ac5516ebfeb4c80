"""Leads: the named commands (capture, update, assign, convert, disqualify) and the open-leads list."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from advanced_alchemy.service import OffsetPagination
from sqlalchemy import func, select

from server.accounts import service as accounts
from server.accounts import tiers
from server.accounts.models import Account
from server.auth import check_assignable_owner, get_visible, visible
from server.commands import apply_changes, client_id, insert
from server.contacts import service as contacts
from server.db import utcnow
from server.errors import Message, PermissionDenied, ValidationError
from server.i18n import N_
from server.leads import matching, scoring
from server.leads.models import Lead, LeadSource, LeadStatus
from server.reminders import service as reminders
from server.reminders.models import LinkKind
from server.users.models import Role, User
from server.validation import Fields, digits
from server.visits.models import Visit, VisitStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

FIELDS = ("name", "company", "phone", "email", "note", "source")
PAGE_SIZE = 25
RECENT_VISITS = dt.timedelta(days=90)


def _validate(raw: Mapping[str, Any]) -> dict[str, Any]:
    fields = Fields(raw)
    fields.text("name", max_length=200)
    fields.text("company", max_length=200)
    fields.phone("phone")
    fields.email("email")
    fields.text("note", max_length=5_000)
    fields.choice("source", LeadSource, default=LeadSource.OTHER)
    values = fields.result()
    if not values["name"] and not values["company"]:
        raise ValidationError({"name": Message(N_("Give a name or a company."))})
    if not values["phone"] and not values["email"]:
        raise ValidationError({"phone": Message(N_("Give a phone number or an email address."))})
    return values


async def _engagement(session: AsyncSession, account_id: uuid.UUID) -> scoring.Engagement:
    since = utcnow().date() - RECENT_VISITS
    visits = await session.scalar(
        select(func.count()).select_from(Visit).where(
            Visit.account_id == account_id, Visit.status == VisitStatus.DONE, Visit.planned_on >= since,
            Visit.deleted_at.is_(None),
        )
    )  # fmt: skip
    ordered = account_id in await tiers.order_values(session, [account_id])
    return scoring.Engagement(recent_visits=visits or 0, ordered_recently=ordered)


async def score_of(session: AsyncSession, lead: Lead) -> tuple[int, list[tuple[str, int]]]:
    """The lead's score and its reasons, from the lead and the account it matched (if any)."""
    account = await session.get(Account, lead.account_id) if lead.account_id else None
    if account is None or account.deleted_at is not None:
        return scoring.score(lead, None, scoring.Engagement())
    return scoring.score(lead, account.effective_tier, await _engagement(session, account.id))


async def _best_match(session: AsyncSession, actor: User, values: Mapping[str, Any]) -> Account | None:
    """The account a lead surely belongs to (same phone, email or company name), if there is one."""
    # Other leads are not looked at: a lead is never a lead's account.
    found = await matching.find(
        session, actor, phone=values["phone"], email=values["email"], company=values["company"], leads=False
    )
    for match in found:
        if match.strong and match.account_id:
            return await session.get(Account, match.account_id)
    return None


async def _owner_for(session: AsyncSession, actor: User, account: Account | None) -> uuid.UUID:
    """Assignment rule: a lead for a known customer goes to that customer's rep; otherwise to whoever captured it."""
    if account is not None and account.owner.is_active and account.owner.role is not Role.ADMIN:
        return account.owner_id
    return actor.id


def _derived(values: Mapping[str, Any]) -> dict[str, Any]:
    return {"phone_digits": digits(values["phone"]), "company_key": matching.company_key(values["company"])}


async def capture(
    session: AsyncSession, actor: User, raw: Mapping[str, Any], *, record_id: Any = None
) -> Lead:
    """leads.capture: a new lead, matched to a known account where it surely is one, scored and owned."""
    lead_id = client_id(record_id)
    if await session.get(Lead, lead_id):
        return await get(session, actor, lead_id, for_change=True)
    values = _validate(raw)
    account = await _best_match(session, actor, values)
    lead = Lead(
        id=lead_id,
        status=LeadStatus.OPEN,
        owner_id=await _owner_for(session, actor, account),
        captured_by_id=actor.id,
        account_id=account.id if account else None,
        **values,
        **_derived(values),
    )
    lead.score = (await score_of(session, lead))[0]
    return await insert(session, actor, lead, "leads.capture", (*FIELDS, "owner_id", "account_id", "score"))


async def get(session: AsyncSession, actor: User, lead_id: Any, *, for_change: bool = False) -> Lead:
    return await get_visible(session, actor, Lead, lead_id, for_change=for_change)


def _check_open(lead: Lead) -> None:
    if lead.status is not LeadStatus.OPEN:
        raise ValidationError({"status": Message(N_("This lead is closed already."))})


async def update(session: AsyncSession, actor: User, lead_id: Any, raw: Mapping[str, Any]) -> Lead:
    """leads.update: correct the lead's details; the score follows."""
    lead = await get(session, actor, lead_id, for_change=True)
    _check_open(lead)
    values = _validate(raw)
    values |= _derived(values)
    # Score the lead as it will be, on an unsaved copy.
    values["score"] = (await score_of(session, Lead(**values, account_id=lead.account_id)))[0]
    await apply_changes(session, actor, lead, values, "leads.update")
    return lead


async def assign(session: AsyncSession, actor: User, lead_id: Any, raw: Mapping[str, Any]) -> Lead:
    """leads.assign: a manager hands the lead to a rep of theirs."""
    if actor.role is Role.REP:
        raise PermissionDenied(Message(N_("Only managers can reassign leads.")))
    lead = await get(session, actor, lead_id, for_change=True)
    _check_open(lead)
    fields = Fields(raw)
    fields.uuid("owner_id", required=True)
    owner = await check_assignable_owner(session, actor, fields.result()["owner_id"])
    changed = await apply_changes(session, actor, lead, {"owner_id": owner.id}, "leads.assign")
    if changed and owner.id != actor.id:  # the new owner is reminded of it at once
        title = reminders.in_language_of(
            owner, Message(N_("Lead %(name)s is yours now"), {"name": lead.company or lead.name})
        )
        await reminders.remind(session, owner, title, utcnow(), (LinkKind.LEAD, lead.id))
    return lead


async def disqualify(session: AsyncSession, actor: User, lead_id: Any, raw: Mapping[str, Any]) -> Lead:
    """leads.disqualify: not a customer, and why."""
    lead = await get(session, actor, lead_id, for_change=True)
    _check_open(lead)
    fields = Fields(raw)
    fields.text("disqualify_reason", required=True, max_length=500)
    values = fields.result()
    await apply_changes(
        session, actor, lead, {**values, "status": LeadStatus.DISQUALIFIED}, "leads.disqualify"
    )
    return lead


async def convert(session: AsyncSession, actor: User, lead_id: Any, raw: Mapping[str, Any]) -> Lead:
    """leads.convert: the lead becomes a customer, as a new account with a contact or merged into one.

    `raw` may name an existing `account_id` (merge) and an existing `contact_id` there (the same
    person); ids for the new account and contact come from the client, so a replay makes nothing twice.
    """
    lead = await get(session, actor, lead_id, for_change=True)
    _check_open(lead)
    fields = Fields(raw)
    fields.uuid("account_id")
    fields.uuid("contact_id")
    chosen = fields.result()
    if chosen.get("account_id"):
        account = await accounts.get(session, actor, chosen["account_id"])
    else:
        account_fields = {
            "name": lead.company or lead.name,
            "phone": lead.phone,
            "owner_id": str(lead.owner_id),
        }
        account = await accounts.create(session, actor, account_fields, record_id=raw.get("new_account_id"))
    contact_id = None
    if chosen.get("contact_id"):
        contact = await contacts.get(session, actor, chosen["contact_id"])
        if contact.account_id != account.id:
            raise ValidationError({"contact_id": Message(N_("That contact is at another account."))})
        contact_id = contact.id
    elif lead.name:
        contact_fields = {"name": lead.name, "phone": lead.phone, "email": lead.email}
        contact = await contacts.create(
            session, actor, account.id, contact_fields, record_id=raw.get("new_contact_id")
        )
        contact_id = contact.id
    values = {"status": LeadStatus.CONVERTED, "account_id": account.id, "contact_id": contact_id}
    await apply_changes(session, actor, lead, values, "leads.convert")
    return lead


def filters(actor: User, *, mine_only: bool = False) -> list[Any]:
    """The open-leads list's WHERE clauses (the CSV export uses them too)."""
    where = [visible(actor, Lead), Lead.status == LeadStatus.OPEN]
    if mine_only:
        where.append(Lead.owner_id == actor.id)
    return where


async def open_leads(
    session: AsyncSession, actor: User, *, mine_only: bool = False, offset: int = 0, limit: int = PAGE_SIZE
) -> OffsetPagination[Lead]:
    """Open leads the actor may see, best score first."""
    where = filters(actor, mine_only=mine_only)
    total = await session.scalar(select(func.count()).select_from(Lead).where(*where)) or 0
    rows = await session.scalars(
        select(Lead)
        .where(*where)
        .order_by(Lead.score.desc(), Lead.created_at.desc(), Lead.id)
        .offset(offset)
        .limit(limit)
    )
    return OffsetPagination(items=list(rows), total=total, offset=offset, limit=limit)


async def for_account(session: AsyncSession, actor: User, account_id: uuid.UUID) -> list[Lead]:
    rows = await session.scalars(
        select(Lead)
        .where(visible(actor, Lead), Lead.account_id == account_id)
        .order_by(Lead.created_at.desc())
        .limit(20)
    )
    return list(rows)
