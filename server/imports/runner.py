"""Going through an import file: the dry run (check) and the apply, for every kind.

The file is read line by line (never whole); what stays in memory is the kind's `Index` of the
existing records' keys, the keys of the file's new rows, and the first problems and duplicates
for the report. The apply writes every row through its domain's command in the caller's
transaction; the first row that fails raises `ImportFailed`, and the caller rolls back.
"""

from __future__ import annotations

import csv
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sqlalchemy import select

from server.accounts.models import Account
from server.db import batched, new_id
from server.errors import CommandError, Message, ValidationError
from server.i18n import N_
from server.imports.kinds import AccountSpec, Column, ContactSpec, ProductSpec, Spec
from server.imports.models import Duplicates
from server.orders import importer
from server.orders import service as orders
from server.orders.models import Order

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from server.users.models import User

MAX_PROBLEMS = 100  # kept for the report; all are counted
MAX_MATCHES = 50
BATCH = 500  # rows between progress reports (and, when writing, between flushes)


class OrderSpec(Spec):
    """Orders: one row per order line, in the ERP export's format (server/orders/importer.py)."""

    kind = "orders"
    label = N_("Orders")
    model = Order
    columns = tuple(
        Column(name, name.replace("_", " ").capitalize(), required=name in importer.REQUIRED_COLUMNS)
        for name in importer.COLUMNS
    )
    reasons = {"number": N_("same order number")}

    async def names(self, session: AsyncSession, ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
        rows = await session.execute(select(Order.id, Order.number).where(Order.id.in_(ids)))
        return {record_id: number for record_id, number in rows}


SPECS: dict[str, Spec] = {
    spec.kind: spec for spec in (AccountSpec(), ContactSpec(), ProductSpec(), OrderSpec())
}


@dataclass(frozen=True)
class Problem:
    line: int
    column: str
    text: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, gettext: Any = None) -> str:
        return f"line {self.line}: {self.column}: {Message(self.text, self.params).render(gettext)}"

    def as_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "text": self.text, "params": self.params}


@dataclass
class Report:
    counts: Counter[str] = field(default_factory=Counter)
    problems: list[Problem] = field(default_factory=list)
    matches: list[dict[str, Any]] = field(default_factory=list)
    bad_lines: set[int] = field(default_factory=set)

    def problem(self, line: int, column: str, message: Message | str) -> Problem:
        message = message if isinstance(message, Message) else Message(message)
        found = Problem(line, column, message.text, dict(message.params))
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(found)
        self.counts["problems"] += 1
        if line not in self.bad_lines:
            self.bad_lines.add(line)
            self.counts["bad"] += 1
        return found

    def match(self, line: int, name: str, record_id: uuid.UUID, reason: str, file_line: int | None) -> None:
        if len(self.matches) < MAX_MATCHES:
            self.matches.append(
                {
                    "line": line,
                    "name": name,
                    "record_id": str(record_id),
                    "reason": reason,
                    "file_line": file_line,
                }
            )


