"""What Fieldbook's SCIM service publishes and accepts: its schemas, resource types and
configuration, and the few places where it reads a request differently from scim2-server.

Fieldbook keeps one email address and one name per person, so its User schema is RFC 7643's
trimmed to what it stores, and every attribute it publishes reads back as it was written:

- `userName` is the person's work email address (what they sign in with): it must be one.
- `displayName` is their name. A request that leaves it out gets `name.formatted`, else
  `name.givenName` + `name.familyName`, else (on PUT) the current name, else the userName.
- `active`: a create without it makes an active user; a PUT without it keeps the current value.
- `name.formatted` and `emails` (one primary work email, the userName) are derived, read-only.
- `groups` lists the Fieldbook groups the person is in (read-only, as RFC 7643 says).
- `externalId` is the identity provider's own id for the person or group.

Groups have `displayName` (unique whatever its case), `externalId` and `members` (users only;
`members.display` is returned when asked for with `attributes`).

Attributes that RFC 7643 defines but Fieldbook does not keep (title, phoneNumbers, the enterprise
extension...) are accepted and dropped, so identity providers can send their usual payloads.
Attributes that no SCIM schema defines are refused with a 400.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError
from scim2_models import (
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Patch,
    PatchOp,
    Resource,
    ResourceType,
    Schema,
    ScimPolicy,
    ScimProvider,
    ServiceProviderConfig,
    Sort,
)
from scim2_models import Group as StandardGroup
from scim2_models import User as StandardUser
from scim2_server.handler import AsyncScimHandler
from scim2_server.routing import Operation
from scim2_server.service import ScimService, scim_exception_of
from scim2_server.utils import parametrize

if TYPE_CHECKING:
    from scim2_server.requests import ScimRequest
    from scim2_server.responses import ScimResponse

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
MAX_RESULTS = 200


def _attribute(name: str, type_: str = "string", **characteristics: Any) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "name": name,
        "type": type_,
        "multiValued": False,
        "required": False,
        "mutability": "readWrite",
        "returned": "default",
    }
    if type_ in {"string", "reference"}:
        attribute |= {"caseExact": False, "uniqueness": "none"}
    return attribute | characteristics


USER = {
    "id": USER_SCHEMA,
    "name": "User",
    "description": "A person who uses Fieldbook.",
    "attributes": [
        _attribute(
            "userName",
            required=True,
            uniqueness="server",
            description="The person's work email address, which they sign in with. REQUIRED.",
        ),
        _attribute(
            "name",
            "complex",
            mutability="readOnly",
            description="The person's name, from displayName.",
            subAttributes=[_attribute("formatted", mutability="readOnly", description="The full name.")],
        ),
        _attribute(
            "displayName",
            required=True,
            description="The person's full name. When a request leaves it out, Fieldbook takes "
            "name.formatted, else name.givenName and name.familyName, else the userName.",
        ),
        _attribute(
            "active",
            "boolean",
            required=True,
            description="Whether the person can sign in. Fieldbook makes users active unless told "
            "otherwise; false signs them out everywhere at once.",
        ),
        _attribute(
            "emails",
            "complex",
            multiValued=True,
            mutability="readOnly",
            description="The person's work email address: the userName.",
            subAttributes=[
                _attribute("value", mutability="readOnly"),
                _attribute("type", mutability="readOnly", canonicalValues=["work"]),
                _attribute("primary", "boolean", mutability="readOnly"),
            ],
        ),
        _attribute(
            "groups",
            "complex",
            multiValued=True,
            mutability="readOnly",
            description="The groups the person is in.",
            subAttributes=[
                _attribute("value", mutability="readOnly", caseExact=True),
                _attribute(
                    "$ref", "reference", referenceTypes=["Group"], mutability="readOnly", caseExact=True
                ),
                _attribute("display", mutability="readOnly"),
            ],
        ),
    ],
}

GROUP = {
    "id": GROUP_SCHEMA,
    "name": "Group",
    "description": "A group of people. Role groups give their members a Fieldbook role; groups "
    "named after a team (team:North) put their members in that team.",
    "attributes": [
        _attribute(
            "displayName", required=True, uniqueness="server", description="The group's name. REQUIRED."
        ),
        _attribute(
            "members",
            "complex",
            multiValued=True,
            description="The users in the group.",
            subAttributes=[
                _attribute("value", required=True, mutability="immutable", caseExact=True),
                _attribute(
                    "$ref", "reference", referenceTypes=["User"], mutability="immutable", caseExact=True
                ),
                _attribute("display", mutability="readOnly", returned="request"),
            ],
        ),
    ],
}

RESOURCE_TYPES = [
    {"id": "User", "name": "User", "endpoint": "/Users", "description": "People", "schema": USER_SCHEMA},
    {"id": "Group", "name": "Group", "endpoint": "/Groups", "description": "Groups", "schema": GROUP_SCHEMA},
]

CONFIG = ServiceProviderConfig(
    patch=Patch(supported=True),
    bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
    filter=Filter(supported=True, max_results=MAX_RESULTS),
    change_password=ChangePassword(supported=False),
    sort=Sort(supported=True),
    etag=ETag(supported=True),
    authentication_schemes=[
        AuthenticationScheme(
            type=AuthenticationScheme.Type.oauthbearertoken,
            name="Bearer token",
            description="A token made with `fieldbook scim-token create NAME`, sent as "
            "`Authorization: Bearer <token>`.",
            primary=True,
        )
    ],
)

# Tolerant where identity providers are known to deviate, strict on what no SCIM schema knows:
# attributes outside Fieldbook's trimmed schemas are dropped here, and STRICT (below) refuses
# those that are not RFC 7643 attributes at all. Microsoft Entra removes group members with a
# `value` rather than a path filter.
POLICY = ScimPolicy(unknown=ScimPolicy.Unknown.ignore, remove_value_as_filter=ScimPolicy.RemoveValue.apply)
STRICT = POLICY.model_copy(update={"unknown": ScimPolicy.Unknown.forbid})
STANDARD_MODELS: dict[str, type[Resource[Any]]] = {
    "User": StandardUser[EnterpriseUser],  # type: ignore[misc]
    "Group": StandardGroup,
}


def build_provider() -> ScimProvider:
    schema_kind = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"]}
    type_kind = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"]}
    return ScimProvider.from_discovery(
        [Schema.model_validate(schema_kind | USER), Schema.model_validate(schema_kind | GROUP)],
        [ResourceType.model_validate(type_kind | resource_type) for resource_type in RESOURCE_TYPES],
        config=CONFIG,
        policy=POLICY,
    )


def _find(payload: dict[str, Any], name: str) -> tuple[str | None, Any]:
    """An attribute of a payload, whatever the case of its name (SCIM names are case-insensitive)."""
    for key, value in payload.items():
        if isinstance(key, str) and key.casefold() == name.casefold():
            return key, value
    return None, None


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


class FieldbookService(ScimService):
    """scim2-server's service, reading request bodies as described at the top of this module."""

    def read_creation(
        self, resource_type: ResourceType, body: bytes, content_type: str | None
    ) -> Resource[Any]:
        return self._read_resource(resource_type, body, content_type, Context.RESOURCE_CREATION_REQUEST, None)

    def read_replacement(
        self,
        resource_type: ResourceType,
        body: bytes,
        content_type: str | None,
        current: Resource[Any] | None = None,
    ) -> Resource[Any]:
        return self._read_resource(
            resource_type, body, content_type, Context.RESOURCE_REPLACEMENT_REQUEST, current
        )

    def read_patch(self, resource_type: ResourceType, body: bytes, content_type: str | None) -> PatchOp[Any]:
        self.ensure_patch_supported()
        payload = self.decode_body(body, content_type)
        standard = STANDARD_MODELS[cast(str, resource_type.name)]
        self._validate(parametrize(PatchOp, standard), payload, Context.RESOURCE_PATCH_REQUEST, STRICT)
        model = parametrize(PatchOp, self.get_model(resource_type))
        return cast("PatchOp[Any]", self._validate(model, payload, Context.RESOURCE_PATCH_REQUEST))

    def _read_resource(
        self,
        resource_type: ResourceType,
        body: bytes,
        content_type: str | None,
        context: Context,
        current: Resource[Any] | None,
    ) -> Resource[Any]:
        payload = self.decode_body(body, content_type)
        if isinstance(payload, dict) and resource_type.name == "User":
            payload = self._complete_user(payload, current)
        self._validate(STANDARD_MODELS[cast(str, resource_type.name)], payload, context, STRICT)
        return cast(Resource[Any], self._validate(self.get_model(resource_type), payload, context))

    @staticmethod
    def _complete_user(payload: dict[str, Any], current: Resource[Any] | None) -> dict[str, Any]:
        """Fill in the required attributes a request may leave out (see the top of this module)."""
        payload = dict(payload)
        key, display_name = _find(payload, "displayName")
        if not _text(display_name):
            _, name = _find(payload, "name")
            name = name if isinstance(name, dict) else {}
            given = " ".join(
                filter(None, (_text(_find(name, part)[1]) for part in ("givenName", "familyName")))
            )
            _, user_name = _find(payload, "userName")
            payload[key or "displayName"] = (
                _text(_find(name, "formatted")[1])
                or given
                or getattr(current, "display_name", None)
                or _text(user_name)
                or display_name
            )
        key, active = _find(payload, "active")
        if active is None:
            kept = getattr(current, "active", None)
            payload[key or "active"] = True if kept is None else kept
        return payload

    @staticmethod
    def _validate(model: type[Any], payload: Any, context: Context, policy: ScimPolicy | None = None) -> Any:
        try:
            return model.model_validate(payload, scim_ctx=context, scim_policy=policy)
        except ValidationError as exception:
            raise scim_exception_of(exception) from exception


class FieldbookHandler(AsyncScimHandler):
    """scim2-server's handler, with a PUT that can see the stored resource while reading the body."""

    service: FieldbookService

    async def replace(self, request: ScimRequest) -> ScimResponse:
        with self.service.provider:
            target = self.service.route(request, Operation.replace)
            resource_type = self.service.resource_type_at(cast(str, target.endpoint))
            self.service.authorize(request, target, resource_type)
            response_parameters = self.service.read_response_parameters(resource_type, request.query)
            async with self.storage.operation():
                current = await self.storage.get(resource_type, cast(str, target.resource_id))
                replacement = self.service.read_replacement(
                    resource_type, request.body, request.header("Content-Type"), current
                )
                resource = await self.replace_resource(
                    resource_type, current, replacement, self.service.read_conditions(request)
                )
            response = self.service.replacement_response(request.base_url, resource, response_parameters)
            return self.service.me_response(request, target, response)
