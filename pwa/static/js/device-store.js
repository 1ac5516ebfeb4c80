// The device's briefcase in IndexedDB (DESIGN.md, "Offline sync protocol"): the records the rep
// holds, the outbox of changes waiting to sync, the changes the server refused, and conflicts.
//
// One database per person (`fieldbook-user-<id>`), so someone signing in after a colleague on
// the same phone never sees, sends or deletes the colleague's queued changes. The outbox holds
// intents (a command's name and arguments), not HTTP requests; a new app version upgrades the
// database around it and sends them as they are.
//
// A classic script, shared by the pages and the service worker (importScripts), on top of idb.
(function (scope) {
  "use strict";
  const { openDB, deleteDB } = scope.idb;

  const VERSION = 1; // of the IndexedDB layout; an upgrade adds stores and never drops "outbox"
  const SESSION_DB = "fieldbook";

  function databaseName(userId) {
    return `fieldbook-user-${userId}`;
  }

  // A connection closes itself when another wants to delete or upgrade the database (a wipe, a
  // new app version); whoever held it opens a new one next time.
  function open(userId) {
    return openDB(databaseName(userId), VERSION, {
      blocking(currentVersion, blockedVersion, event) {
        event.target.close();
      },
      upgrade(db, oldVersion) {
        if (oldVersion < 1) {
          db.createObjectStore("meta");
          db.createObjectStore("records", { keyPath: ["kind", "id"] }).createIndex("kind", "kind");
          db.createObjectStore("outbox", { keyPath: "id" });
          db.createObjectStore("staging", { autoIncrement: true });
          db.createObjectStore("attention", { keyPath: "id" });
          db.createObjectStore("conflicts", { keyPath: "id" });
        }
      },
    });
  }

  // Who is signed in on this browser, for the service worker, which has no page to ask.
  function openSession() {
    return openDB(SESSION_DB, 1, {
      upgrade(db) {
        db.createObjectStore("session");
      },
    });
  }

  async function currentUser() {
    const db = await openSession();
    try {
      return await db.get("session", "current");
    } finally {
      db.close();
    }
  }

  async function setCurrentUser(user) {
    const db = await openSession();
    try {
      if (user) await db.put("session", user, "current");
      else await db.delete("session", "current");
    } finally {
      db.close();
    }
  }

  async function getMeta(db) {
    const tx = db.transaction("meta");
    const meta = {};
    for (const key of await tx.store.getAllKeys()) meta[key] = await tx.store.get(key);
    await tx.done;
    return meta;
  }

  function putMeta(store, values) {
    return Promise.all(
      Object.entries(values).map(([key, value]) => (value === undefined ? store.delete(key) : store.put(value, key))),
    );
  }

  async function setMeta(db, values) {
    const tx = db.transaction("meta", "readwrite");
    await putMeta(tx.store, values);
    await tx.done;
  }

  async function deviceId(db) {
    const meta = await getMeta(db);
    if (meta.device_id) return meta.device_id;
    const id = crypto.randomUUID();
    await setMeta(db, { device_id: id });
    return id;
  }

  // Queue a change. Mutation ids are taken in the same transaction that stores the change, so
  // two tabs queueing at once still number their changes 1, 2, 3 ... with no gap.
  async function queue(db, name, args, { baseVersion = null, label = "", target = null } = {}) {
    const tx = db.transaction(["meta", "outbox"], "readwrite");
    const meta = tx.objectStore("meta");
    const id = (await meta.get("next_mutation_id")) || 1;
    await meta.put(id + 1, "next_mutation_id");
    const entry = { id, name, args, base_version: baseVersion, label, target, queued_at: new Date().toISOString() };
    await tx.objectStore("outbox").put(entry);
    await tx.done;
    return entry;
  }

  async function records(db, kind) {
    return (await db.getAllFromIndex("records", "kind", kind)).map((row) => row.data);
  }

  async function record(db, kind, id) {
    const row = await db.get("records", [kind, id]);
    return row ? row.data : null;
  }

  // What the rep sees: the records held, with the changes still in the outbox laid over them and
  // marked `pending`, so an offline check-in shows as checked in before the server has it.
  async function view(db, kinds) {
    const held = {};
    for (const kind of kinds) held[kind] = new Map((await records(db, kind)).map((data) => [data.id, data]));
    const person = db.name.slice(databaseName("").length); // whose briefcase this is
    for (const entry of await db.getAll("outbox")) {
      const effect = EFFECTS[entry.name];
      if (effect) effect(held, entry.args, { person, at: entry.queued_at });
    }
    return held;
  }

  function change(held, kind, id, fields) {
    const map = held[kind];
    if (!map) return;
    const before = map.get(id);
    if (!before && !fields.id) return; // an edit of something this device no longer holds
    map.set(id, { ...(before || {}), ...fields, pending: true });
  }

  function picked(args, names) {
    return Object.fromEntries(names.filter((name) => name in args).map((name) => [name, args[name]]));
  }

  const ACCOUNT_FIELDS = ["name", "street", "city", "postcode", "phone", "notes", "customer_number"];
  const CONTACT_FIELDS = ["name", "title", "phone", "email"];
  const LEAD_FIELDS = ["name", "company", "phone", "email", "note", "source"];

  // When a reminder rings again after a snooze, as the server will work it out (on the phone's clock).
  function snoozedUntil(args) {
    if (args.snooze === "15m") return new Date(Date.now() + 15 * 60000);
    if (args.snooze === "1h") return new Date(Date.now() + 60 * 60000);
    if (args.snooze === "tomorrow") {
      const morning = new Date();
      morning.setDate(morning.getDate() + 1);
      morning.setHours(9, 0, 0, 0);
      return morning;
    }
    return args.due_on ? localMoment(args.due_on, args.due_time) : null;
  }

  function localMoment(day, time) {
    return new Date(`${day}T${time || "09:00"}`);
  }

  // --- quotes: worked out as the server will (quote-pricing.js), from the products and approval
  // rules the phone holds; the server works everything out again when the change arrives.

  function quoteLines(held, lines) {
    const products = held.products || new Map();
    return (lines || []).map((line, index) => {
      const product = products.get(line.product_id) || {};
      return { position: index + 1, product_id: line.product_id, code: product.code, name: product.name, unit: product.unit,
        list_price: product.list_price, quantity: line.quantity, unit_price: line.unit_price || product.list_price,
        discount_percent: line.discount_percent || "0" };
    });
  }

  function priced(quote) {
    const pricing = scope.FieldbookPricing;
    if (!pricing) return quote;
    const sums = pricing.totals(quote.lines, quote.discount_percent, quote.currency);
    const lines = quote.lines.map((line, index) => ({ ...line, amount: sums.amounts[index] }));
    return { ...quote, lines, list_total: sums.list_total, subtotal: sums.subtotal, total: sums.total };
  }

  // The steps a submission asks for, as the server's policy will (none: approved at once).
  function approvalSteps(held, quote, at) {
    const pricing = scope.FieldbookPricing;
    if (!pricing || !held.approval_rules) return null;
    const rules = [...held.approval_rules.values()].filter((rule) => rule.active && !rule.deleted_at);
    return pricing.chain(pricing.evaluate(rules, quote.lines, quote.discount_percent, quote.currency)).map((step, index) => ({
      id: `${quote.id}-${index + 1}`, quote_id: quote.id, step: index + 1, level: step.level, status: index ? "queued" : "waiting",
      revision: quote.revision, reasons: step.reasons, waiting_since: index ? null : at, decided_by_id: null, decided_at: null, comment: "",
    }));
  }

  function submitted(held, args, { at }) {
    const quote = held.quotes && held.quotes.get(args.quote_id);
    if (!quote || !["draft", "rejected"].includes(quote.status)) return;
    const steps = approvalSteps(held, quote, at);
    const status = steps && !steps.length ? "approved" : "pending";
    change(held, "quotes", quote.id, { status, comment: args.comment || "", submitted_at: at, approvals: steps || [],
      approval_round: (quote.approval_round || 0) + 1, approval_step: steps && steps.length ? 1 : 0 });
  }

  function decided(approve) {
    return (held, args, { person, at }) => {
      const quote = held.quotes && held.quotes.get(args.quote_id);
      if (!quote || quote.status !== "pending") return;
      const steps = (quote.approvals || []).map((step) => ({ ...step }));
      const waiting = steps.find((step) => step.status === "waiting");
      if (!waiting) return;
      Object.assign(waiting, { status: approve ? "approved" : "rejected", decided_by_id: person, decided_at: at, comment: args.comment || "" });
      const following = steps.find((step) => step.status === "queued");
      let status = approve ? "approved" : "rejected";
      if (approve && following) {
        Object.assign(following, { status: "waiting", waiting_since: at });
        status = "pending";
      }
      if (!approve) for (const step of steps) if (step.status === "queued") step.status = "cancelled";
      change(held, "quotes", quote.id, { status, approvals: steps, decided_at: status === "pending" ? null : at });
    };
  }

  function moved(from, status) {
    return (held, args) => {
      const quote = held.quotes && held.quotes.get(args.quote_id);
      if (quote && quote.status === from) change(held, "quotes", quote.id, { status });
    };
  }

  const QUOTE_EFFECTS = {
    "quotes.create": (held, args, { person, at }) => {
      if (!held.quotes) return;
      const quote = { id: args.id, number: null, account_id: args.account_id, owner_id: person, status: "draft", currency: args.currency,
        discount_percent: args.discount_percent || "0", valid_until: args.valid_until, notes: args.notes || "", comment: "",
        revision: 1, approval_round: 0, approval_step: 0, created_at: at, updated_at: at, approvals: [], lines: quoteLines(held, args.lines) };
      change(held, "quotes", args.id, priced(quote));
    },
    "quotes.submit": submitted,
    "quotes.approve": decided(true),
    "quotes.reject": decided(false),
    "quotes.mark_sent": moved("approved", "sent"),
    "quotes.mark_accepted": moved("sent", "accepted"),
  };

  const EFFECTS = {
    ...QUOTE_EFFECTS,
    "reminders.create": (held, args) =>
      change(held, "reminders", args.id, { id: args.id, title: args.title, owner_id: args.owner_id,
        due_at: localMoment(args.due_on, args.due_time).toISOString(), done_at: null }),
    "reminders.complete": (held, args) => change(held, "reminders", args.reminder_id, { done_at: new Date().toISOString() }),
    "reminders.snooze": (held, args) => {
      const until = snoozedUntil(args);
      if (until) change(held, "reminders", args.reminder_id, { due_at: until.toISOString() });
    },
    "accounts.update": (held, args) => change(held, "accounts", args.account_id, picked(args, ACCOUNT_FIELDS)),
    "contacts.create": (held, args) =>
      change(held, "contacts", args.id, { id: args.id, account_id: args.account_id, ...picked(args, CONTACT_FIELDS) }),
    "contacts.update": (held, args) => change(held, "contacts", args.contact_id, picked(args, CONTACT_FIELDS)),
    "leads.capture": (held, args) =>
      change(held, "leads", args.id, { id: args.id, status: "open", score: null, ...picked(args, LEAD_FIELDS) }),
    "visits.check_in": (held, args) =>
      change(held, "visits", args.visit_id, { status: "checked_in", checked_in_device_at: args.device_time }),
    "visits.check_out": (held, args) =>
      change(held, "visits", args.visit_id, { status: "done", checked_out_device_at: args.device_time }),
    "visits.record_outcome": (held, args) =>
      change(held, "visits", args.visit_id, picked(args, ["outcome", "notes", "next_step", "next_step_due"])),
    "visits.skip": (held, args) => change(held, "visits", args.visit_id, { status: "skipped", skip_reason: args.skip_reason }),
  };

  async function counts(db) {
    const [meta, outbox, attention, conflicts] = await Promise.all([
      getMeta(db),
      db.count("outbox"),
      db.count("attention"),
      db.count("conflicts"),
    ]);
    return { meta, outbox, attention, conflicts };
  }

  // Forget everything this device holds for the person (a deactivated account).
  function wipe(userId) {
    return deleteDB(databaseName(userId));
  }

  // Signing out keeps only what the person still has to send; it goes out at their next sign-in.
  async function forgetAllButOutbox(db) {
    const tx = db.transaction(["meta", "records", "staging", "attention", "conflicts"], "readwrite");
    await Promise.all(["records", "staging", "attention", "conflicts"].map((name) => tx.objectStore(name).clear()));
    await putMeta(tx.objectStore("meta"), { cursor: undefined, staging_cursor: undefined, last_sync_at: undefined });
    await tx.done;
  }

  scope.FieldbookStore = {
    open,
    currentUser,
    setCurrentUser,
    getMeta,
    setMeta,
    putMeta,
    deviceId,
    queue,
    records,
    record,
    view,
    counts,
    wipe,
    forgetAllButOutbox,
  };
})(self);