class ImportFailed(Exception):
    """The apply met a row it could not write: everything is rolled back."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(problem.render())


Progress = Callable[[int, int], None]  # (rows done, per cent of the file read)


class Source:
    """The file, decoded line by line, counting the bytes read (for the progress bar)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.size = max(path.stat().st_size, 1)
        self.read = 0

    def lines(self, file: IO[bytes]) -> Iterator[str]:
        for index, raw in enumerate(file):
            self.read += len(raw)
            yield raw.decode("utf-8-sig" if index == 0 else "utf-8")

    @property
    def percent(self) -> int:
        return min(100, self.read * 100 // self.size)


def read_header(path: Path) -> list[str]:
    """The names in the file's first row; a ValidationError if it is not CSV text in UTF-8."""
    problem = Message(N_("This is not a CSV file in UTF-8 with a header row naming the columns."))
    try:
        with path.open("rb") as file:
            first = next(csv.reader(Source(path).lines(file), strict=True), None)
    except (UnicodeDecodeError, csv.Error):
        first = None
    if not first or not any(cell.strip() for cell in first):
        raise ValidationError({"file": problem})
    return [cell.lstrip("\ufeff").strip() for cell in first]


def _normal(name: str) -> str:
    return "_".join(name.lower().replace("'", "").replace("-", " ").split())


def suggest_mapping(spec: Spec, header: list[str]) -> list[str | None]:
    """Each file column's field, guessed from its name (its column name or its label)."""
    known = {_normal(column.name): column.name for column in spec.columns}
    known.update({_normal(column.label): column.name for column in spec.columns})
    mapping: list[str | None] = []
    for name in header:
        guess = known.get(_normal(name))
        mapping.append(guess if guess not in mapping else None)
    return mapping


def check_mapping(spec: Spec, header: list[str], mapping: list[str | None]) -> list[Problem]:
    """Header problems of a mapping: required fields not mapped, or mapped twice."""
    found: list[Problem] = []
    chosen = [name for name in mapping if name]
    missing = [column.name for column in spec.columns if column.required and column.name not in chosen]
    twice = sorted({name for name in chosen if chosen.count(name) > 1})
    if missing:
        found.append(
            Problem(
                1, "header", N_("Missing required columns: %(columns)s."), {"columns": ", ".join(missing)}
            )
        )
    if twice:
        found.append(
            Problem(
                1, "header", N_("Columns named more than once: %(columns)s."), {"columns": ", ".join(twice)}
            )
        )
    if len(mapping) != len(header):
        found.append(Problem(1, "header", N_("Choose a field (or none) for every column.")))
    return found


def header_mapping(spec: Spec, header: list[str]) -> tuple[list[str | None], list[Problem]]:
    """For the CLI, which has no mapping step: every column must be named as the spec names it."""
    mapping = suggest_mapping(spec, header)
    unknown = [f'"{name}"' for name, field_name in zip(header, mapping, strict=True) if field_name is None]
    problems = check_mapping(spec, header, mapping)
    if unknown:
        problems.insert(0, Problem(1, "header", N_("Unknown columns: %(unknown)s. The columns are: %(columns)s."),
                                   {"unknown": ", ".join(unknown), "columns": ", ".join(spec.column_names)}))  # fmt: skip
    return mapping, problems


def _errors(
    report: Report, line: int, error: CommandError, column_for: Callable[[str], str] = str
) -> Problem:
    if isinstance(error, ValidationError):
        found = [report.problem(line, column_for(name), message) for name, message in error.errors.items()]
        return found[0]
    return report.problem(line, "row", error.message)


async def run(
    session: AsyncSession, actor: User, kind: str, path: Path, mapping: list[str | None],
    duplicates: Duplicates, *, write: bool, progress: Progress | None = None,
) -> Report:  # fmt: skip
    """Go through the file: count (and with `write`, make) the new, merged, skipped and bad rows."""
    spec = SPECS[kind]
    source = Source(path)
    report = Report()
    # Every row is written in one transaction, as one batch (server.db.batched; a pass that only
    # checks writes nothing).
    with path.open("rb") as file:
        async with batched(session):
            if isinstance(spec, OrderSpec):
                await _run_orders(
                    session, source, file, mapping, duplicates, report, write=write, progress=progress
                )
            else:
                await _run_rows(session, actor, spec, source, file, mapping, duplicates, report, write=write, progress=progress)  # fmt: skip
    if progress:
        progress(report.counts["rows"], 100)
    if report.matches:
        names = await spec.names(session, [uuid.UUID(match["record_id"]) for match in report.matches])
        for match in report.matches:
            match["existing"] = names.get(uuid.UUID(match["record_id"]), "")
    return report


def _values(
    source: Source, file: IO[bytes], mapping: list[str | None], report: Report
) -> Iterator[tuple[int, dict[str, str]]]:
    problems: list[importer.Problem] = []
    rows = importer.csv_rows(source.lines(file), problems)
    next(rows, None)  # the header
    for line, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        report.counts["rows"] += 1
        if len(cells) > len(mapping):
            message = N_("The row has %(cells)s values but the header names %(columns)s columns.")
            report.problem(line, "row", Message(message, {"cells": len(cells), "columns": len(mapping)}))
            continue
        yield (
            line,
            {
                name: importer.unescape(cell.strip())
                for name, cell in zip(mapping, cells, strict=False)
                if name
            },
        )
    for problem in problems:  # the file stopped being CSV or UTF-8 there
        report.problem(problem.line, problem.field, problem.message)


async def _run_rows(
    session: AsyncSession, actor: User, spec: Spec, source: Source, file: IO[bytes], mapping: list[str | None],
    duplicates: Duplicates, report: Report, *, write: bool, progress: Progress | None,
) -> None:  # fmt: skip
    index = await spec.index(session, actor)
    counts = report.counts
    new_in_file: dict[uuid.UUID, int] = {}  # rows of this file that made a record -> their line
    for line, values in _values(source, file, mapping, report):
        try:
            raw = spec.check(index, values)
        except ValidationError as error:
            problem = _errors(report, line, error)
            if write:
                raise ImportFailed(problem) from error
            continue
        keys = spec.keys(raw)
        found = index.find(keys)
        if found is not None:
            record_id, reason = found
            report.match(line, values.get("name", ""), record_id, reason, new_in_file.get(record_id))
            if duplicates is Duplicates.SKIP:
                counts["skip"] += 1
            else:
                counts["merge"] += 1
                if write:
                    try:
                        changed = await spec.merge(session, actor, record_id, raw)
                    except CommandError as error:
                        raise ImportFailed(_errors(report, line, error)) from error
                    counts["updated" if changed else "unchanged"] += 1
        elif missing := spec.new_problems(raw):
            problem = _errors(report, line, ValidationError(missing))
            if write:
                raise ImportFailed(problem)
        else:
            counts["new"] += 1
            record_id = new_id()
            if write:
                try:
                    record_id = await spec.create(session, actor, raw)
                except CommandError as error:
                    raise ImportFailed(_errors(report, line, error)) from error
                counts["created"] += 1
            new_in_file[record_id] = line
            for key_kind, key in keys.items():
                index.add(key_kind, key, record_id)
        if counts["rows"] % BATCH == 0:
            await _batch_done(session, write=write)
            if progress:
                progress(counts["rows"], source.percent)
    if report.problems and write:
        raise ImportFailed(report.problems[0])


async def _batch_done(session: AsyncSession, *, write: bool) -> None:
    """Write what the batch made, and let go of it: the session would otherwise hold every record."""
    if write:
        await session.flush()
        session.expunge_all()


async def _run_orders(
    session: AsyncSession, source: Source, file: IO[bytes], mapping: list[str | None],
    duplicates: Duplicates, report: Report, *, write: bool, progress: Progress | None,
) -> None:  # fmt: skip
    """The orders importer's parser (it groups the rows of each order), then orders.upsert per order."""
    parsed = importer.parse_orders(source.lines(file), mapping)
    for problem in parsed.problems:
        report.problem(problem.line, problem.field, problem.message)
    if parsed.problems and write:
        raise ImportFailed(report.problems[0])
    counts = report.counts
    for start in range(0, len(parsed.orders), BATCH):
        chunk = parsed.orders[start : start + BATCH]
        numbers = [order.number for order in chunk]
        existing = dict(
            (await session.execute(select(Order.number, Order.id).where(Order.number.in_(numbers)))).all()
        )
        customers = {order.data.customer_number for order in chunk}
        known = set(await session.scalars(select(Account.customer_number).where(
            Account.customer_number.in_(customers), Account.deleted_at.is_(None))))  # fmt: skip
        for order in chunk:
            counts["rows"] += 1
            try:
                orders.validate(order.number, order.data)
                if order.data.customer_number not in known:
                    raise ValidationError(
                        {"customer_number": Message(N_("No account has this customer number."))}
                    )
            except ValidationError as error:
                for problem in importer.upsert_problems(order, error):
                    report.problem(problem.line, problem.field, problem.message)
                if write:
                    raise ImportFailed(report.problems[-1]) from error
                continue
            if order.number in existing:
                report.match(order.first_line, order.number, existing[order.number], "number", None)
                if duplicates is Duplicates.SKIP:
                    counts["skip"] += 1
                    continue
                counts["merge"] += 1
            else:
                counts["new"] += 1
            if write:
                try:
                    _, outcome = await orders.upsert(session, order.number, order.data)
                except CommandError as error:
                    problems = importer.upsert_problems(order, error)
                    for problem in problems:
                        report.problem(problem.line, problem.field, problem.message)
                    raise ImportFailed(report.problems[-1]) from error
                counts[outcome] += 1
        await _batch_done(session, write=write)
        if progress:
            progress(counts["rows"], min(99, (start + len(chunk)) * 100 // max(len(parsed.orders), 1)))
