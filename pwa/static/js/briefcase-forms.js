// The briefcase's writing pages: a visit (check in, check out, outcome), a quick lead, account
// details and a new contact. Each puts a named command in the outbox (the same command the
// server's own forms call) and checks only what the rep can fix on the spot; the server checks
// everything again and refuses with a reason the rep then sees under "Needs attention".
(function (scope) {
  "use strict";
  const Store = scope.FieldbookStore;
  const { t, h, empty, formatTime, uuid7, queue, route, go } = scope.Briefcase;

  const UUID = "([0-9a-f-]{36})";
  const FIX_OPTIONS = { enableHighAccuracy: true, timeout: 15000, maximumAge: 30000 };
  const OUTCOMES = ["order_taken", "follow_up", "quote_requested", "no_interest", "not_available", "other"];

  let fieldCount = 0;
  function field(label, control, hint) {
    const id = control.id || `bf-${++fieldCount}`;
    control.id = id;
    const error = h("p", { class: "error", id: `${id}-error`, hidden: true });
    control.setAttribute("aria-describedby", `${id}-error`);
    return h("div", { class: "field" }, h("label", { for: id }, label), hint ? h("p", { class: "hint" }, hint) : null, control, error);
  }

  function input(name, value, attrs = {}) {
    return h("input", { name, value: value || "", ...attrs });
  }

  function textarea(name, value) {
    const element = h("textarea", { name, rows: 3 });
    element.value = value || "";
    return element;
  }

  // Show what is wrong next to each field and move focus to the first one (nothing is queued).
  function showErrors(form, errors) {
    for (const error of form.querySelectorAll(".error")) error.hidden = true;
    const names = Object.keys(errors);
    for (const name of names) {
      const control = form.elements.namedItem(name);
      const error = control && form.querySelector(`#${control.id}-error`);
      if (error) {
        error.textContent = errors[name];
        error.hidden = false;
        control.setAttribute("aria-invalid", "true");
      }
    }
    if (names.length) form.elements.namedItem(names[0]).focus();
    return names.length > 0;
  }

  function values(form) {
    return Object.fromEntries([...new FormData(form)].map(([name, value]) => [name, String(value).trim()]));
  }

  function page(title, ...children) {
    return h("section", {}, h("h1", {}, title), ...children);
  }

  // --- a visit ---------------------------------------------------------------------------------

  function locate() {
    return new Promise((resolve) => {
      if (!("geolocation" in navigator)) return resolve(null);
      navigator.geolocation.getCurrentPosition((position) => resolve(position), () => resolve(null), FIX_OPTIONS);
    });
  }

  function checkInForm(visit, account) {
    const reason = field(t("no_location_reason"), input("no_location_reason", ""), t("no_location_help"));
    reason.hidden = true;
    const status = h("p", { class: "hint", role: "status" });
    const form = h("form", { class: "card", novalidate: true }, reason, status, h("button", { type: "submit" }, t("check_in")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      status.textContent = t("locating");
      const position = await locate();
      status.textContent = "";
      const args = { visit_id: visit.id, device_time: new Date().toISOString() };
      if (position) {
        Object.assign(args, { latitude: position.coords.latitude, longitude: position.coords.longitude,
          accuracy: position.coords.accuracy, device_time: new Date(position.timestamp).toISOString() });
      } else {
        reason.hidden = false;
        const given = values(form).no_location_reason;
        if (!given) return showErrors(form, { no_location_reason: t("no_location_needed") });
        args.no_location_reason = given;
      }
      await queue("visits.check_in", args, { label: t("label_check_in", { name: account.name }), target: { kind: "visits", id: visit.id } }, location.pathname);
    });
    return form;
  }

  function checkOutForm(visit, account) {
    const form = h("form", { class: "card" }, h("p", {}, t("checked_in_at", { time: formatTime(visit.checked_in_device_at || visit.checked_in_at) })),
      h("button", { type: "submit" }, t("check_out")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      await queue("visits.check_out", { visit_id: visit.id, device_time: new Date().toISOString() },
        { label: t("label_check_out", { name: account.name }), target: { kind: "visits", id: visit.id } }, location.pathname);
    });
    return form;
  }

  function outcomeForm(visit, account) {
    const choice = h("select", { name: "outcome" }, h("option", { value: "" }, "—"),
      OUTCOMES.map((value) => h("option", { value, selected: visit.outcome === value }, t(`outcome_${value}`))));
    const form = h("form", { class: "card", novalidate: true },
      h("h2", {}, t("outcome")),
      field(t("what_came_of_it"), choice),
      field(t("notes"), textarea("notes", visit.notes)),
      field(t("next_step"), input("next_step", visit.next_step)),
      field(t("next_step_due"), input("next_step_due", visit.next_step_due, { type: "date" })),
      h("p", { class: "hint" }, t("photo_online")),
      h("button", { type: "submit" }, t("save_outcome")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const given = values(form);
      const errors = {};
      if (!given.outcome) errors.outcome = t("choose_outcome");
      if (given.next_step_due && !given.next_step) errors.next_step = t("say_next_step");
      if (showErrors(form, errors)) return;
      await queue("visits.record_outcome", { visit_id: visit.id, ...given },
        { label: t("label_outcome", { name: account.name }), target: { kind: "visits", id: visit.id } }, location.pathname);
    });
    return form;
  }

  route(new RegExp(`^/visits/${UUID}$`), async (db, [id]) => {
    const { visits, accounts } = await Store.view(db, ["visits", "accounts"]);
    const visit = visits.get(id);
    if (!visit) return empty(t("not_on_phone"));
    const account = accounts.get(visit.account_id) || { name: "—" };
    return page(account.name,
      h("p", {}, h("span", { class: `badge badge-${visit.status}` }, t(`visit_${visit.status}`)), " ",
        visit.pending ? h("span", { class: "badge badge-pending" }, t("pending")) : null, ` ${visit.purpose || ""}`),
      visit.status === "planned" ? checkInForm(visit, account) : null,
      visit.status === "checked_in" ? checkOutForm(visit, account) : null,
      visit.status === "checked_in" || visit.status === "done" ? outcomeForm(visit, account) : null);
  });

  // --- a quick lead ----------------------------------------------------------------------------

  route(/^\/leads\/new$/, async () => {
    const form = h("form", { class: "card", novalidate: true },
      field(t("lead_name"), input("name", "", { autocomplete: "off" })),
      field(t("lead_company"), input("company", "", { autocomplete: "off" })),
      field(t("phone"), input("phone", "", { type: "tel" })),
      field(t("email"), input("email", "", { type: "email" })),
      field(t("note"), textarea("note", "")),
      h("button", { type: "submit" }, t("save_lead")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const given = values(form);
      const errors = {};
      if (!given.name && !given.company) errors.name = t("lead_needs_name");
      if (!given.phone && !given.email) errors.phone = t("lead_needs_contact");
      if (showErrors(form, errors)) return;
      await queue("leads.capture", { id: uuid7(), ...given },
        { label: t("label_lead", { name: given.name || given.company }) }, "/leads");
    });
    return page(t("capture_lead"), form);
  });

  // --- an account's details and a new contact --------------------------------------------------

  const ACCOUNT_FIELDS = ["street", "postcode", "city", "phone", "notes"];

  route(new RegExp(`^/accounts/${UUID}/edit$`), async (db, [id]) => {
    const { accounts } = await Store.view(db, ["accounts"]);
    const account = accounts.get(id);
    if (!account) return empty(t("not_on_phone"));
    const held = await Store.record(db, "accounts", id); // the server's version this edit builds on
    const form = h("form", { class: "card", novalidate: true },
      ACCOUNT_FIELDS.map((name) => field(t(name), name === "notes" ? textarea(name, account[name]) : input(name, account[name]))),
      h("button", { type: "submit" }, t("save")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const given = values(form);
      const changed = Object.fromEntries(ACCOUNT_FIELDS.filter((name) => given[name] !== (account[name] || "")).map((name) => [name, given[name]]));
      if (!Object.keys(changed).length) return go(`/accounts/${id}`);
      await queue("accounts.update", { account_id: id, ...changed },
        { baseVersion: held.version, label: t("label_account", { name: account.name }), target: { kind: "accounts", id } }, `/accounts/${id}`);
    });
    return page(t("edit_details"), h("p", { class: "muted" }, account.name), form);
  });

  function contactForm(contact, save) {
    const form = h("form", { class: "card", novalidate: true },
      field(t("contact_name"), input("name", contact.name)),
      field(t("contact_title"), input("title", contact.title)),
      field(t("phone"), input("phone", contact.phone, { type: "tel" })),
      field(t("email"), input("email", contact.email, { type: "email" })),
      h("button", { type: "submit" }, t("save")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const given = values(form);
      if (showErrors(form, given.name ? {} : { name: t("contact_needs_name") })) return;
      await save(given);
    });
    return form;
  }

  route(new RegExp(`^/accounts/${UUID}/contacts/new$`), async (db, [id]) => {
    const account = await Store.record(db, "accounts", id);
    if (!account) return empty(t("not_on_phone"));
    const form = contactForm({}, (given) =>
      queue("contacts.create", { id: uuid7(), account_id: id, ...given },
        { label: t("label_contact", { name: given.name, account: account.name }), target: { kind: "accounts", id } }, `/accounts/${id}`));
    return page(t("add_contact"), h("p", { class: "muted" }, account.name), form);
  });

  route(new RegExp(`^/contacts/${UUID}/edit$`), async (db, [id]) => {
    const { contacts } = await Store.view(db, ["contacts"]);
    const contact = contacts.get(id);
    if (!contact) return empty(t("not_on_phone"));
    const held = await Store.record(db, "contacts", id);
    const back = `/accounts/${contact.account_id}`;
    const form = contactForm(contact, (given) => {
      const changed = Object.fromEntries(Object.entries(given).filter(([name, value]) => value !== (contact[name] || "")));
      if (!Object.keys(changed).length) return go(back);
      return queue("contacts.update", { contact_id: id, ...changed },
        { baseVersion: held ? held.version : null, label: t("label_contact_edit", { name: contact.name }), target: { kind: "contacts", id } }, back);
    });
    return page(t("edit_contact"), form);
  });


  // Reminders: overdue, today and upcoming from what the phone holds; Done and "1 hour" queue.
  function reminderRow(reminder) {
    const act = (name, args, label) => async () =>
      queue(name, { reminder_id: reminder.id, ...args }, { label: t(label, { title: reminder.title }), target: { kind: "reminders", id: reminder.id } }, "/reminders");
    return h("li", { class: "card", id: `reminder-${reminder.id}` },
      h("p", { class: "row-title" }, reminder.title),
      h("p", { class: "row-sub" }, formatTime(reminder.due_at), reminder.pending ? h("span", { class: "badge badge-pending" }, t("pending")) : null),
      h("div", { class: "actions" },
        h("button", { type: "button", onclick: act("reminders.complete", {}, "label_reminder_done") }, t("reminder_done")),
        h("button", { type: "button", class: "secondary", onclick: act("reminders.snooze", { snooze: "15m" }, "label_reminder_snooze") }, t("reminder_snooze_15")),
        h("button", { type: "button", class: "secondary", onclick: act("reminders.snooze", { snooze: "1h" }, "label_reminder_snooze") }, t("reminder_snooze_hour")),
        h("button", { type: "button", class: "secondary", onclick: act("reminders.snooze", { snooze: "tomorrow" }, "label_reminder_snooze") }, t("reminder_snooze_tomorrow"))));
  }

  route(/^\/reminders$/, async (db) => {
    const { reminders } = await Store.view(db, ["reminders"]);
    const me = scope.Briefcase.me;
    const open = [...reminders.values()]
      .filter((r) => !r.done_at && r.owner_id === me.id)
      .sort((a, b) => a.due_at.localeCompare(b.due_at));
    const now = new Date();
    const tomorrow = new Date(now);
    tomorrow.setHours(24, 0, 0, 0);
    const groups = [
      ["reminders_overdue", open.filter((r) => new Date(r.due_at) <= now)],
      ["today", open.filter((r) => new Date(r.due_at) > now && new Date(r.due_at) < tomorrow)],
      ["reminders_upcoming", open.filter((r) => new Date(r.due_at) >= tomorrow)],
    ];
    return h("section", {},
      h("div", { class: "page-head" }, h("h1", {}, t("reminders")), h("a", { class: "button", href: "/reminders/new" }, t("new_reminder"))),
      open.length ? groups.filter(([, items]) => items.length).map(([key, items]) =>
        h("section", {}, h("h2", {}, t(key)), h("ul", { class: "plain-list" }, items.map(reminderRow)))) : empty(t("no_reminders")));
  });

  route(/^\/reminders\/new$/, async () => {
    const form = h("form", { class: "card", novalidate: true },
      field(t("reminder_title"), input("title", "", { autocomplete: "off" })),
      field(t("reminder_due_on"), input("due_on", "", { type: "date" })),
      field(t("reminder_due_time"), input("due_time", "09:00", { type: "time" })),
      h("button", { type: "submit" }, t("save_reminder")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const given = values(form);
      const errors = {};
      if (!given.title) errors.title = t("required");
      if (!given.due_on) errors.due_on = t("required");
      if (showErrors(form, errors)) return;
      const owner_id = scope.Briefcase.me.id;
      await queue("reminders.create", { id: uuid7(), owner_id, ...given }, { label: t("label_reminder_new", { title: given.title }) }, "/reminders");
    });
    return page(t("new_reminder"), form);
  });

  scope.BriefcaseForms = { field, input, textarea, showErrors, values, page };
})(self);
