"""scim2-server's storage contract (AsyncScimStorageContract), run against Fieldbook's storage on
both databases.

Fieldbook's userName is an email address, and the contract names its users `bjensen`, `alice`...
`EmailUserNames` stands between them: it gives a bare name a fixed mail domain on the way in and
takes it off on the way out, and changes nothing else. The searches run on users whose
userNames are real addresses (`search_users`), so filters and sorts reach the storage as sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scim2_models import Resource, ResourceType, ScimProvider
from scim2_server.storage import AsyncScimStorage, SearchPage
from scim2_server.testing import SEARCH_FILTERS, SEARCH_SORTS, AsyncScimStorageContract, BlockingStorage
from sqlalchemy.ext.asyncio import AsyncSession

from server.db import create_engine
from server.scim.provider import build_provider
from server.scim.storage import FieldbookStorage
from tests.conftest import make_settings

DOMAIN = "@contract.example"
# Attributes of the contract's searches that Fieldbook's schema does not have: the contract would
# create its users and then skip these (the models refuse the search), so they are left out.
NOT_KEPT = ("title", "givenName", "familyName", "employeeNumber")


class EmailUserNames(AsyncScimStorage):
    """The contract's bare userNames as email addresses, and back."""

    def __init__(self, storage: FieldbookStorage) -> None:
        self.storage = storage

    @staticmethod
    def _in(resource: Resource[Any]) -> Resource[Any]:
        user_name = getattr(resource, "user_name", None)
        if user_name and "@" not in user_name:
            return resource.model_copy(update={"user_name": user_name + DOMAIN})
        return resource

    @staticmethod
    def _out(resource: Resource[Any]) -> Resource[Any]:
        user_name = getattr(resource, "user_name", None)
        if user_name and user_name.endswith(DOMAIN):
            resource.user_name = user_name.removesuffix(DOMAIN)
        return resource

    def operation(self) -> Any:
        return self.storage.operation()

    async def get(self, resource_type: ResourceType, resource_id: str, **kwargs: Any) -> Resource[Any]:
        return self._out(await self.storage.get(resource_type, resource_id, **kwargs))

    async def search(
        self, resource_types: list[ResourceType], search_request: Any, **kwargs: Any
    ) -> SearchPage:
        page = await self.storage.search(resource_types, search_request, **kwargs)
        page.resources = [self._out(resource) for resource in page.resources]
        return page

    async def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        return self._out(await self.storage.create(resource_type, self._in(resource)))

    async def update(
        self, resource_type: ResourceType, resource: Resource[Any], **kwargs: Any
    ) -> Resource[Any]:
        return self._out(await self.storage.update(resource_type, self._in(resource), **kwargs))

    async def delete(self, resource_type: ResourceType, resource_id: str, **kwargs: Any) -> None:
        await self.storage.delete(resource_type, resource_id, **kwargs)


class TestFieldbookStorage(AsyncScimStorageContract):
    @pytest.fixture
    def provider(self) -> ScimProvider:
        return build_provider()

    @pytest.fixture
    def storage(
        self, backend: str, migrated_databases: dict[str, str], tmp_path: Path, provider: ScimProvider
    ) -> Iterator[BlockingStorage]:
        """The storage over one database session, on one event loop, rolled back at the end.

        Nothing is committed, so the database needs no emptying afterwards (which is what makes
        these 240 tests quick).
        """
        settings = make_settings(migrated_databases[backend], tmp_path)
        with asyncio.Runner() as runner:
            engine = create_engine(settings.database_url, pooled=False)
            session = AsyncSession(engine, expire_on_commit=False)
            yield BlockingStorage(EmailUserNames(FieldbookStorage(session, settings, provider)), runner)
            runner.run(session.close())
            runner.run(engine.dispose())

    def search_users(self) -> list[dict[str, Any]]:
        """The contract's search users, with what Fieldbook keeps of them: real addresses, the case,
        the LIKE wildcards and the missing values all included."""
        return [
            {"userName": "alice@work.example", "displayName": "Alice", "active": True, "externalId": "A-1"},
            {"userName": "Bob@Work.example", "displayName": "Bob", "active": False},
            {"userName": "carol@home.example", "displayName": "carol", "externalId": "a-1"},
            {"userName": "dave_%@home.example", "displayName": "50% off"},
        ]

    @pytest.mark.parametrize("scim_filter", [f for f in SEARCH_FILTERS if not any(a in f for a in NOT_KEPT)])
    def test_search_filters_as_the_filter_evaluator(
        self, storage: Any, provider: ScimProvider, user_type: ResourceType, user_model: Any, scim_filter: str
    ) -> None:
        super().test_search_filters_as_the_filter_evaluator(
            storage, provider, user_type, user_model, scim_filter
        )

    @pytest.mark.parametrize("sort_order", ["ascending", "descending"])
    @pytest.mark.parametrize("sort_by", [s for s in SEARCH_SORTS if not any(a in s for a in NOT_KEPT)])
    def test_search_sorts_as_search_request_sort(
        self,
        storage: Any,
        provider: ScimProvider,
        user_type: ResourceType,
        user_model: Any,
        sort_by: str,
        sort_order: str,
    ) -> None:
        super().test_search_sorts_as_search_request_sort(
            storage, provider, user_type, user_model, sort_by, sort_order
        )

    def test_search_with_a_filter(self, storage: Any, user_type: ResourceType, user_model: Any) -> None:
        """The contract's test, with the userName as the identity provider sends it."""
        self.create_users(storage, user_type, user_model, "alice", "bob", "carol")

        page = self.search(
            storage,
            [user_type],
            self.search_request([user_model], filter=f'userName eq "BOB{DOMAIN.upper()}"', count=10),
        )

        assert page.total == 1
        assert [r.user_name for r in page.resources] == ["bob"]

    @pytest.mark.parametrize(
        "scim_filter",
        [
            'userName eq "ALICE@WORK.EXAMPLE"',
            'userName eq "bob@work.example"',
            'emails.value eq "carol@HOME.example"',
            'emails eq "dave_%@home.example"',
            'emails[value eq "alice@work.example"]',
            'externalId eq "A-1"',
            'externalId eq "a-1"',
            'externalId eq "nobody"',
            'displayName eq "CAROL"',
            'userName sw "dave_"',
            'userName eq "alice@work.example" and active eq false',
            'userName eq "alice@work.example" or userName eq "carol@home.example"',
            'not (userName eq "alice@work.example")',
        ],
    )
    def test_identity_provider_lookups_find_what_the_evaluator_finds(
        self, storage: Any, user_type: ResourceType, user_model: Any, scim_filter: str
    ) -> None:
        """The lookups identity providers make (narrowed down in SQL first) find what scim2-models finds."""
        created = [storage.create(user_type, user_model.model_validate(user)) for user in self.search_users()]
        search_request = self.search_request([user_model], filter=scim_filter)

        page = self.search(storage, [user_type], search_request)

        expected = sorted(r.id for r in created if search_request.filter.match(r))
        assert sorted(r.id for r in page.resources) == expected
        assert page.total == len(expected)

    def test_id_lookup(self, storage: Any, user_type: ResourceType, user_model: Any) -> None:
        alice, _ = self.create_users(storage, user_type, user_model, "alice", "bob")
        for value, found in ((alice.id, [alice.id]), (alice.id.upper(), []), ("not-an-id", [])):
            page = self.search(
                storage, [user_type], self.search_request([user_model], filter=f'id eq "{value}"')
            )
            assert [r.id for r in page.resources] == found
