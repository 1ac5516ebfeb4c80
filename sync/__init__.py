"""The offline sync protocol (DESIGN.md, "Offline sync protocol"; the wire format is docs/sync.md).

- `registry`: the named commands a device may send, and how a mutation's args reach each one.
- `push`: applying a device's mutations in order, each exactly once (`POST /sync/push`).
- `models`: the device ledger.

Still to come with the offline-sync issue: the pull, per-field merge and conflicts, and the
device side in `pwa/`.
"""
