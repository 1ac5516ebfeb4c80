"""The JSON of `POST /sync/push` (and, with the pull, of the rest of the protocol), as msgspec structs."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import msgspec

# The shape of mutations and records a device speaks; a device on another one is told to update.
SCHEMA_VERSION = 1
MAX_MUTATIONS_PER_PUSH = 500


class Mutation(msgspec.Struct, forbid_unknown_fields=True):
    id: int  # 1, 2, 3 ... per device, no gaps
    name: str  # a registered command, e.g. "visits.check_in"
    args: dict[str, Any]
    # The version of the record the device had when the rep made the change (None for a new record).
    base_version: int | None = None


class PushRequest(msgspec.Struct, forbid_unknown_fields=True):
    device_id: uuid.UUID
    schema_version: int
    app_version: str
    mutations: list[Mutation]


class MutationResult(msgspec.Struct):
    id: int
    status: Literal["applied", "rejected"]
    # Applied: the record's id and new version. Rejected: code, message and field errors.
    outcome: dict[str, Any]


class PushResponse(msgspec.Struct):
    last_mutation_id: int
    results: list[MutationResult]


class ProtocolError(msgspec.Struct):
    """Why a whole push was refused; nothing of it was applied beyond `last_mutation_id`."""

    code: str
    detail: str
    last_mutation_id: int | None = None


class PullRequest(msgspec.Struct, forbid_unknown_fields=True):
    device_id: uuid.UUID
    schema_version: int
    app_version: str
    cursor: str | None = None  # None on a device's first pull


class Change(msgspec.Struct, omit_defaults=True):
    kind: str  # a name of sync.pull.KINDS: "accounts", "contacts", "visits", "quotes", ...
    op: Literal["put", "delete"]
    id: str
    data: dict[str, Any] | None = None  # the whole record, for a put


class PullResponse(msgspec.Struct):
    cursor: str
    # The device's mutations up to this one are in the records of this answer.
    last_mutation_id: int
    changes: list[Change]
    # True: replace everything held with these records (keep the outbox).
    reset: bool
    # True: more changes follow; pull again with `cursor` and apply them all together.
    more: bool
    # How many records the following pages will bring (for a first sync's progress bar).
    remaining: int = 0
