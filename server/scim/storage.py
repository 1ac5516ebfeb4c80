"""scim2-server's storage over Fieldbook's tables: users and groups as SCIM resources.

Reads build the resources from the rows; writes go through the users and groups commands with
no actor (the provisioning system), so they are validated, versioned and audited like any
other change. The caller owns the transaction: it commits when the request succeeded and rolls
back otherwise, so a failed request never leaves half a change behind.

A resource's version (its ETag) is the change sequence of its last change, memberships
included: a group's members and a user's groups are part of what they are.

Searches are evaluated by scim2-models' own filter and sort, so they behave exactly as RFC 7644
and the published schemas say. The lookups identity providers make all the time (userName,
emails, externalId or id `eq` a value) first narrow the users down in SQL.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, Union, cast

from scim2_models import (
    InvalidValueException,
    NotFoundException,
    PreconditionFailedException,
    Resource,
    ResourceType,
    ResponseParameters,
    ScimFilter,
    ScimProvider,
    SearchRequest,
    UniquenessException,
)
from scim2_models.path import CompareOperator, Comparison
from scim2_server.storage import AsyncScimStorage, SearchPage
from scim2_server.utils import parametrize
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import IntegrityError

from server.db import stamp_versions
from server.errors import NotFound, ValidationError
from server.users import groups
from server.users import service as users
from server.users.models import Group, GroupMember, User
from server.validation import parse_uuid

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.settings import Settings

# Fieldbook's field names -> the SCIM attributes people know them by, for error messages.
# A record this storage loads by id.
R = TypeVar("R", User, Group)

SCIM_NAMES = {
    "email": "userName",
    "name": "displayName",
    "external_id": "externalId",
    "display_name": "displayName",
    "members": "members",
    "is_active": "active",
}
EMAIL_TAKEN = "Someone already has this email address."
# Filters narrowed down in SQL before scim2-models evaluates them: attribute -> column kind.
USER_LOOKUPS = {
    "username": "email",
    "emails": "email",
    "emails.value": "email",
    "externalid": "external_id",
    "id": "id",
}


def _version(value: int) -> str:
    return f'W/"{value}"'


def _comparison_key(value: str, *, case_exact: bool) -> str:
    normalized = unicodedata.normalize("NFC", value)
    return normalized if case_exact else unicodedata.normalize("NFC", normalized.lower())


class FieldbookStorage(AsyncScimStorage):
    """Users and Groups, for one request and its database session."""

    supports_cursors = False

    def __init__(self, session: AsyncSession, settings: Settings, provider: ScimProvider) -> None:
        self.session = session
        self.settings = settings
        self.provider = provider

    # -- the SCIM storage interface --------------------------------------------------------------

    @asynccontextmanager
    async def operation(self) -> AsyncIterator[None]:
        """Turn Fieldbook's command errors into SCIM errors."""
        try:
            yield
        except NotFound as error:
            raise NotFoundException(detail=error.message.render()) from error
        except ValidationError as error:
            raise _scim_error(error) from error
        except IntegrityError as error:  # two requests raced for the same unique value
            raise UniquenessException(detail="That value is already taken.") from error

    async def get(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        response_parameters: ResponseParameters[Any] | None = None,
    ) -> Resource[Any]:
        if resource_type.name == "User":
            return (await self._users([await self._user(resource_id)]))[0]
        return (await self._groups([await self._group(resource_id)]))[0]

    async def search(
        self,
        resource_types: list[ResourceType],
        search_request: SearchRequest[Any],
        *,
        position: Any = None,
    ) -> SearchPage:
        scim_filter = search_request.filter
        start = search_request.start_index_0 or 0
        stop = None if search_request.count is None else start + search_request.count
        if scim_filter is None and search_request.sort_by is None and len(resource_types) == 1:
            return await self._page(resource_types[0], start, search_request.count)
        found: list[Resource[Any]] = []
        for resource_type in resource_types:
            if resource_type.name == "User":
                narrowed = self._narrow(scim_filter) if len(resource_types) == 1 else None
                rows = await self.session.scalars(
                    select(User).where(
                        User.deleted_at.is_(None), *([narrowed] if narrowed is not None else [])
                    )
                )
                found.extend(await self._users(list(rows)))
            else:
                rows = await self.session.scalars(select(Group).where(Group.deleted_at.is_(None)))
                found.extend(await self._groups(list(rows)))
        if scim_filter is not None:
            if not scim_filter.models and found:
                models = tuple(dict.fromkeys(type(resource) for resource in found))
                scim_filter = parametrize(ScimFilter, Union[models])(str(scim_filter))  # noqa: UP007
            found = [resource for resource in found if scim_filter.match(resource)]
        found.sort(key=lambda resource: cast(str, resource.id))  # as _page orders them: by id
        if search_request.sort_by is not None:
            found = search_request.sort(found)
        return SearchPage(total=len(found), resources=found[start:stop])

    async def _page(self, resource_type: ResourceType, start: int, count: int | None) -> SearchPage:
        """A page of every user or group, paged in SQL: what a full sync asks for, page after page."""
        model = User if resource_type.name == "User" else Group
        alive = model.deleted_at.is_(None)
        total = await self.session.scalar(select(func.count()).select_from(model).where(alive)) or 0
        if count == 0:
            return SearchPage(total=total, resources=[])
        rows = list(
            await self.session.scalars(
                select(model).where(alive).order_by(model.id).offset(start).limit(count)
            )
        )
        resources = await (self._users(rows) if model is User else self._groups(rows))
        return SearchPage(total=total, resources=resources)

    async def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        if resource_type.name == "User":
            values = self._user_values(resource)
            await self._check_email(values["email"])
            user = await users.invite(self.session, None, values)
            if resource.active is False:
                await users.set_active(self.session, None, user.id, False)
            return (await self._users([user]))[0]
        group = await groups.create(
            self.session,
            None,
            self._group_values(resource),
            self.settings,
            members=self._member_ids(resource),
        )
        return (await self._groups([group]))[0]

    async def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        if resource_type.name == "User":
            user = await self._user(resource.id, for_update=True)
            await self._check_version(resource_type, user.id, expected_version)
            values = self._user_values(resource, user)
            await self._check_email(values["email"], user.id)
            await users.change(self.session, None, user.id, values)
            if resource.active is not None and resource.active != user.is_active:
                # Deactivation ends the person's sessions at their next request.
                await users.set_active(self.session, None, user.id, resource.active)
            return (await self._users([user]))[0]
        group = await self._group(resource.id, for_update=True)
        await self._check_version(resource_type, group.id, expected_version)
        await groups.change(self.session, None, group.id, self._group_values(resource), self.settings)
        await groups.set_members(self.session, None, group.id, self._member_ids(resource), self.settings)
        return (await self._groups([group]))[0]

    async def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        if resource_type.name == "User":
            user = await self._user(resource_id, for_update=True)
            await self._check_version(resource_type, user.id, expected_version)
            await groups.delete_user(self.session, None, user.id, self.settings)
        else:
            group = await self._group(resource_id, for_update=True)
            await self._check_version(resource_type, group.id, expected_version)
            await groups.delete(self.session, None, group.id, self.settings)

    # -- from SCIM to Fieldbook ------------------------------------------------------------------

    @staticmethod
    def _user_values(resource: Resource[Any], user: User | None = None) -> dict[str, Any]:
        email = (resource.user_name or "").strip()
        name = (resource.display_name or "").strip() or (user.name if user else "") or email
        return {"email": email, "name": name, "external_id": resource.external_id or ""}

    @staticmethod
    def _group_values(resource: Resource[Any]) -> dict[str, Any]:
        return {"display_name": resource.display_name or "", "external_id": resource.external_id or ""}

    @staticmethod
    def _member_ids(resource: Resource[Any]) -> list[str]:
        return [str(member.value) for member in resource.members or []]

    async def _check_email(self, email: str, user_id: uuid.UUID | None = None) -> None:
        """userName is unique whatever its case (RFC 7643): a taken one is a 409, not a 400."""
        taken = await self.session.scalar(select(User.id).where(func.lower(User.email) == email.lower()))
        if taken is not None and taken != user_id:
            raise UniquenessException(detail="Another user already has this userName.")

    # -- from Fieldbook to SCIM ------------------------------------------------------------------

    async def _live(self, model: type[R], label: str, resource_id: Any, *, for_update: bool) -> R:
        """A user or group that exists and is not deleted, optionally locked for a change."""
        parsed = parse_uuid(resource_id)
        record = (
            await self.session.get(
                model,
                parsed,
                with_for_update={"of": model} if for_update else None,
                populate_existing=for_update,
            )
            if parsed
            else None
        )
        if record is None or record.deleted_at is not None:
            raise NotFoundException(detail=f"{label} {resource_id!r} not found")
        return record

    async def _user(self, resource_id: Any, *, for_update: bool = False) -> User:
        return await self._live(User, "User", resource_id, for_update=for_update)

    async def _group(self, resource_id: Any, *, for_update: bool = False) -> Group:
        return await self._live(Group, "Group", resource_id, for_update=for_update)

    async def _check_version(
        self, resource_type: ResourceType, record_id: uuid.UUID, expected: str | None
    ) -> None:
        if expected is None:
            return
        model, column = (
            (User, GroupMember.user_id) if resource_type.name == "User" else (Group, GroupMember.group_id)
        )
        record = await self.session.get(model, record_id)
        changes = await self._membership_changes(column, [record_id])
        version = max(record.version, changes.get(record_id, (0, record.updated_at))[0])
        if _version(version) != expected:
            raise PreconditionFailedException(detail="The resource changed since that version.")

    async def _membership_changes(
        self, column: Any, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[int, dt.datetime]]:
        """The last change to the memberships of each record (ended ones count: they changed it).

        A resource's version (its ETag) is the record's: a change made in this request is stamped
        with its real version first (server.db.stamp_versions), ahead of the commit that follows."""
        await stamp_versions(self.session)
        if not ids:
            return {}
        rows = await self.session.execute(
            select(column, func.max(GroupMember.version), func.max(GroupMember.updated_at))
            .where(column.in_(ids))
            .group_by(column)
        )
        return {record_id: (version, updated) for record_id, version, updated in rows.tuples()}

    async def _users(self, rows: list[User]) -> list[Resource[Any]]:
        model = self.provider.model_for("User")
        ids = [user.id for user in rows]
        changes = await self._membership_changes(GroupMember.user_id, ids)
        memberships: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        if ids:
            rows_ = await self.session.execute(
                select(GroupMember.user_id, Group.id, Group.display_name)
                .join(Group, Group.id == GroupMember.group_id)
                .where(
                    GroupMember.user_id.in_(ids), GroupMember.deleted_at.is_(None), Group.deleted_at.is_(None)
                )
                .order_by(func.lower(Group.display_name), Group.id)
            )
            for user_id, group_id, name in rows_.tuples():
                memberships[user_id].append(
                    {"value": str(group_id), "$ref": f"Groups/{group_id}", "display": name}
                )
        resources = []
        for user in rows:
            version, updated = changes.get(user.id, (0, user.updated_at))
            resources.append(
                model.model_validate(
                    {
                        "schemas": [model.__schema__],
                        "id": str(user.id),
                        "externalId": user.external_id,
                        "userName": user.email,
                        "name": {"formatted": user.name},
                        "displayName": user.name,
                        "active": user.is_active,
                        "emails": [{"value": user.email, "type": "work", "primary": True}],
                        "groups": memberships.get(user.id) or None,
                        "meta": self._meta("User", user, version, updated),
                    }
                )
            )
        return resources

    async def _groups(self, rows: list[Group]) -> list[Resource[Any]]:
        model = self.provider.model_for("Group")
        ids = [group.id for group in rows]
        changes = await self._membership_changes(GroupMember.group_id, ids)
        members: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
        if ids:
            rows_ = await self.session.execute(
                select(GroupMember.group_id, User.id, User.name)
                .join(User, User.id == GroupMember.user_id)
                .where(
                    GroupMember.group_id.in_(ids), GroupMember.deleted_at.is_(None), User.deleted_at.is_(None)
                )
                .order_by(User.id)
            )
            for group_id, user_id, name in rows_.tuples():
                members[group_id].append({"value": str(user_id), "$ref": f"Users/{user_id}", "display": name})
        resources = []
        for group in rows:
            version, updated = changes.get(group.id, (0, group.updated_at))
            resources.append(
                model.model_validate(
                    {
                        "schemas": [model.__schema__],
                        "id": str(group.id),
                        "externalId": group.external_id,
                        "displayName": group.display_name,
                        "members": members.get(group.id) or None,
                        "meta": self._meta("Group", group, version, updated),
                    }
                )
            )
        return resources

    @staticmethod
    def _meta(resource_type: str, record: User | Group, version: int, updated: dt.datetime) -> dict[str, Any]:
        return {
            "resourceType": resource_type,
            "created": record.created_at,
            # Never before `created`: a new record's stamp comes a moment before its insert.
            "lastModified": max(record.created_at, record.updated_at, updated),
            "version": _version(max(record.version, version)),
        }

    # -- searching -------------------------------------------------------------------------------

    @staticmethod
    def _narrow(scim_filter: ScimFilter[Any] | None) -> ColumnElement[bool] | None:
        """A SQL condition every user the filter matches meets, for the lookups IdPs make; else None.

        scim2-models still evaluates the filter on what this finds, so it may find a few more.
        Emails are stored in lower case; values are compared as scim2-models compares them.
        """
        node = scim_filter.ast if scim_filter is not None else None
        if (
            not isinstance(node, Comparison)
            or node.op != CompareOperator.eq
            or not isinstance(node.value, str)
        ):
            return None
        path = node.attr_path
        if path.uri not in (None, "urn:ietf:params:scim:schemas:core:2.0:User"):
            return None
        attribute = f"{path.attr}.{path.sub_attr}" if path.sub_attr else path.attr
        kind = USER_LOOKUPS.get(attribute.lower())
        if kind == "email":
            return User.email.in_({node.value.lower(), _comparison_key(node.value, case_exact=False)})
        if kind == "external_id":
            return User.external_id.in_({node.value, _comparison_key(node.value, case_exact=True)})
        if kind == "id":
            parsed = parse_uuid(node.value)
            return User.id == parsed if parsed is not None else User.id.is_(None)
        return None


def _scim_error(error: ValidationError) -> Exception:
    """A command's field errors as a SCIM error: a taken value is a 409, anything else a 400."""
    if isinstance(error, groups.GroupNameTaken) or any(
        message.text == EMAIL_TAKEN for message in error.errors.values()
    ):
        return UniquenessException(detail="; ".join(_describe(error)))
    if isinstance(error, groups.UnknownMembers):
        return InvalidValueException(detail=f"members: no Fieldbook user has the id {', '.join(error.ids)}")
    return InvalidValueException(detail="; ".join(_describe(error)))


def _describe(error: ValidationError) -> list[str]:
    return [f"{SCIM_NAMES.get(field, field)}: {message.render()}" for field, message in error.errors.items()]
