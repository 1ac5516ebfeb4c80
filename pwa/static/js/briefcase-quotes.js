// The briefcase's quote pages: the person's quotes, a quote with its approval steps, a new quote
// drafted from the products the phone holds (totals worked out on the phone by quote-pricing.js,
// exactly as the server will), and the approvals waiting for a manager. Submitting, approving
// and rejecting queue the same named commands the server's pages call; a decision names the
// quote revision the approver saw, and the server refuses it if the quote changed since (the
// refusal shows under "Needs attention" on /sync).
(function (scope) {
  "use strict";
  const Store = scope.FieldbookStore;
  const Pricing = scope.FieldbookPricing;
  const { t, h, row, pendingBadge, empty, formatDate, localDay, uuid7, db, me, queue, route } = scope.Briefcase;
  const { field, input, textarea, showErrors, values, page } = scope.BriefcaseForms;

  const UUID = "([0-9a-f-]{36})";
  const KINDS = ["quotes", "accounts", "users", "products", "approval_rules"];
  const VALID_DAYS = 30;
  const FOUND = 10; // products listed for a search

  Pricing.setCurrencyDigits(JSON.parse(document.getElementById("briefcase-currencies").textContent));

  // An amount with its currency's decimals as the server rounds them (the text is exact).
  function price(amount, currency) {
    const digits = Pricing.digits(currency);
    const format = new Intl.NumberFormat(scope.Briefcase.locale, { style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits });
    return format.format(String(amount === null || amount === undefined ? "0" : amount));
  }

  function statusBadge(quote) {
    return h("span", { class: `badge badge-quote-${quote.status}` }, t(`quote_${quote.status}`));
  }

  function title(quote, accounts) {
    const account = accounts.get(quote.account_id);
    return [quote.number || t("new_quote"), account ? account.name : null].filter(Boolean).join(" · ");
  }

  function quoteRow(quote, accounts, users) {
    const owner = users.get(quote.owner_id);
    return row(`/quotes/${quote.id}`, title(quote, accounts),
      [owner ? owner.name : null, t("valid_until_date", { date: formatDate(quote.valid_until) })].filter(Boolean).join(" · "),
      h("span", { class: "amount" }, price(quote.total, quote.currency)), statusBadge(quote), pendingBadge(quote));
  }

  function newestFirst(a, b) {
    return (b.updated_at || "").localeCompare(a.updated_at || "");
  }

  function reason(found) {
    return t(`reason_${found.kind}`, found);
  }

  function waitingStep(quote) {
    return quote.status === "pending" ? (quote.approvals || []).find((step) => step.status === "waiting") : undefined;
  }

  // Whether this person may decide the waiting step, as far as the phone can tell (the server
  // checks again): not their own quote, not a second step of one submission, and the step's level.
  function mayDecide(quote) {
    const step = waitingStep(quote);
    if (!step || quote.owner_id === me.id || (quote.approvals || []).some((s) => s.decided_by_id === me.id)) return false;
    return step.level === "admin" ? me.role === "admin" : me.role === "manager" || me.role === "admin";
  }

  function label(quote, accounts) {
    return quote.number || (accounts.get(quote.account_id) || {}).name || t("new_quote");
  }

  // --- the lists ---------------------------------------------------------------------------------

  route(/^\/quotes$/, async (database) => {
    const { quotes, accounts, users } = await Store.view(database, KINDS);
    const shown = [...quotes.values()].filter((q) => me.role !== "rep" || q.owner_id === me.id).sort(newestFirst);
    return h("section", {},
      h("div", { class: "page-head" }, h("h1", {}, t("quotes")), h("a", { class: "button", href: "/quotes/new" }, t("new_quote"))),
      scope.BriefcaseViews.pagedList(shown, (q) => quoteRow(q, accounts, users), t("no_quotes")));
  });

  // The account page's part (briefcase-views.js): its quotes, and a new one.
  function accountQuotes(account, quotes, users) {
    const accounts = new Map([[account.id, account]]);
    const theirs = [...quotes.values()].filter((q) => q.account_id === account.id).sort(newestFirst);
    return h("section", {},
      h("div", { class: "page-head" }, h("h2", {}, t("quotes")),
        h("a", { class: "button secondary", href: `/quotes/new?account_id=${account.id}` }, t("new_quote"))),
      theirs.length ? h("ul", { class: "list" }, theirs.map((q) => quoteRow(q, accounts, users))) : empty(t("no_quotes")));
  }

  // --- a quote -----------------------------------------------------------------------------------

  function linesTable(quote) {
    const discount = Pricing.parse(quote.discount_percent);
    const headings = ["product", "quantity", "unit_price", "discount_column", "amount"];
    return h("div", { class: "table-scroll" }, h("table", { class: "lines" },
      h("thead", {}, h("tr", {}, headings.map((key, i) => h("th", { scope: "col", class: i ? "num" : null }, t(key))))),
      h("tbody", {}, (quote.lines || []).map((line) => h("tr", {},
        h("th", { scope: "row" }, line.name || "—", h("br"), h("span", { class: "muted" }, line.code || "")),
        h("td", { class: "num" }, `${Pricing.plain(Pricing.parse(line.quantity))} ${line.unit || ""}`),
        h("td", { class: "num" }, price(line.unit_price, quote.currency)),
        h("td", { class: "num" }, Pricing.plain(Pricing.parse(line.discount_percent))),
        h("td", { class: "num" }, price(line.amount, quote.currency))))),
      h("tfoot", {},
        discount && discount.units !== 0n
          ? h("tr", {}, h("th", { scope: "row", colspan: 4 }, `${t("quote_discount")} ${Pricing.plain(discount)} %`),
            h("td", { class: "num" }, `− ${price(Pricing.fixed(Pricing.sub(Pricing.parse(quote.subtotal), Pricing.parse(quote.total))), quote.currency)}`))
          : null,
        h("tr", {}, h("th", { scope: "row", colspan: 4 }, t("total")), h("td", { class: "num" }, h("strong", {}, price(quote.total, quote.currency)))))));
  }

  function chainList(quote, users) {
    const steps = quote.approvals || [];
    if (!steps.length) return null;
    return h("section", {}, h("h2", {}, t("approval")),
      h("ol", { class: "timeline approval-chain" }, steps.map((step) => {
        const decider = users.get(step.decided_by_id);
        return h("li", { class: step.status === "approved" ? "done" : "todo" },
          h("span", {}, `${t(`level_${step.level}`)}: `, h("strong", {}, t(`step_${step.status}`)), decider ? ` · ${decider.name}` : ""),
          h("ul", { class: "muted" }, (step.reasons || []).map((found) => h("li", {}, reason(found)))),
          step.comment ? h("p", { class: "notes" }, step.comment) : null);
      })));
  }

  // Approve or reject in one tap, with an optional comment; the decision names the revision seen.
  function decisionForm(quote, held, accounts, next) {
    const comment = h("textarea", { name: "comment", rows: 2, maxlength: 1000 });
    const form = h("form", { class: "stack", novalidate: true },
      field(t("comment_optional"), comment),
      h("div", { class: "actions" },
        h("button", { type: "submit", value: "approve" }, t("approve")),
        h("button", { type: "submit", value: "reject", class: "secondary" }, t("reject"))));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const approve = !event.submitter || event.submitter.value !== "reject";
      const name = label(quote, accounts);
      await queue(approve ? "quotes.approve" : "quotes.reject",
        { quote_id: quote.id, revision: quote.revision, comment: values(form).comment || "" },
        { baseVersion: held ? held.version : null, label: t(approve ? "label_quote_approve" : "label_quote_reject", { name }),
          target: { kind: "quotes", id: quote.id } }, next);
    });
    return form;
  }

  function approverCard(quote, held, accounts, users, next) {
    const step = waitingStep(quote);
    const owner = users.get(quote.owner_id);
    const headingId = `approval-title-${quote.id}`;
    return h("article", { class: "card approval-card", id: `approval-${quote.id}`, "aria-labelledby": headingId },
      h("h2", { class: "h3", id: headingId }, h("a", { href: `/quotes/${quote.id}` }, title(quote, accounts))),
      owner ? h("p", { class: "row-sub" }, owner.name) : null,
      h("dl", { class: "facts" },
        h("dt", {}, t("total")), h("dd", {}, h("strong", {}, price(quote.total, quote.currency))),
        h("dt", {}, t("discount_against_list")), h("dd", {}, `${Pricing.fixed(Pricing.discountAgainstList(quote.list_total, quote.total))} %`),
        h("dt", {}, t("status")), h("dd", {}, statusBadge(quote), " ", pendingBadge(quote))),
      step ? [h("p", {}, h("strong", {}, t("why_approval"))), h("ul", {}, (step.reasons || []).map((found) => h("li", {}, reason(found))))] : null,
      quote.comment ? h("blockquote", { class: "notes" }, h("span", { class: "visually-hidden" }, `${t("reps_comment")}: `), quote.comment) : null,
      mayDecide(quote) ? decisionForm(quote, held, accounts, next) : null);
  }

  function submitForm(quote, accounts) {
    const form = h("form", { class: "stack", novalidate: true },
      field(t("comment_for_approver"), textarea("comment", quote.comment)),
      h("button", { type: "submit" }, t("submit")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!(quote.lines || []).length) return showErrors(form, { comment: t("add_a_line") });
      await queue("quotes.submit", { quote_id: quote.id, comment: values(form).comment || "" },
        { label: t("label_quote_submit", { name: label(quote, accounts) }), target: { kind: "quotes", id: quote.id } }, `/quotes/${quote.id}`);
    });
    return form;
  }

  function moveButton(quote, accounts, name, text, labelKey) {
    return h("button", { type: "button", onclick: () => queue(name, { quote_id: quote.id },
      { label: t(labelKey, { name: label(quote, accounts) }), target: { kind: "quotes", id: quote.id } }, `/quotes/${quote.id}`) }, text);
  }

  route(new RegExp(`^/quotes/${UUID}$`), async (database, [id]) => {
    const { quotes, accounts, users } = await Store.view(database, KINDS);
    const quote = quotes.get(id);
    if (!quote) return empty(t("not_on_phone"));
    const held = await Store.record(database, "quotes", id);
    const own = quote.owner_id === me.id;
    const account = accounts.get(quote.account_id);
    const owner = users.get(quote.owner_id);
    return h("section", {},
      h("p", {}, h("a", { href: "/quotes" }, `← ${t("quotes")}`)),
      h("div", { class: "page-head" }, h("h1", {}, `${t("quote")} ${quote.number || ""}`.trim()), statusBadge(quote), pendingBadge(quote)),
      h("section", { class: "card", "aria-label": t("details") }, h("dl", { class: "facts" },
        h("dt", {}, t("account")), h("dd", {}, account ? h("a", { href: `/accounts/${account.id}` }, account.name) : "—"),
        h("dt", {}, t("rep")), h("dd", {}, owner ? owner.name : "—"),
        h("dt", {}, t("valid_until")), h("dd", {}, formatDate(quote.valid_until)),
        h("dt", {}, t("revision")), h("dd", {}, String(quote.revision))),
        quote.notes ? h("p", { class: "notes" }, quote.notes) : null),
      h("h2", {}, t("lines")),
      (quote.lines || []).length ? linesTable(quote) : empty(t("no_lines")),
      (quote.lines || []).length ? h("p", { class: "muted" }, t("below_list", { percent: Pricing.fixed(Pricing.discountAgainstList(quote.list_total, quote.total)) })) : null,
      mayDecide(quote) ? approverCard(quote, held, accounts, users, `/quotes/${id}`) : null,
      chainList(quote, users),
      own && ["draft", "rejected"].includes(quote.status) ? h("section", { class: "card" }, submitForm(quote, accounts)) : null,
      own && quote.status === "approved" ? h("p", {}, moveButton(quote, accounts, "quotes.mark_sent", t("mark_sent"), "label_quote_sent")) : null,
      own && quote.status === "sent" ? h("p", {}, moveButton(quote, accounts, "quotes.mark_accepted", t("customer_accepted"), "label_quote_accepted")) : null);
  });

  // --- approvals waiting for this person ---------------------------------------------------------

  route(/^\/approvals$/, async (database) => {
    const { quotes, accounts, users } = await Store.view(database, KINDS);
    const all = [...quotes.values()];
    const waiting = all.filter(mayDecide).sort((a, b) => (waitingStep(a).waiting_since || "").localeCompare(waitingStep(b).waiting_since || ""));
    const decidedHere = all.filter((q) => q.pending && (q.approvals || []).some((s) => s.decided_by_id === me.id && s.decided_at)).sort(newestFirst);
    const cards = await Promise.all(waiting.map(async (q) => approverCard(q, await Store.record(database, "quotes", q.id), accounts, users, "/approvals")));
    return h("section", {},
      h("h1", {}, t("approvals")),
      h("p", { class: "result-count", role: "status" }, t("waiting_for_you", { n: waiting.length })),
      cards.length ? cards : empty(t("nothing_waits")),
      decidedHere.length ? [h("h2", {}, t("decided_here")), h("ul", { class: "list" }, decidedHere.map((q) => quoteRow(q, accounts, users)))] : null);
  });

  // --- a new quote -------------------------------------------------------------------------------

  function chooseAccount(accounts) {
    const mine = [...accounts.values()].sort(scope.BriefcaseViews.byName);
    return page(t("new_quote"), h("p", { class: "hint" }, t("choose_customer")),
      scope.BriefcaseViews.pagedList(mine, (a) => row(`/quotes/new?account_id=${a.id}`, a.name, a.city || ""), t("no_accounts")));
  }

  function inDays(days) {
    const date = new Date();
    date.setDate(date.getDate() + days);
    return localDay(date);
  }

  // A number field's value, checked as the server will: null and an error text when it is wrong.
  function checked(text, { min, max, places, required = false }) {
    if (!text) return required ? { error: t("required") } : { value: null };
    const value = Pricing.parse(text);
    const wrong = t("number_between", { min, max, places });
    if (!value || Pricing.places(value) > places) return { error: wrong };
    if (Pricing.compare(value, Pricing.parse(min)) < 0 || Pricing.compare(value, Pricing.parse(max)) > 0) return { error: wrong };
    return { value: Pricing.plain(value) };
  }

  const LINE_LIMITS = {
    quantity: { min: "0.001", max: "1000000", places: 3, required: true },
    unit_price: { min: "0", max: "10000000000", places: 3 },
    discount_percent: { min: "0", max: "100", places: 2 },
  };

  function lineInput(key, name, value, product) {
    const id = `line-${key}-${name}`;
    return h("td", { class: "num" },
      h("label", { class: "visually-hidden", for: id }, `${t(name === "discount_percent" ? "discount_column" : name)} (${product.name})`),
      h("input", { id, name: id, value, inputmode: "decimal", autocomplete: "off", size: 6, "aria-describedby": `${id}-error` }),
      h("p", { class: "error", id: `${id}-error`, hidden: true }));
  }

  route(/^\/quotes\/new$/, async (database, _, query) => {
    const { accounts, products, approval_rules: rules } = await Store.view(database, KINDS);
    const account = accounts.get(query.get("account_id") || "");
    if (!account) return chooseAccount(accounts);
    const catalogue = [...products.values()].filter((p) => p.active && !p.deleted_at).sort(scope.BriefcaseViews.byName);
    const currencies = [...new Set(catalogue.map((p) => p.currency))].sort();
    const activeRules = [...rules.values()].filter((rule) => rule.active && !rule.deleted_at);
    const lines = []; // {key, product}, in the order they were added
    let keys = 0;

    const currency = h("select", { name: "currency" }, currencies.map((code) => h("option", { value: code }, code)));
    const body = h("tbody", {});
    const search = h("input", { type: "search", name: "q", autocomplete: "off", placeholder: t("code_or_name"), "aria-controls": "product-results" });
    const results = h("ul", { class: "list", id: "product-results", "aria-live": "polite" });
    const totalsBox = h("section", { class: "card", id: "quote-totals", "aria-live": "polite", "aria-labelledby": "totals-heading" });
    const comment = field(t("comment_for_approver"), textarea("comment", ""));

    const form = h("form", { class: "stack", novalidate: true },
      currencies.length > 1 ? field(t("currency"), currency) : null,
      h("h2", { id: "lines-heading" }, t("lines")),
      h("div", { class: "table-scroll" }, h("table", { class: "lines quote-lines", "aria-labelledby": "lines-heading" },
        h("thead", {}, h("tr", {}, ["product", "quantity", "unit_price", "discount_column", "amount"].map((key, i) =>
          h("th", { scope: "col", class: i ? "num" : null }, t(key))), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, t("remove"))))),
        body)),
      h("p", { class: "error", id: "lines-error", role: "alert", hidden: true }),
      field(t("add_product"), search),
      results,
      totalsBox,
      field(t("quote_discount_percent"), input("discount_percent", "0", { inputmode: "decimal", autocomplete: "off" })),
      field(t("valid_until"), input("valid_until", inDays(VALID_DAYS), { type: "date" })),
      field(t("notes_for_customer"), textarea("notes", "")),
      comment,
      h("div", { class: "actions" },
        h("button", { type: "submit", value: "save" }, t("save_quote")),
        h("button", { type: "submit", value: "submit", class: "secondary" }, t("save_and_submit"))));

    // The lines as the form holds them now; `error` per field that is not a number the server takes.
    function read() {
      return lines.map(({ key, product }) => {
        const line = { key, product_id: product.id, list_price: product.list_price, errors: {} };
        for (const [name, limits] of Object.entries(LINE_LIMITS)) {
          const given = checked(form.elements.namedItem(`line-${key}-${name}`).value.trim(), limits);
          if (given.error) line.errors[`line-${key}-${name}`] = given.error;
          else line[name] = given.value;
        }
        line.unit_price = line.unit_price || product.list_price;
        line.discount_percent = line.discount_percent || "0";
        return line;
      });
    }

    function drawTotals() {
      const code = currency.value || currencies[0];
      const given = read();
      const good = given.filter((line) => !Object.keys(line.errors).length);
      const discount = checked(form.elements.namedItem("discount_percent").value.trim(), LINE_LIMITS.discount_percent).value || "0";
      const sums = Pricing.totals(good, discount, code);
      for (const line of given) {
        const index = good.indexOf(line);
        body.querySelector(`#amount-${line.key}`).textContent = index < 0 ? "" : price(sums.amounts[index], code);
      }
      const steps = good.length ? Pricing.chain(Pricing.evaluate(activeRules, good, discount, code)) : [];
      totalsBox.replaceChildren(h("h2", { id: "totals-heading" }, t("totals")),
        h("dl", { class: "facts" },
          h("dt", {}, t("lines")), h("dd", {}, price(sums.subtotal, code)),
          Pricing.parse(sums.discount).units ? [h("dt", {}, t("quote_discount")), h("dd", {}, `− ${price(sums.discount, code)}`)] : null,
          h("dt", {}, t("total")), h("dd", {}, h("strong", {}, price(sums.total, code))),
          Pricing.parse(sums.list_total).units ? [h("dt", {}, t("discount_against_list")), h("dd", {}, `${sums.discount_percent} %`)] : null),
        steps.length
          ? h("div", { class: "alert alert-warning" }, h("p", {}, t("needs_approval")),
            h("ul", {}, steps.map((step) => h("li", {}, `${t(`level_${step.level}`)}: ${step.reasons.map(reason).join("; ")}`))))
          : Pricing.parse(sums.total).units ? h("p", { class: "muted" }, t("within_policy")) : null);
    }

    function addLine(product) {
      const key = `n${++keys}`;
      lines.push({ key, product });
      const remove = () => {
        lines.splice(lines.findIndex((line) => line.key === key), 1);
        tr.remove();
        drawTotals();
        search.focus();
      };
      const tr = h("tr", { id: `line-${key}`, class: "quote-line" },
        h("th", { scope: "row" }, product.name, h("br"), h("span", { class: "muted" }, `${product.code} · ${price(product.list_price, product.currency)} / ${product.unit}`)),
        lineInput(key, "quantity", "1", product),
        lineInput(key, "unit_price", Pricing.plain(Pricing.parse(product.list_price)), product),
        lineInput(key, "discount_percent", "0", product),
        h("td", { class: "num" }, h("output", { id: `amount-${key}` })),
        h("td", {}, h("button", { type: "button", class: "icon-button", onclick: remove, "aria-label": t("remove_name", { name: product.name }) }, "✕")));
      body.append(tr);
      currency.disabled = true; // a quote's lines are all in its currency
      drawTotals();
      tr.querySelector("input").focus();
    }

    function findProducts() {
      const wanted = search.value.trim().toLocaleLowerCase(me.lang);
      const code = currency.value || currencies[0];
      const found = wanted ? catalogue.filter((p) => p.currency === code &&
        (p.code.toLocaleLowerCase(me.lang).includes(wanted) || p.name.toLocaleLowerCase(me.lang).includes(wanted))).slice(0, FOUND) : [];
      results.replaceChildren(...found.map((product) => h("li", { class: "row" },
        h("span", { class: "row-main" }, h("span", { class: "row-title" }, product.name),
          h("span", { class: "row-sub" }, `${product.code} · ${price(product.list_price, product.currency)} / ${product.unit}`)),
        h("button", { type: "button", class: "secondary", onclick: () => addLine(product), "aria-label": t("add_name", { name: product.name }) }, t("add")))),
      wanted && !found.length ? h("li", { class: "muted" }, t("no_product_matches", { q: search.value.trim() })) : "");
    }

    search.addEventListener("input", findProducts);
    search.addEventListener("keydown", (event) => event.key === "Enter" && event.preventDefault());
    form.addEventListener("input", (event) => event.target !== search && drawTotals());
    form.addEventListener("change", (event) => event.target === currency && findProducts());
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const given = read();
      const header = values(form);
      const errors = Object.assign({}, ...given.map((line) => line.errors));
      const discount = checked(header.discount_percent, LINE_LIMITS.discount_percent);
      if (discount.error) errors.discount_percent = discount.error;
      if (!header.valid_until) errors.valid_until = t("required");
      else if (header.valid_until < localDay()) errors.valid_until = t("from_today");
      const linesError = form.querySelector("#lines-error");
      linesError.hidden = given.length > 0;
      linesError.textContent = given.length ? "" : t("add_a_line");
      if (!given.length) return search.focus();
      if (showErrors(form, errors)) return;
      const id = uuid7();
      const args = { id, account_id: account.id, currency: currency.value || currencies[0], discount_percent: discount.value || "0",
        valid_until: header.valid_until, notes: header.notes || "",
        lines: given.map(({ product_id, quantity, unit_price, discount_percent }) => ({ product_id, quantity, unit_price, discount_percent })) };
      const options = { target: { kind: "quotes", id } };
      if (event.submitter && event.submitter.value === "submit") {
        await Store.queue(await db(), "quotes.create", args, { ...options, label: t("label_quote_new", { name: account.name }) });
        await queue("quotes.submit", { quote_id: id, comment: header.comment || "" }, { ...options, label: t("label_quote_submit", { name: account.name }) }, `/quotes/${id}`);
      } else {
        await queue("quotes.create", args, { ...options, label: t("label_quote_new", { name: account.name }) }, `/quotes/${id}`);
      }
    });
    drawTotals();
    return page(t("new_quote"), h("p", { class: "muted" }, account.name),
      catalogue.length ? form : empty(t("no_products")));
  });

  scope.BriefcaseQuotes = { accountQuotes };
})(self);
