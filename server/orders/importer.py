"""Orders from the ERP's CSV export: `fieldbook import orders FILE.csv`.

Every order goes through `orders.upsert`, the one command that writes orders, exactly as if the
ERP had sent it to `PUT /api/v1/orders/{number}`.

The file
--------
UTF-8 (with or without a byte-order mark), comma-separated, with a header row naming the columns
in any order:

    required: order_number, customer_number, status, ordered_at, currency, sku, quantity, unit_price
    optional: customer_po, description, status_changed_at

One row per order line; the lines of an order are numbered in the order their rows appear (the
rows need not be next to each other). The order-level columns (customer_number, status,
ordered_at, currency, customer_po, status_changed_at) must be the same on every row of an order;
a row that disagrees with the order's first row is an error. `status` is one of placed,
confirmed, shipped, delivered, cancelled. `ordered_at` and `status_changed_at` are ISO 8601
dates or date-times (`2026-11-20`, `2026-11-20T09:30:00Z`, `2026-11-20 09:30+01:00`); a date
alone, or a time without an offset, is taken as UTC. `quantity` and `unit_price` are decimal
numbers with a dot (`3`, `12.50`). Blank rows are skipped; unknown or missing columns are
errors.

All or nothing
--------------
The whole file is applied in one transaction. If any row or order is wrong nothing is written,
and every problem is reported as `line N: field: message`, with line numbers as in the file
(the header is line 1). A problem with an order as a whole is reported on its first line, one
with a line of it on that line's row. A file may hold at most 100,000 orders in 1,000,000 rows.

`parse_orders` (pure: text in, orders and problems out) and `apply_orders` (the database part)
are separate so that both can be used without the CLI.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.errors import CommandError, ValidationError
from server.orders import service as orders
from server.orders.models import OrderStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

REQUIRED_COLUMNS = (
    "order_number",
    "customer_number",
    "status",
    "ordered_at",
    "currency",
    "sku",
    "quantity",
    "unit_price",
)
OPTIONAL_COLUMNS = ("customer_po", "description", "status_changed_at")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
# The columns that describe the order rather than one of its lines.
ORDER_COLUMNS = ("customer_number", "status", "ordered_at", "currency", "customer_po", "status_changed_at")
# Size guards: this importer holds the file's orders in memory.
MAX_ORDERS = 100_000
MAX_ROWS = 1_000_000
# upsert's field names for things the file calls otherwise.
COLUMN_FOR_FIELD = {"number": "order_number"}
LINE_FIELD = re.compile(r"^lines\[(\d+)\]\.(\w+)$")
# A cell starting with one of these is a formula to a spreadsheet; exports put a ' before it.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
STATUSES = ", ".join(status.value for status in OrderStatus)


@dataclass(frozen=True)
class Problem:
    """Something wrong with the file, at a line of it (the header is line 1)."""

    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass(frozen=True)
class ParsedOrder:
    """One order of the file, ready for `orders.upsert`."""

    first_line: int
    number: str
    data: orders.OrderIn
    # The file line of each of the order's lines, in position order.
    line_numbers: tuple[int, ...] = ()


@dataclass
class Parsed:
    orders: list[ParsedOrder] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # Orders with a problem in some row, made of their good rows: never applied, only checked by
    # `orders.upsert` so that the report also lists what it would find wrong with them.
    incomplete: list[ParsedOrder] = field(default_factory=list)


@dataclass
class ImportResult:
    orders: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    written: bool = False

    def summary(self, source: str, *, dry_run: bool = False) -> str:
        counts = self.outcomes
        if dry_run:
            return (
                f"Checked {_orders(self.orders)} from {source}: {counts['created']} would be created, "
                f"{counts['updated']} updated, {counts['unchanged']} unchanged; nothing was written."
            )
        return (
            f"Imported {_orders(self.orders)} from {source}: {counts['created']} created, "
            f"{counts['updated']} updated, {counts['unchanged']} unchanged."
        )


def _orders(count: int) -> str:
    return f"{count:,} order" if count == 1 else f"{count:,} orders"


def read_orders(path: Path) -> Parsed:
    """Parse the CSV file at `path` (UTF-8, with or without a byte-order mark)."""
    with path.open("rb") as file:
        return parse_orders(utf8_lines(file))


def unescape(cell: str) -> str:
    """Undo a CSV export's guard against spreadsheet formulas ('=..., '+44 ...), so files round-trip."""
    return cell[1:] if len(cell) > 1 and cell[0] == "'" and cell[1] in FORMULA_START else cell


def utf8_lines(file: Iterable[bytes]) -> Iterator[str]:
    """Decode line by line, so that a byte that is not UTF-8 is reported on its own line."""
    for index, raw in enumerate(file):
        yield raw.decode("utf-8-sig" if index == 0 else "utf-8")


