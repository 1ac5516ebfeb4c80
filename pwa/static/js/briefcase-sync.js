// /sync: what this phone holds and how it stands with the server. The changes waiting to sync
// (each marked pending), the ones the server refused and why ("needs attention"), and the
// conflicts, where the rep sees their value, the server's and the original and chooses one.
(function (scope) {
  "use strict";
  const Store = scope.FieldbookStore;
  const { t, h, empty, formatTime, queue, route, draw, db } = scope.Briefcase;

  function reasonOf(entry) {
    const reason = entry.reason || {};
    const fields = Object.values(reason.fields || {});
    return [reason.message, ...fields].filter(Boolean).join(" ");
  }

  // A field's name as the rep knows it ("City"), or as the server named it if the page has no word.
  function fieldName(field) {
    try {
      return t(field);
    } catch (error) {
      return field;
    }
  }

  function shown(value) {
    return value === null || value === undefined || value === "" ? t("empty_value") : String(value);
  }

  async function dismiss(id) {
    await (await db()).delete("attention", id);
    document.dispatchEvent(new CustomEvent("fieldbook:changed"));
    draw();
  }

  async function choose(conflict, choice) {
    await (await db()).delete("conflicts", conflict.id);
    await queue("sync.resolve_conflict", { conflict_id: conflict.id, choice },
      { label: t("label_conflict", { name: conflict.label }) }, "/sync");
  }

  function conflictCard(conflict) {
    const option = (choice, label) =>
      h("li", {}, h("span", { class: "muted" }, `${label}: `), h("strong", {}, shown(conflict[choice])),
        h("button", { type: "button", class: "secondary", onclick: () => choose(conflict, choice),
          "aria-label": t("keep_this", { value: shown(conflict[choice]), field: fieldName(conflict.field) }) }, t("keep")));
    return h("li", { class: "card conflict" },
      h("p", {}, h("strong", {}, conflict.label), " · ", fieldName(conflict.field),
        conflict.kept === "yours" ? ` (${t("kept_yours")})` : ` (${t("kept_server")})`),
      h("ul", { class: "conflict-values" }, option("yours", t("yours")), option("server", t("servers")), option("original", t("original"))));
  }

  function status(meta, counts) {
    const lines = [navigator.onLine ? t("online") : t("offline")];
    lines.push(counts.outbox ? t("waiting", { n: counts.outbox }) : t("all_synced"));
    lines.push(meta.last_sync_at ? t("last_sync", { time: formatTime(meta.last_sync_at) }) : t("never_synced"));
    if (meta.state === "signed_out") lines.push(t("sign_in_to_sync"));
    if (meta.state === "update_required") lines.push(t("update_to_sync"));
    return h("p", { class: "card", id: "sync-summary" }, lines.join(" · "));
  }

  route(/^\/sync$/, async (database) => {
    const { meta, ...counts } = await Store.counts(database);
    const outbox = await database.getAll("outbox");
    const attention = await database.getAll("attention");
    const conflicts = await database.getAll("conflicts");
    const progress = h("div", { id: "first-sync", hidden: true },
      h("label", { for: "first-sync-bar" }, t("first_sync")), h("progress", { id: "first-sync-bar" }));
    return h("section", {},
      h("div", { class: "page-head" }, h("h1", {}, t("sync_title")),
        h("button", { type: "button", id: "sync-now", onclick: () => document.dispatchEvent(new CustomEvent("fieldbook:queued")) }, t("sync_now"))),
      status(meta, counts), progress,
      h("h2", {}, t("conflicts")),
      conflicts.length ? h("ul", { class: "plain-list" }, conflicts.map(conflictCard)) : empty(t("no_conflicts")),
      h("h2", {}, t("needs_attention")),
      attention.length
        ? h("ul", { class: "list" }, attention.map((entry) => h("li", { class: "event" },
          h("strong", {}, entry.label || entry.name), h("p", { class: "error" }, reasonOf(entry)),
          h("button", { type: "button", class: "secondary", onclick: () => dismiss(entry.id) }, t("dismiss")))))
        : empty(t("nothing_refused")),
      h("h2", {}, t("waiting_title")),
      outbox.length
        ? h("ul", { class: "list" }, outbox.map((entry) => h("li", { class: "event" }, entry.label || entry.name, " ",
          h("span", { class: "badge badge-pending" }, t("pending")), h("span", { class: "row-sub" }, formatTime(entry.queued_at)))))
        : empty(t("nothing_waiting")));
  });
})(self);
