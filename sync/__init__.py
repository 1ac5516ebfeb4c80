"""The offline sync protocol (DESIGN.md, "Offline sync protocol"): push and pull endpoints, the
device ledger, per-field merge and conflicts.

Its foundations are already in place in `server`: every synced record carries a UUIDv7 id a
device may choose, a `version` from the single change sequence (`server.db.next_version`, which
commits in order), and a `deleted_at` tombstone; every change goes through a named command
(`server.commands`) that the push endpoint will replay. The endpoints themselves arrive with the
offline-sync issue.
"""