def parse_orders(lines: Iterable[str], mapping: list[str | None] | None = None) -> Parsed:
    """Turn the lines of a CSV export into orders for `orders.upsert`, and the problems found.

    Orders with a problem in any of their rows are left out of `orders` (see `incomplete`);
    nothing may be applied while `problems` is not empty (`apply_orders` refuses to). A file
    over the size limits gives that one problem and no orders at all. `mapping`, when given,
    names the column each of the file's columns fills (None: ignored) instead of its header.
    """
    result = Parsed()
    problems = result.problems
    rows = csv_rows(lines, problems)
    first = next(rows, None)
    if first is None:
        if not problems:
            problems.append(
                Problem(1, "header", "The file is empty: it needs a header row naming the columns.")
            )
        return result
    header_line, header = first
    columns = _columns(header_line, header, problems) if mapping is None else list(mapping)
    if columns is None:
        return result

    builders: dict[str, _OrderBuilder] = {}
    row_count = 0
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        row_count += 1
        if row_count > MAX_ROWS:
            message = f"The file has more than {MAX_ROWS:,} rows; split it into smaller files."
            problems.append(Problem(line, "file", message))
            builders.clear()  # refused whole, before anything is checked against the database
            break
        if len(cells) > len(columns):
            problems.append(
                Problem(
                    line,
                    "row",
                    f"The row has {len(cells)} values but the header names {len(columns)} columns.",
                )
            )
            continue
        values = {
            column: unescape(cell.strip()) for column, cell in zip(columns, cells, strict=False) if column
        }
        number = values.get("order_number", "")
        if not number:
            problems.append(Problem(line, "order_number", "A value is required."))
            continue
        builder = builders.get(number)
        if builder is None:
            if len(builders) == MAX_ORDERS:
                message = f"The file has more than {MAX_ORDERS:,} orders; split it into smaller files."
                problems.append(Problem(line, "order_number", message))
                builders.clear()
                break
            builder = builders[number] = _OrderBuilder(number, line)
        builder.add(line, values, problems)

    for builder in builders.values():
        if (order := builder.build()) is not None:
            (result.incomplete if builder.bad else result.orders).append(order)
    problems.sort(key=lambda problem: problem.line)  # stable: a line's problems keep their column order
    return result


def upsert_problems(order: ParsedOrder, error: CommandError) -> list[Problem]:
    return list(_upsert_problems(order, error))


async def apply_orders(session: AsyncSession, parsed: Parsed, *, dry_run: bool = False) -> ImportResult:
    """Upsert every parsed order in one transaction: commit only if the whole file is good.

    The orders are upserted even when the file had problems, so that the report lists
    everything `orders.upsert` finds wrong too (unknown customer numbers, bad currencies...);
    then the transaction is rolled back, as it is for a dry run.
    """
    result = ImportResult(orders=len(parsed.orders), problems=list(parsed.problems))
    for order in parsed.orders:
        try:
            _, outcome = await orders.upsert(session, order.number, order.data)
        except CommandError as error:
            result.problems.extend(_upsert_problems(order, error))
            continue
        result.outcomes[outcome] += 1
    if parsed.problems:  # then nothing is written, so the incomplete orders can be checked as well
        for order in parsed.incomplete:
            try:
                await orders.upsert(session, order.number, order.data)
            except CommandError as error:
                # Their line count is off by the rows left out: not a problem of its own.
                result.problems.extend(p for p in _upsert_problems(order, error) if p.field != "lines")
    if result.problems or dry_run:
        await session.rollback()
    else:
        await session.commit()
        result.written = True
    result.problems = sorted(dict.fromkeys(result.problems), key=lambda problem: problem.line)
    return result


def _upsert_problems(order: ParsedOrder, error: CommandError) -> Iterator[Problem]:
    """What upsert refused, put on the lines of the file it comes from."""
    if not isinstance(error, ValidationError):
        yield Problem(order.first_line, "order_number", error.message.render())
        return
    for name, message in error.errors.items():
        text = message.render()  # English, as the ERP API renders them
        if (match := LINE_FIELD.match(name)) and 1 <= int(match[1]) <= len(order.line_numbers):
            yield Problem(order.line_numbers[int(match[1]) - 1], match[2], text)
        else:
            yield Problem(order.first_line, COLUMN_FOR_FIELD.get(name, name), text)


def csv_rows(lines: Iterable[str], problems: list[Problem]) -> Iterator[tuple[int, list[str]]]:
    """(file line where the row starts, cells), stopping at the first thing that is not CSV."""
    reader = csv.reader(lines, strict=True)
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            problems.append(
                Problem(reader.line_num + 1, "file", "The file is not UTF-8 text: save it as CSV UTF-8.")
            )
            return
        except csv.Error as error:
            problems.append(Problem(line, "file", f"This is not valid CSV ({error})."))
            return
        yield line, cells
        line = reader.line_num + 1


