// A quote's arithmetic on the phone, step for step as the server's (server/quotes/pricing.py and
// policy.py), so the totals and the "needs approval" hint drawn offline are the ones the server
// will store. Exact decimals: a number is a BigInt of units and a scale (12.5 = 125n at scale 1),
// never binary floating point. A line's amount is quantity × unit price less the line discount,
// rounded half up to the currency's minor unit; the subtotal is the sum of the rounded lines; the
// quote discount comes off the subtotal, rounded once. The server works it all out again anyway.
//
// A classic script: the briefcase's pages and the outbox overlay (device-store.js) share it.
(function (scope) {
  "use strict";

  const HUNDRED = { units: 100n, scale: 0 };
  const ZERO = { units: 0n, scale: 0 };
  const CHAIN_ORDER = ["manager", "admin"];
  let digitsOf = {}; // the server's minor units of the currencies without two decimals (JPY: 0)

  function setCurrencyDigits(table) {
    digitsOf = { ...table };
  }

  function digits(currency) {
    return currency in digitsOf ? digitsOf[currency] : 2;
  }

  function pow10(n) {
    return 10n ** BigInt(n);
  }

  // "12.50", "3", "0,5" (a comma for the decimals, as a phone keyboard may give), "5E+3", or a
  // number the server sent; null if it is not a decimal number.
  function parse(value) {
    if (value === null || value === undefined) return null;
    const match = /^\s*(-?)(\d*)(?:[.,](\d*))?(?:[eE]([+-]?\d+))?\s*$/.exec(String(value));
    if (!match || !(match[2] || match[3])) return null;
    const decimals = match[3] || "";
    const units = BigInt((match[2] || "0") + decimals);
    const scale = decimals.length - Number(match[4] || 0); // "5E+3" is 5 at scale -3
    const decimal = { units: match[1] ? -units : units, scale: Math.max(scale, 0) };
    if (scale < 0) decimal.units *= pow10(-scale);
    return decimal;
  }

  function places(decimal) {
    const text = decimal.units.toString().replace(/^-/, "");
    let scale = decimal.scale;
    for (let i = text.length - 1; scale > 0 && i >= 0 && text[i] === "0"; i--) scale--;
    return scale;
  }

  function aligned(a, scale) {
    return a.units * pow10(scale - a.scale);
  }

  function add(a, b) {
    const scale = Math.max(a.scale, b.scale);
    return { units: aligned(a, scale) + aligned(b, scale), scale };
  }

  function sub(a, b) {
    return add(a, { units: -b.units, scale: b.scale });
  }

  function mul(a, b) {
    return { units: a.units * b.units, scale: a.scale + b.scale };
  }

  function compare(a, b) {
    const scale = Math.max(a.scale, b.scale);
    const x = aligned(a, scale);
    const y = aligned(b, scale);
    return x < y ? -1 : x > y ? 1 : 0;
  }

  // numerator / denominator (denominator > 0) to `decimals` places: half up (away from zero, as
  // Python's ROUND_HALF_UP), or half even (Python's default, for the policy's line share).
  function divide(numerator, denominator, decimals, halfEven = false) {
    const scaled = numerator * pow10(decimals);
    const negative = scaled < 0n;
    const size = negative ? -scaled : scaled;
    let quotient = size / denominator;
    const twice = 2n * (size % denominator);
    if (twice > denominator || (twice === denominator && (!halfEven || quotient % 2n === 1n))) quotient += 1n;
    return { units: negative ? -quotient : quotient, scale: decimals };
  }

  function rounded(decimal, decimals, halfEven = false) {
    return divide(decimal.units, pow10(decimal.scale), decimals, halfEven);
  }

  // As the server writes a decimal (its `plain`): 10, 12.5, 0.35, never 10.000.
  function plain(decimal) {
    const kept = places(decimal);
    return fixed(rounded(decimal, kept));
  }

  // "885.00": the decimal at its own scale.
  function fixed(decimal) {
    const negative = decimal.units < 0n;
    const text = (negative ? -decimal.units : decimal.units).toString().padStart(decimal.scale + 1, "0");
    const whole = decimal.scale ? `${text.slice(0, -decimal.scale)}.${text.slice(-decimal.scale)}` : text;
    return negative ? `-${whole}` : whole;
  }

  // amount × percent / 100, exactly (a division by 100 only moves the decimal point).
  function percentOf(amount, percent) {
    const product = mul(amount, percent);
    return { units: product.units, scale: product.scale + 2 };
  }

  // What is left of `amount` after `percent` off.
  function off(amount, percent) {
    return percentOf(amount, sub(HUNDRED, percent));
  }

  function number(value) {
    return parse(value) || ZERO;
  }

  // The whole quote's discount against list prices, in per cent with two decimals.
  function discountAgainstList(listTotal, total) {
    const list = number(listTotal);
    if (compare(list, ZERO) <= 0) return ZERO;
    const given = sub(list, number(total));
    const scale = Math.max(given.scale, list.scale);
    return divide(aligned(given, scale) * 100n, aligned(list, scale), 2);
  }

  // lines: [{quantity, unit_price, list_price, discount_percent}] as the server writes them
  // (strings); the answer's amounts are strings at the currency's decimals.
  function totals(lines, discountPercent, currency) {
    const minor = digits(currency);
    const amounts = lines.map((line) =>
      rounded(off(mul(number(line.quantity), number(line.unit_price)), number(line.discount_percent)), minor));
    const listTotal = rounded(lines.reduce((sum, line) => add(sum, mul(number(line.quantity), number(line.list_price))), ZERO), minor);
    const subtotal = amounts.reduce(add, { units: 0n, scale: minor });
    const discount = rounded(percentOf(subtotal, number(discountPercent)), minor);
    const total = sub(subtotal, discount);
    return {
      amounts: amounts.map(fixed),
      list_total: fixed(listTotal),
      subtotal: fixed(subtotal),
      discount: fixed(discount),
      total: fixed(total),
      discount_percent: fixed(discountAgainstList(fixed(listTotal), fixed(total))),
    };
  }

  // Which rules (active ones, as the device holds them) the quote sets off, each with the reason
  // the server gives: {kind, threshold, actual, currency?, line?}. A rule fires strictly past its threshold.
  function evaluate(rules, lines, discountPercent, currency) {
    const sums = totals(lines, discountPercent, currency);
    const fired = [];
    for (const rule of rules) {
      const threshold = number(rule.threshold);
      const reason = (actual, extra = {}) => ({ kind: rule.kind, threshold: plain(threshold), actual: plain(actual), ...extra });
      if (rule.kind === "discount_above") {
        const actual = parse(sums.discount_percent);
        if (compare(actual, threshold) > 0) fired.push({ approver: rule.approver, reason: reason(actual) });
      } else if (rule.kind === "total_above") {
        const actual = parse(sums.total);
        if (rule.currency === currency && compare(actual, threshold) > 0) {
          fired.push({ approver: rule.approver, reason: reason(actual, { currency: rule.currency }) });
        }
      } else if (rule.kind === "price_below_floor") {
        const share = floorBreach(lines, discountPercent, threshold);
        if (share) fired.push({ approver: rule.approver, reason: reason(share.actual, { line: share.line }) });
      }
    }
    return fired;
  }

  // The first line whose net unit price is under `threshold` per cent of its list price.
  function floorBreach(lines, discountPercent, threshold) {
    for (const [index, line] of lines.entries()) {
      const list = number(line.list_price);
      if (compare(list, ZERO) <= 0) continue;
      const net = off(off(number(line.unit_price), number(line.discount_percent)), number(discountPercent));
      const scale = Math.max(net.scale, list.scale);
      // share = net / list × 100, compared exactly, shown with two decimals
      const share = { numerator: aligned(net, scale) * 100n, denominator: aligned(list, scale) };
      if (share.numerator * pow10(threshold.scale) < threshold.units * share.denominator) {
        return { line: index + 1, actual: divide(share.numerator, share.denominator, 2, true) };
      }
    }
    return null;
  }

  // The approval steps, in order, each with the reasons that call for it.
  function chain(fired) {
    return CHAIN_ORDER.map((level) => ({ level, reasons: fired.filter((f) => f.approver === level).map((f) => f.reason) }))
      .filter((step) => step.reasons.length);
  }

  scope.FieldbookPricing = { setCurrencyDigits, digits, parse, places, compare, sub, plain, fixed, totals, evaluate, chain, discountAgainstList };
})(self);
