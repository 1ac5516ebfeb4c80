"""Every model, imported in one place so that Alembic and the test suite see the whole schema."""

from server.accounts.models import Account
from server.audit.models import AuditEvent
from server.contacts.models import Contact
from server.db import ChangeCounter, KeyValueItem, metadata
from server.orders.models import Order, OrderLine, OrderStatusEvent
from server.tokens.models import ApiToken
from server.users.models import Group, GroupMember, Team, TeamManager, User

__all__ = ["Account", "ApiToken", "AuditEvent", "ChangeCounter", "Contact", "Group", "GroupMember", "KeyValueItem", "Order", "OrderLine", "OrderStatusEvent", "Team", "TeamManager", "User", "metadata"]
