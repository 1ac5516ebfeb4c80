// The briefcase: Fieldbook's pages drawn on the phone from what the device holds, for when the
// server cannot be reached. The service worker serves this page's shell for any address it
// can draw (/, /accounts/<id>, /orders?q=..., /visits/<id>, ...) while offline, and /sync shows
// what waits to sync, what needs attention and the conflicts to settle at any time.
//
// This file holds the router and the small DOM and text helpers; briefcase-views.js draws the
// pages that read, briefcase-forms.js the ones that write (always through the outbox).
(function (scope) {
  "use strict";
  const Store = scope.FieldbookStore;

  const root = document.getElementById("briefcase");
  const TEXT = JSON.parse(document.getElementById("briefcase-text").textContent);
  const me = { id: root.dataset.user, role: root.dataset.role, lang: root.dataset.lang };
  // Dates and numbers as the phone writes them (en-GB, say), in the language of the page.
  const locale = navigator.language.startsWith(me.lang) ? navigator.language : me.lang;

  // t("{n} waiting", {n: 3}): the page's translated text with its placeholders filled in.
  function t(key, params = {}) {
    const text = TEXT[key];
    if (text === undefined) throw new Error(`briefcase text ${key} is missing`);
    return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name]));
  }

  // h("a", {href: "/"}, "Today"): an element, its attributes and children (strings become text).
  function h(tag, attrs = {}, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }

  function row(href, title, sub, ...end) {
    return h("li", {}, h("a", { class: "row", href },
      h("span", { class: "row-main" }, h("span", { class: "row-title" }, title), sub ? h("span", { class: "row-sub" }, sub) : null),
      end.length ? h("span", { class: "row-end" }, end) : null));
  }

  function pendingBadge(record) {
    return record && record.pending ? h("span", { class: "badge badge-pending" }, t("pending")) : null;
  }

  function empty(text) {
    return h("div", { class: "card empty" }, h("p", {}, text));
  }

  function formatDate(iso) {
    if (!iso) return "";
    return new Intl.DateTimeFormat(locale, { dateStyle: "medium" }).format(new Date(iso.length === 10 ? `${iso}T12:00:00` : iso));
  }

  function formatTime(iso) {
    if (!iso) return "";
    return new Intl.DateTimeFormat(locale, { dateStyle: "short", timeStyle: "short" }).format(new Date(iso));
  }

  function money(amount, currency) {
    return new Intl.NumberFormat(locale, { style: "currency", currency: currency || "EUR" }).format(Number(amount));
  }

  function number(value) {
    return new Intl.NumberFormat(locale).format(Number(value));
  }

  function localDay(date = new Date()) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
  }

  // A UUIDv7 for a record made on the phone (DESIGN.md: ids of new records come from the client).
  function uuid7() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    let now = Date.now();
    for (let i = 5; i >= 0; i--) {
      bytes[i] = now % 256;
      now = Math.floor(now / 256);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  let database = null;
  let wiped = false; // the person's data was deleted: never open (and so re-create) it again
  async function db() {
    if (wiped) throw new Error("this person's data was deleted from the phone");
    if (!database) {
      database = await Store.open(me.id);
      // Closed under us (a wipe or an upgrade elsewhere): open afresh when next needed.
      database.addEventListener("close", () => (database = null));
      database.addEventListener("versionchange", () => (database = null));
    }
    return database;
  }

  // Queue a change, tell the page script to sync, and show where the rep goes next.
  async function queue(name, args, options, next) {
    await Store.queue(await db(), name, args, options);
    document.dispatchEvent(new CustomEvent("fieldbook:queued"));
    go(next);
  }

  const routes = [];
  function route(pattern, drawPage) {
    routes.push({ pattern, draw: drawPage });
  }

  function go(path) {
    history.pushState(null, "", path);
    return draw({ focus: true });
  }

  // Draws overlap (a sync finishes while the rep taps): only the latest one paints, or a slow
  // earlier one would put back what the rep has just changed (a conflict they resolved).
  let latestDraw = 0;
  async function draw({ focus = false } = {}) {
    if (wiped) return;
    const thisDraw = ++latestDraw;
    const url = new URL(location.href);
    const match = routes.map((r) => ({ r, m: url.pathname.match(r.pattern) })).find(({ m }) => m);
    const page = match ? await match.r.draw(await db(), match.m.slice(1), url.searchParams) : unavailable();
    if (thisDraw !== latestDraw) return;
    const banner = url.pathname === "/sync" ? null : h("p", { class: "alert offline-banner", role: "note" }, t("offline_banner"));
    root.replaceChildren(...[banner, page].filter(Boolean));
    markCurrentSection(url.pathname);
    // After moving within the briefcase, focus the new heading so screen readers announce the
    // page, as a page load would; drawing again after a sync leaves focus alone.
    const heading = root.querySelector("h1");
    if (heading) document.title = `${heading.textContent} · Fieldbook`;
    if (heading && focus) {
      heading.setAttribute("tabindex", "-1");
      heading.focus({ preventScroll: true });
    }
  }

  function typing() {
    const element = document.activeElement;
    return root.contains(element) && element.matches("input, textarea, select");
  }

  function unavailable() {
    return h("section", {}, h("h1", {}, t("not_on_phone")), h("p", {}, t("not_on_phone_help")),
      h("p", {}, h("a", { class: "button", href: "/" }, t("today"))));
  }

  function markCurrentSection(path) {
    for (const link of document.querySelectorAll("#bottom-nav a")) {
      const href = link.getAttribute("href");
      const current = href === path || (href !== "/" && path.startsWith(`${href}/`));
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
  }

  // While offline, links between pages the briefcase can draw stay on this page.
  function followLinksHere(event) {
    const link = event.target.closest("a[href]");
    if (!link || navigator.onLine || event.defaultPrevented || event.metaKey || event.ctrlKey) return;
    const url = new URL(link.href, location.href);
    if (url.origin !== location.origin || !routes.some((r) => r.pattern.test(url.pathname))) return;
    event.preventDefault();
    go(url.pathname + url.search);
  }

  scope.Briefcase = { locale, t, h, row, pendingBadge, empty, formatDate, formatTime, money, number, localDay, uuid7, db, me, queue, route, go, draw };

  document.addEventListener("click", followLinksHere);
  window.addEventListener("popstate", () => draw({ focus: true }));
  // A sync finished (here, in another tab or in the service worker): draw again with what the
  // device holds now, unless the rep is filling in a form.
  if (typeof BroadcastChannel !== "undefined") {
    new BroadcastChannel(scope.FieldbookSync.CHANNEL).addEventListener("message", (event) => {
      if (event.data.type === "synced" && !typing()) draw();
      if (event.data.type === "wiped") wiped = true;
    });
  }
  window.addEventListener("online", () => typing() || draw());
  window.addEventListener("offline", () => typing() || draw());
  document.addEventListener("DOMContentLoaded", () => draw());
})(self);
