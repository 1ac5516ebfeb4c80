"""People who use Fieldbook and the teams they work in."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import Boolean, Enum, Float, ForeignKey, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db import Versioned


class Role(enum.StrEnum):
    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


class Team(Versioned):
    __tablename__ = "teams"

    name: Mapped[str] = mapped_column(String(120), unique=True)
    members: Mapped[list[User]] = relationship(back_populates="team", foreign_keys="User.team_id")


class User(Versioned):
    __tablename__ = "users"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        Enum(
            Role,
            native_enum=False,
            length=16,
            validate_strings=True,
            values_callable=lambda roles: [r.value for r in roles],
        )
    )
    team_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("teams.id"), index=True, default=None)
    # The manager a rep reports to (approvals and reminders go there).
    manager_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), index=True, default=None)
    # The UI language this person chose; None means "follow the browser".
    locale: Mapped[str | None] = mapped_column(String(16), default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # The identity provider's stable id for this person (the id_token's `sub`).
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True, default=None)
    # The provisioning system's id for this person (SCIM externalId).
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(DateTimeUTC(timezone=True), default=None)
    # IANA zone name: what "today" and due times mean for this person.
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    # Where the day's route starts when the phone gives no position.
    home_latitude: Mapped[float | None] = mapped_column(Float, default=None)
    home_longitude: Mapped[float | None] = mapped_column(Float, default=None)
    # Quiet hours on their clock: no reminder pushes from start to end (it may span midnight).
    quiet_start: Mapped[dt.time | None] = mapped_column(Time, default=None)
    quiet_end: Mapped[dt.time | None] = mapped_column(Time, default=None)

    team: Mapped[Team | None] = relationship(back_populates="members", foreign_keys=[team_id], lazy="joined")

    @property
    def zone(self) -> ZoneInfo:
        try:
            return ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    @property
    def invited(self) -> bool:
        """Set up by an admin or provisioning, and not signed in yet."""
        return self.last_sign_in_at is None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_manager(self) -> bool:
        return self.role is Role.MANAGER


class TeamManager(Versioned):
    """A manager leads one or more teams; a team may have more than one manager."""

    __tablename__ = "team_managers"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)


class Group(Versioned):
    """A group as the identity provider knows it (SCIM Groups); membership maps to roles and teams."""

    __tablename__ = "groups"

    display_name: Mapped[str] = mapped_column(String(200), unique=True)
    external_id: Mapped[str | None] = mapped_column(String(255), default=None)


class GroupMember(Versioned):
    __tablename__ = "group_members"
    __table_args__ = (UniqueConstraint("group_id", "user_id"),)

    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("groups.id"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"), index=True)
