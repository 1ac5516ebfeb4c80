"""Finding possible duplicates of a lead: the same phone or email, or a similar company name.

Phones are compared on their last nine digits, so "+44 161 496 0000" and "0161 496 0000" meet;
company names without case, punctuation or legal suffixes ("Smith & Sons Ltd" = "smith sons").
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select

from server.accounts.models import Account
from server.auth import visible
from server.contacts.models import Contact
from server.leads.models import Lead, LeadStatus
from server.validation import digits

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

LEGAL_WORDS = frozenset(
    "ltd limited plc llc llp inc incorporated co company corp corporation gmbh the and uk group "
    "有限公司 公司 集团".split()
)  # fmt: skip
SIMILAR = 0.85
# A name that starts another ("Mill Bakery" / "Mill Bakery Supplies") counts when it is this long.
MIN_PREFIX = 6
PHONE_KEY_DIGITS = 9
MAX_CANDIDATES = 200
MAX_MATCHES = 8


def phone_key(phone: str) -> str:
    """The part of a phone number that survives country and trunk prefixes."""
    number = digits(phone)
    return number[-PHONE_KEY_DIGITS:] if len(number) >= 6 else ""


def company_key(name: str) -> str:
    words = re.findall(r"\w+", name.lower())
    return " ".join(word for word in words if word not in LEGAL_WORDS)


def similar_company(a: str, b: str) -> bool:
    key_a, key_b = company_key(a), company_key(b)
    if not key_a or not key_b:
        return False
    if key_a == key_b:
        return True
    shorter, longer = sorted((key_a, key_b), key=len)
    if len(shorter) >= MIN_PREFIX and longer.startswith(shorter + " "):
        return True  # "Mill Bakery" and "Mill Bakery Supplies"
    # The two quick ratios are upper bounds of the ratio, far cheaper to work out: most names
    # checked are not alike, and a lead's capture checks up to MAX_CANDIDATES of them.
    matcher = SequenceMatcher(None, key_a, key_b)
    return all(ratio() >= SIMILAR for ratio in (matcher.real_quick_ratio, matcher.quick_ratio, matcher.ratio))


@dataclass
class Match:
    kind: str  # "account", "contact" or "lead"
    record: Any
    reasons: list[str] = field(default_factory=list)  # "phone", "email", "company"
    # The company name asked about, as a key, to tell "the same name" from "a similar one".
    asked_company_key: str = ""

    @property
    def account_id(self) -> uuid.UUID | None:
        return self.record.id if self.kind == "account" else self.record.account_id

    @property
    def strong(self) -> bool:
        """Same phone or email, or exactly the same company name: surely the same customer."""
        if {"phone", "email"} & set(self.reasons):
            return True
        name = self.record.name if self.kind == "account" else getattr(self.record, "company", "")
        return "company" in self.reasons and company_key(name) == self.asked_company_key


def _name_filter(column: Any, key: str) -> Any:
    """Candidates for a similar name: rows sharing the key's longest word (similarity decides later)."""
    longest = max(key.split(), key=len)
    return func.lower(column).like(f"%{longest[:20]}%")


async def find(
    session: AsyncSession,
    actor: User,
    *,
    phone: str = "",
    email: str = "",
    company: str = "",
    exclude_lead: uuid.UUID | None = None,
    leads: bool = True,
) -> list[Match]:
    """Leads (unless `leads` is false), accounts and contacts the actor may see that look like the
    same customer."""
    key_phone, key_email, key_company = phone_key(phone), email.strip().lower(), company_key(company)
    matches: dict[tuple[str, uuid.UUID], Match] = {}

    def add(kind: str, record: Any, reason: str) -> None:
        match = matches.setdefault((kind, record.id), Match(kind, record, asked_company_key=key_company))
        if reason not in match.reasons:
            match.reasons.append(reason)

    if key_phone or key_email:
        contact_terms = []
        if key_phone:
            contact_terms.append(Contact.phone_digits.like(f"%{key_phone}"))
        if key_email:
            contact_terms.append(Contact.email == key_email)
        for contact in await session.scalars(
            select(Contact).where(visible(actor, Contact), or_(*contact_terms)).limit(MAX_CANDIDATES)
        ):
            if key_phone and phone_key(contact.phone) == key_phone:
                add("contact", contact, "phone")
            if key_email and contact.email == key_email:
                add("contact", contact, "email")
    account_terms = []
    if key_phone:
        account_terms.append(Account.phone_digits.like(f"%{key_phone}"))
    if key_company:
        account_terms.append(_name_filter(Account.name, key_company))
    if account_terms:
        for account in await session.scalars(
            select(Account).where(visible(actor, Account), or_(*account_terms)).limit(MAX_CANDIDATES)
        ):
            if key_phone and phone_key(account.phone) == key_phone:
                add("account", account, "phone")
            if key_company and similar_company(account.name, company):
                add("account", account, "company")
    lead_terms = []
    if key_phone:
        lead_terms.append(Lead.phone_digits.like(f"%{key_phone}"))
    if key_email:
        lead_terms.append(Lead.email == key_email)
    if key_company:
        lead_terms.append(_name_filter(Lead.company_key, key_company))
    if leads and lead_terms:
        query = select(Lead).where(visible(actor, Lead), Lead.status == LeadStatus.OPEN, or_(*lead_terms))
        if exclude_lead is not None:
            query = query.where(Lead.id != exclude_lead)
        for lead in await session.scalars(query.limit(MAX_CANDIDATES)):
            if key_phone and phone_key(lead.phone) == key_phone:
                add("lead", lead, "phone")
            if key_email and lead.email == key_email:
                add("lead", lead, "email")
            if key_company and similar_company(lead.company, company):
                add("lead", lead, "company")
    ranked = sorted(matches.values(), key=lambda m: (-len(m.reasons), m.kind, str(m.record.id)))
    return ranked[:MAX_MATCHES]
