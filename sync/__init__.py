"""The offline sync protocol (DESIGN.md, "Offline sync protocol"; the wire format is docs/sync.md).

- `registry`: the named commands a device may send, and how a mutation's args reach each one.
- `push`: applying a device's mutations in order, each exactly once (`POST /sync/push`).
- `pull`: the difference between what a device was sent and what its person may see now
  (`POST /sync/pull`).
- `models`: the device ledger and the client views.

Still to come with the offline-sync issue: per-field merge and conflicts, and the device side in
`pwa/`.
"""
