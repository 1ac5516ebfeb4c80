"""Every model, imported in one place so that Alembic and the test suite see the whole schema."""

from server.accounts.models import Account
from server.audit.models import AuditEvent
from server.contacts.models import Contact
from server.db import ChangeCounter, KeyValueItem, metadata
from server.imports.models import ImportJob
from server.leads.models import Lead
from server.orders.models import Order, OrderLine, OrderStatusEvent
from server.organisation.models import OrganisationPolicy
from server.quotes.models import ApprovalRule, Product, Quote, QuoteApproval, QuoteEvent, QuoteLine
from server.reminders.models import Reminder
from server.reminders.push_models import PushAttempt, PushDelivery, PushSubscription, ReminderRing
from server.tokens.models import ApiToken
from server.users.models import Group, GroupMember, Team, TeamManager, User
from server.visits.models import Visit
from sync.models import ClientView, Conflict, Device, MutationRecord

__all__ = [
    "Account",
    "ApiToken",
    "ApprovalRule",
    "AuditEvent",
    "ChangeCounter",
    "ClientView",
    "Conflict",
    "Contact",
    "Device",
    "Group",
    "GroupMember",
    "ImportJob",
    "KeyValueItem",
    "Lead",
    "MutationRecord",
    "Order",
    "OrderLine",
    "OrderStatusEvent",
    "OrganisationPolicy",
    "Product",
    "PushAttempt",
    "PushDelivery",
    "PushSubscription",
    "Quote",
    "QuoteApproval",
    "QuoteEvent",
    "QuoteLine",
    "Reminder",
    "ReminderRing",
    "Team",
    "TeamManager",
    "User",
    "Visit",
    "metadata",
]
