// Syncing the briefcase with the server (docs/sync.md): push the outbox, then pull what changed.
//
// - One flusher at a time across tabs and the service worker: a Web Lock per person.
// - Push sends the outbox in order. The server applies each change exactly once, so a retry
//   after a lost answer is harmless. Refused changes go to "needs attention" and conflicts to
//   the conflicts list; neither holds up the changes behind them.
// - A change leaves the outbox only when a pull's `last_mutation_id` shows the records include
//   it, so the rep never sees it vanish and come back.
// - Pull pages are staged, then applied in one transaction after the last one: an interrupted
//   first sync resumes from its last staged page and never leaves half a snapshot.
// - 401 for a deactivated account wipes the device; 401 otherwise keeps everything and asks the
//   person to sign in again; 426 keeps everything and asks for an update.
// - A busy server (503, 429) is asked again after the wait it names, with jitter (`post`).
//
// A classic script, shared by the pages and the service worker (importScripts).
(function (scope) {
  "use strict";
  const Store = scope.FieldbookStore;

  const SCHEMA_VERSION = 1;
  const PUSH_BATCH = 100;
  const CHANNEL = "fieldbook-sync";

  class SyncStopped extends Error {
    constructor(state) {
      super(state);
      this.state = state; // "signed_out", "update_required", "wiped" or "offline"
    }
  }

  // A busy server (503, or 429 from the rate limit) is asked again this many times in one flush,
  // after the wait it names in Retry-After (or 0.5 s, 1 s, 2 s ... up to 8 s), each wait stretched
  // by a random 0-100 %, so that phones told the same wait do not all come back at once. Sending a
  // push again is always safe: the server applies each mutation once.
  const BUSY_RETRIES = 5;

  function busyWait(response, attempt) {
    const said = Number(response.headers.get("Retry-After"));
    const base = said > 0 ? said * 1000 : Math.min(8000, 500 * 2 ** attempt);
    return base * (1 + Math.random());
  }

  async function post(path, body) {
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(path, {
          method: "POST",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(body),
        });
      } catch (error) {
        throw new SyncStopped("offline");
      }
      if ((response.status === 503 || response.status === 429) && attempt < BUSY_RETRIES) {
        await new Promise((resolve) => setTimeout(resolve, busyWait(response, attempt)));
        continue;
      }
      const answer = await response.json().catch(() => ({}));
      return { status: response.status, answer };
    }
  }

  function announce(message) {
    if (typeof BroadcastChannel === "undefined") return;
    const channel = new BroadcastChannel(CHANNEL);
    channel.postMessage(message);
    channel.close();
  }

  async function stopOn(status, answer, userId, db) {
    if (status === 401) {
      if (answer.errors && answer.errors.reason === "account_inactive") {
        db.close();
        await Store.wipe(userId);
        await Store.setCurrentUser(null);
        throw new SyncStopped("wiped");
      }
      throw new SyncStopped("signed_out");
    }
    if (status === 426) throw new SyncStopped("update_required");
  }

  // The server bound this device id to someone else (or forgot it): carry on as a new device,
  // renumbering the queued changes from 1 and fetching everything afresh.
  async function startAsNewDevice(db, firstId) {
    const tx = db.transaction(["meta", "outbox", "staging"], "readwrite");
    const outbox = tx.objectStore("outbox");
    const entries = await outbox.getAll();
    await outbox.clear();
    let next = firstId;
    for (const entry of entries) await outbox.put({ ...entry, id: next++ });
    await tx.objectStore("staging").clear();
    const values = { next_mutation_id: next, sent_up_to: firstId - 1, cursor: undefined, staging_cursor: undefined };
    if (firstId === 1) values.device_id = crypto.randomUUID();
    await Store.putMeta(tx.objectStore("meta"), values);
    await tx.done;
  }

  async function keepResults(db, entries, results) {
    const byId = new Map(entries.map((entry) => [entry.id, entry]));
    const tx = db.transaction(["attention", "conflicts"], "readwrite");
    for (const result of results) {
      const entry = byId.get(result.id);
      if (!entry) continue;
      if (result.status === "rejected") {
        await tx.objectStore("attention").put({ ...entry, reason: result.outcome, refused_at: new Date().toISOString() });
      }
      for (const conflict of (result.outcome && result.outcome.conflicts) || []) {
        await tx.objectStore("conflicts").put({ ...conflict, label: entry.label, target: entry.target });
      }
    }
    await tx.done;
  }

  async function pushOutbox(db, userId, appVersion) {
    for (;;) {
      const meta = await Store.getMeta(db);
      const sentUpTo = meta.sent_up_to || 0;
      const entries = (await db.getAll("outbox")).filter((entry) => entry.id > sentUpTo).slice(0, PUSH_BATCH);
      if (!entries.length) return;
      const mutations = entries.map(({ id, name, args, base_version }) => ({ id, name, args, base_version }));
      const body = { device_id: await Store.deviceId(db), schema_version: SCHEMA_VERSION, app_version: appVersion, mutations };
      const { status, answer } = await post("/sync/push", body);
      await stopOn(status, answer, userId, db);
      if (status === 200) {
        await keepResults(db, entries, answer.results);
        await Store.setMeta(db, { sent_up_to: answer.last_mutation_id });
      } else if (status === 409 && answer.code === "device_reset") {
        await startAsNewDevice(db, 1);
      } else if (status === 409 && answer.code === "mutation_gap" && answer.last_mutation_id < entries[0].id - 1) {
        // The server has fewer of this device's changes than it acknowledged (restored from a
        // backup): send what is still queued again, numbered on from what it has.
        await startAsNewDevice(db, answer.last_mutation_id + 1);
      } else {
        throw new Error(`push answered ${status}`);
      }
    }
  }

  // Apply every staged page in one transaction: the device holds either the old snapshot or the
  // new one, never half of each.
  async function applyStaged(db, cursor, lastMutationId) {
    const tx = db.transaction(["meta", "records", "staging", "outbox"], "readwrite");
    const records = tx.objectStore("records");
    const pages = await tx.objectStore("staging").getAll();
    if (pages.some((page) => page.reset)) await records.clear();
    for (const page of pages) {
      for (const item of page.changes) {
        if (item.op === "put") records.put({ kind: item.kind, id: item.id, data: item.data });
        else records.delete([item.kind, item.id]);
      }
    }
    await tx.objectStore("staging").clear();
    const outbox = tx.objectStore("outbox");
    for (const id of await outbox.getAllKeys(IDBKeyRange.upperBound(lastMutationId))) outbox.delete(id);
    await Store.putMeta(tx.objectStore("meta"), {
      cursor,
      staging_cursor: undefined,
      last_sync_at: new Date().toISOString(),
    });
    await tx.done;
  }

  async function pullAll(db, appVersion) {
    let received = 0;
    for (;;) {
      const meta = await Store.getMeta(db);
      const cursor = meta.staging_cursor || meta.cursor || null;
      const body = { device_id: await Store.deviceId(db), schema_version: SCHEMA_VERSION, app_version: appVersion, cursor };
      const { status, answer } = await post("/sync/pull", body);
      await stopOn(status, answer, meta.user_id, db);
      if (status === 409 && answer.code === "device_reset") {
        await startAsNewDevice(db, 1);
        continue;
      }
      if (status !== 200) throw new Error(`pull answered ${status}`);
      const tx = db.transaction(["meta", "staging"], "readwrite");
      if (answer.reset) await tx.objectStore("staging").clear(); // a restart: earlier pages are void
      await tx.objectStore("staging").add({ reset: answer.reset, changes: answer.changes });
      await tx.objectStore("meta").put(answer.cursor, "staging_cursor");
      await tx.done;
      received += answer.changes.length;
      announce({ type: "progress", received, remaining: answer.remaining || 0 });
      if (!answer.more) {
        await applyStaged(db, answer.cursor, answer.last_mutation_id);
        return answer.last_mutation_id;
      }
    }
  }

  // Push, then pull. Progress and the outcome are announced to every open tab.
  async function flush(userId, appVersion) {
    const run = async () => {
      let db = await Store.open(userId);
      try {
        await Store.setMeta(db, { user_id: userId });
        await pushOutbox(db, userId, appVersion);
        const applied = await pullAll(db, appVersion);
        if (applied < ((await Store.getMeta(db)).sent_up_to || 0)) {
          // The server has forgotten changes it acknowledged (restored from a backup): the ones
          // still queued go again, renumbered after what it has (see pushOutbox).
          await Store.setMeta(db, { sent_up_to: applied });
          await pushOutbox(db, userId, appVersion);
          await pullAll(db, appVersion);
        }
        await Store.setMeta(db, { state: undefined });
        return "synced";
      } catch (error) {
        if (!(error instanceof SyncStopped)) throw error;
        if (error.state !== "wiped") await Store.setMeta(db, { state: error.state });
        else db = null;
        return error.state;
      } finally {
        if (db) db.close();
        // "wiped": every tab leaves the person's pages without opening the database again.
        announce({ type: db ? "synced" : "wiped" });
      }
    };
    if (!(scope.navigator && navigator.locks)) return run();
    return navigator.locks.request(`fieldbook-sync-${userId}`, run);
  }

  scope.FieldbookSync = { flush, CHANNEL, SCHEMA_VERSION };
})(self);
