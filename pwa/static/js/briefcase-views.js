// The briefcase's reading pages: Today, the team's day, accounts, orders and leads, drawn from
// what the device holds with its pending changes laid over (see briefcase.js).
(function (scope) {
  "use strict";
  const Store = scope.FieldbookStore;
  const { t, h, row, pendingBadge, empty, formatDate, formatTime, money, number, localDay, me, route } = scope.Briefcase;

  const PAGE = 50;
  const UUID = "([0-9a-f-]{36})";

  function byName(a, b) {
    return (a.name || "").localeCompare(b.name || "", me.lang);
  }

  function visitOrder(a, b) {
    const position = (v) => (v.route_position === null || v.route_position === undefined ? 1e9 : v.route_position);
    return position(a) - position(b) || (a.window_start || "").localeCompare(b.window_start || "");
  }

  function statusBadge(visit) {
    return h("span", { class: `badge badge-${visit.status}` }, t(`visit_${visit.status}`));
  }

  function windowOf(visit) {
    if (!visit.window_start) return t("any_time");
    return visit.window_end ? `${visit.window_start.slice(0, 5)}–${visit.window_end.slice(0, 5)}` : visit.window_start.slice(0, 5);
  }

  function visitRow(visit, accounts, { withDay = false } = {}) {
    const account = accounts.get(visit.account_id);
    const sub = [withDay ? formatDate(visit.planned_on) : null, windowOf(visit), visit.purpose].filter(Boolean).join(" · ");
    return row(`/visits/${visit.id}`, account ? account.name : "—", sub, statusBadge(visit), pendingBadge(visit));
  }

  // A list with "Show more" paging, so ten thousand orders never land in the page at once.
  function pagedList(items, drawItem, emptyText) {
    if (!items.length) return empty(emptyText);
    const list = h("ul", { class: "list" });
    let shown = 0;
    const more = h("p", { class: "more-row" });
    const showMore = () => {
      list.append(...items.slice(shown, shown + PAGE).map(drawItem));
      shown += PAGE;
      more.replaceChildren(shown < items.length ? h("button", { type: "button", class: "secondary", onclick: showMore }, t("show_more")) : "");
    };
    showMore();
    return h("div", {}, h("p", { class: "result-count", role: "status" }, t("results", { n: items.length })), list, more);
  }

  function searchForm(action, query, label) {
    return h("form", { class: "search", role: "search", method: "get", action },
      h("label", { class: "visually-hidden", for: "briefcase-q" }, label),
      h("input", { id: "briefcase-q", type: "search", name: "q", value: query, placeholder: label, autocomplete: "off" }));
  }

  function matches(query, ...values) {
    const wanted = query.trim().toLocaleLowerCase(me.lang);
    return !wanted || values.some((value) => (value || "").toLocaleLowerCase(me.lang).includes(wanted));
  }

  route(/^\/$/, async (db) => {
    const { visits, accounts } = await Store.view(db, ["visits", "accounts"]);
    const today = localDay();
    const mine = [...visits.values()].filter((v) => v.owner_id === me.id && v.planned_on === today).sort(visitOrder);
    return h("section", {}, h("h1", {}, t("today")),
      mine.length ? h("ol", { class: "list route" }, mine.map((v) => visitRow(v, accounts))) : empty(t("no_visits_today")),
      me.role !== "rep" ? h("p", {}, h("a", { href: "/team" }, `${t("team_day")} →`)) : null,
      me.role !== "rep" ? h("p", {}, h("a", { href: "/approvals" }, `${t("approvals")} →`)) : null);
  });

  route(/^\/team$/, async (db) => {
    const { visits, accounts, users } = await Store.view(db, ["visits", "accounts", "users"]);
    const today = localDay();
    const reps = [...users.values()].filter((u) => u.id !== me.id).sort(byName);
    const sections = reps.map((rep) => {
      const day = [...visits.values()].filter((v) => v.owner_id === rep.id && v.planned_on === today).sort(visitOrder);
      const done = day.filter((v) => v.status === "done").length;
      return h("section", { class: "card" }, h("h2", {}, rep.name), h("p", { class: "muted" }, t("done_of", { done, planned: day.length })),
        day.length ? h("ul", { class: "list" }, day.map((v) => visitRow(v, accounts))) : null);
    });
    return h("section", {}, h("h1", {}, t("team_day")), sections.length ? sections : empty(t("no_team")));
  });

  route(/^\/accounts$/, async (db, _, query) => {
    const q = query.get("q") || "";
    const { accounts } = await Store.view(db, ["accounts"]);
    const found = [...accounts.values()].filter((a) => matches(q, a.name, a.city, a.customer_number)).sort(byName);
    return h("section", {}, h("h1", {}, t("accounts")), searchForm("/accounts", q, t("search_accounts")),
      pagedList(found, (a) => row(`/accounts/${a.id}`, a.name, [a.city, a.customer_number].filter(Boolean).join(" · "),
        h("span", { class: "tier" }, a.tier_override || a.tier), pendingBadge(a)), t("no_accounts")));
  });

  route(new RegExp(`^/accounts/${UUID}$`), async (db, [id]) => {
    const { accounts, contacts, visits, orders, quotes, users } = await Store.view(db, ["accounts", "contacts", "visits", "orders", "quotes", "users"]);
    const account = accounts.get(id);
    if (!account) return empty(t("not_on_phone"));
    const people = [...contacts.values()].filter((c) => c.account_id === id).sort(byName);
    const history = [...visits.values()].filter((v) => v.account_id === id).sort((a, b) => b.planned_on.localeCompare(a.planned_on)).slice(0, 20);
    const recent = [...orders.values()].filter((o) => o.account_id === id).sort((a, b) => b.ordered_at.localeCompare(a.ordered_at));
    const address = [account.street, account.postcode, account.city].filter(Boolean).join(", ");
    return h("section", {},
      h("div", { class: "page-head" }, h("h1", {}, account.name), pendingBadge(account)),
      h("div", { class: "card" },
        address ? h("p", {}, address) : null,
        account.phone ? h("p", {}, h("a", { href: `tel:${account.phone}` }, account.phone)) : null,
        account.notes ? h("p", { class: "notes" }, account.notes) : null,
        h("p", {}, h("a", { class: "button secondary", href: `/accounts/${id}/edit` }, t("edit_details")))),
      h("h2", {}, t("contacts")),
      people.length ? h("ul", { class: "list" }, people.map((c) => row(`/contacts/${c.id}/edit`, c.name, [c.title, c.phone, c.email].filter(Boolean).join(" · "), pendingBadge(c)))) : empty(t("no_contacts")),
      h("p", {}, h("a", { class: "button secondary", href: `/accounts/${id}/contacts/new` }, t("add_contact"))),
      h("h2", {}, t("visits")),
      history.length ? h("ul", { class: "list" }, history.map((v) => visitRow(v, accounts, { withDay: true }))) : empty(t("no_visits")),
      h("h2", {}, t("recent_orders")),
      recent.length ? h("ul", { class: "list" }, recent.map((o) => orderRow(o, accounts))) : empty(t("no_orders")),
      scope.BriefcaseQuotes.accountQuotes(account, quotes, users));
  });

  function orderRow(order, accounts) {
    const account = accounts.get(order.account_id);
    return row(`/orders/${encodeURIComponent(order.number)}`, order.number,
      [account ? account.name : null, formatDate(order.ordered_at)].filter(Boolean).join(" · "),
      h("span", { class: "amount" }, money(order.total, order.currency)),
      h("span", { class: `badge badge-${order.status}` }, t(`order_${order.status}`)));
  }

  route(/^\/orders$/, async (db, _, query) => {
    const q = query.get("q") || "";
    const { orders, accounts } = await Store.view(db, ["orders", "accounts"]);
    const found = [...orders.values()]
      .filter((o) => matches(q, o.number, o.customer_po, (accounts.get(o.account_id) || {}).name))
      .sort((a, b) => b.ordered_at.localeCompare(a.ordered_at));
    return h("section", {}, h("h1", {}, t("orders")), searchForm("/orders", q, t("search_orders")),
      h("p", { class: "hint" }, t("orders_on_phone")),
      pagedList(found, (o) => orderRow(o, accounts), q ? t("no_orders_match", { q }) : t("no_orders")));
  });

  route(/^\/orders\/([^/]+)$/, async (db, [orderNumber]) => {
    const { orders, accounts } = await Store.view(db, ["orders", "accounts"]);
    const order = [...orders.values()].find((o) => o.number === decodeURIComponent(orderNumber));
    if (!order) return empty(t("order_not_on_phone"));
    const account = accounts.get(order.account_id);
    return h("section", {},
      h("h1", {}, order.number),
      h("p", {}, account ? h("a", { href: `/accounts/${account.id}` }, account.name) : null, ` · ${formatDate(order.ordered_at)} · `,
        h("span", { class: `badge badge-${order.status}` }, t(`order_${order.status}`))),
      h("ul", { class: "list" }, order.lines.map((line) =>
        h("li", { class: "event" }, `${number(line.quantity)} × ${line.description || line.sku}`, h("span", { class: "amount" }, ` ${money(line.amount, order.currency)}`)))),
      h("p", { class: "amount" }, `${t("total")}: ${money(order.total, order.currency)}`),
      h("ol", { class: "timeline" }, order.timeline.map((event) => h("li", { class: "done" }, t(`order_${event.status}`), h("span", {}, formatTime(event.at))))));
  });

  route(/^\/leads$/, async (db) => {
    const { leads } = await Store.view(db, ["leads"]);
    const open = [...leads.values()].filter((l) => l.status === "open").sort((a, b) => (b.score || 0) - (a.score || 0));
    return h("section", {},
      h("div", { class: "page-head" }, h("h1", {}, t("leads")), h("a", { class: "button", href: "/leads/new" }, t("capture_lead"))),
      pagedList(open, (l) => row(`/leads`, l.name || l.company, [l.company, l.phone, l.email].filter(Boolean).join(" · "), pendingBadge(l)), t("no_leads")));
  });

  scope.BriefcaseViews = { pagedList, searchForm, matches, byName };
})(self);