def _columns(line: int, header: list[str], problems: list[Problem]) -> list[str] | None:
    names = [cell.lstrip("\ufeff").strip() for cell in header]
    columns = [name.lower() for name in names]
    unknown = [
        f'"{name}"' if name else f"(column {index} has no name)"
        for index, (name, column) in enumerate(zip(names, columns, strict=True), start=1)
        if column not in COLUMNS
    ]
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    twice = sorted({column for column in columns if column and columns.count(column) > 1})
    if unknown:
        problems.append(
            Problem(
                line,
                "header",
                f"Unknown columns: {', '.join(unknown)}. The columns are: {', '.join(COLUMNS)}.",
            )
        )
    if missing:
        problems.append(Problem(line, "header", f"Missing required columns: {', '.join(missing)}."))
    if twice:
        problems.append(Problem(line, "header", f"Columns named more than once: {', '.join(twice)}."))
    return None if unknown or missing or twice else columns


class _Invalid:
    """A value that did not parse (its problem is already reported)."""


INVALID = _Invalid()


def _parse_moment(value: str) -> dt.datetime | _Invalid:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return INVALID
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _parse_decimal(value: str) -> Decimal | _Invalid:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return INVALID
    return number if number.is_finite() else INVALID


class _OrderBuilder:
    """The rows of one order, gathered; `build()` gives the order if none of them had a problem."""

    def __init__(self, number: str, first_line: int) -> None:
        self.number = number
        self.first_line = first_line
        self.header: dict[str, tuple[str, Any]] | None = None  # column -> (text on the first row, value)
        self.lines: list[orders.OrderLineIn] = []
        self.line_numbers: list[int] = []
        self.rows = 0
        self.bad = False

    def add(self, line: int, values: dict[str, str], problems: list[Problem]) -> None:
        found: list[Problem] = []
        for column in REQUIRED_COLUMNS:
            if not values.get(column):
                found.append(Problem(line, column, "A value is required."))
        header = {
            column: (values.get(column, ""), self._order_value(line, column, values, found))
            for column in ORDER_COLUMNS
        }
        if self.header is None:
            self.header = header
        else:
            for column in ORDER_COLUMNS:
                (first_text, first_value), (_, value) = self.header[column], header[column]
                if INVALID not in (first_value, value) and value != first_value:
                    message = (
                        f'Order {self.number} has "{first_text}" on line {self.first_line}; '
                        "every row of an order must agree."
                    )
                    found.append(Problem(line, column, message))
        quantity = _parse_decimal(values["quantity"]) if values.get("quantity") else INVALID
        unit_price = _parse_decimal(values["unit_price"]) if values.get("unit_price") else INVALID
        for column, parsed in (("quantity", quantity), ("unit_price", unit_price)):
            if values.get(column) and parsed is INVALID:
                found.append(
                    Problem(line, column, f'"{values[column]}" is not a number (write it like 3 or 12.50).')
                )
        self.rows += 1
        if self.rows == orders.MAX_LINES + 1:  # said once, not for every row beyond
            found.append(
                Problem(line, "order_number", f"Order {self.number} has more than {orders.MAX_LINES} lines.")
            )
        problems.extend(found)
        self.bad = self.bad or bool(found)
        if self.rows > orders.MAX_LINES or not values.get("sku"):
            return
        if not isinstance(quantity, Decimal) or not isinstance(unit_price, Decimal):
            return
        description = values.get("description", "")
        self.lines.append(
            orders.OrderLineIn(
                sku=values["sku"], quantity=quantity, unit_price=unit_price, description=description
            )
        )
        self.line_numbers.append(line)

    @staticmethod
    def _order_value(line: int, column: str, values: dict[str, str], found: list[Problem]) -> Any:
        text = values.get(column, "")
        if column == "status":
            if not text:
                return INVALID
            try:
                return OrderStatus(text.lower())
            except ValueError:
                found.append(Problem(line, column, f'"{text}" is not a status; use one of {STATUSES}.'))
                return INVALID
        if column in {"ordered_at", "status_changed_at"}:
            if not text:
                return None if column == "status_changed_at" else INVALID
            moment = _parse_moment(text)
            if moment is INVALID:
                message = f'"{text}" is not an ISO 8601 date or date-time (such as 2026-11-20 or 2026-11-20T09:30:00Z).'
                found.append(Problem(line, column, message))
            return moment
        return text if text or column == "customer_po" else INVALID

    def build(self) -> ParsedOrder | None:
        """The order, from the rows that parsed; None if its first row leaves too much unknown."""
        if self.header is None or not self.lines:
            return None
        value = {column: parsed for column, (_, parsed) in self.header.items()}
        if INVALID in value.values():
            return None
        data = orders.OrderIn(
            customer_number=value["customer_number"],
            status=value["status"],
            ordered_at=value["ordered_at"],
            currency=value["currency"],
            lines=self.lines,
            customer_po=value["customer_po"],
            status_changed_at=value["status_changed_at"],
        )
        return ParsedOrder(self.first_line, self.number, data, tuple(self.line_numbers))
