"""Per-field merge of an offline edit with what the server got meanwhile (DESIGN.md).

A field conflicts only if the server changed it after the version the device's edit was based
on, and the device changed it too. Then the later arrival (this edit) wins and the value it
replaces is kept as a conflict the person can see and undo; a long note is never overwritten:
the server's stays and the device's is kept as the conflict. Fields only the server changed keep
the server's value, even when the device sends the whole record back.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from server.audit import service as audit
from server.db import locked, utcnow
from sync.models import Conflict, MutationRecord

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from sync.registry import Merge


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


async def merge_args(
    session: AsyncSession,
    merge: Merge,
    args: dict[str, Any],
    base_version: int | None,
    *,
    user_id: uuid.UUID,
    device_id: uuid.UUID,
    mutation_id: int,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The args to apply, and the conflicts found (already recorded)."""
    record_id = _uuid(args.get(merge.target))
    if base_version is None or record_id is None:
        return args, []  # nothing to merge against: the command decides
    # The record's row is locked first (FOR UPDATE; SQLite has one writer anyway): a change of
    # another transaction that is not yet committed is waited for, and every read below sees it.
    # Every change stamps the record with its version, so a record still at (or before) the
    # device's base has not changed since: the usual case, answered without its audit trail. A
    # stand-in version (below 0) is this transaction's own change, after which the audit trail
    # still tells what the server changed since the base.
    record = await locked(session, merge.model, record_id)
    if record is None or 0 <= record.version <= base_version:
        return args, []  # unchanged since the base (or missing, which the command refuses)
    # The device's own edits since `base_version` (queued offline one after another, all on the
    # same base) are not the server's changes.
    own = select(MutationRecord.record_version).where(
        MutationRecord.device_id == device_id, MutationRecord.record_version > base_version
    )
    merged, conflicts = dict(args), []
    changed = await audit.changed_since(session, record.id, base_version, ignoring=own)
    for name, original in changed.items():
        if name not in args:
            continue
        server_value = audit.snapshot(record, [name])[name]
        if _text(args[name]) == _text(original) or _text(args[name]) == _text(server_value):
            merged[name] = server_value  # only the server changed it (or both alike): the server's stands
            continue
        kept = "server" if name in merge.notes else "yours"
        if kept == "server":
            merged[name] = server_value
        values = {"yours": args[name], "server": server_value, "original": original}
        conflict_id = uuid.uuid4()
        session.add(Conflict(id=conflict_id, user_id=user_id, device_id=device_id, mutation_id=mutation_id,
                             record_kind=merge.model.__tablename__, record_id=record.id, field=name, values=values,
                             kept=kept, created_at=utcnow()))  # fmt: skip
        conflicts.append({"id": str(conflict_id), "kind": merge.model.__tablename__, "record_id": str(record.id),
                          "field": name, "kept": kept, **values})  # fmt: skip
    return merged, conflicts


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
