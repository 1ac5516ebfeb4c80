"""`fieldbook import orders FILE.csv`: the ERP's CSV export, through orders.upsert, all or nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.db import current_version
from server.orders import importer
from server.orders.models import Order, OrderLine, OrderStatus, OrderStatusEvent
from server.users.models import Role
from tests.conftest import run_fieldbook
from tests.factories import make_account, make_team, make_user

HEADER = (
    "order_number,customer_number,status,ordered_at,currency,sku,quantity,unit_price,customer_po,description"
)
GOOD = [
    HEADER,  # line 1
    'SO-1001,C100001,confirmed,2026-11-20T09:30:00Z,GBP,BOLT-M8,3,12.50,PO-7781,"M8 bolts, box of 100"',  # line 2
    "SO-1001,C100001,confirmed,2026-11-20T09:30:00Z,GBP,GLUE-1L,2,7.99,PO-7781,",  # line 3
    "SO-1002,C100002,placed,2026-11-21,EUR,NUT-M8,10,0.35,,",  # line 4
    "SO-1002,C100002,placed,2026-11-21,EUR,WASHER,10,0.10,,",  # line 5
]


@pytest.fixture
async def customers(db):
    rep = await make_user(db, Role.REP, await make_team(db))
    return [
        await make_account(db, rep, name="Ardwick Hardware", customer_number="C100001"),
        await make_account(db, rep, name="Bury Fixings", customer_number="C100002"),
    ]


def write(path: Path, rows: list[str], *, bom: bool = False, newline: str = "\r\n") -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + newline.join([*rows, ""]).encode())
    return path


def problems(parsed_or_result) -> list[str]:
    return [str(problem) for problem in parsed_or_result.problems]


async def count(db, model) -> int:
    return await db.scalar(select(func.count()).select_from(model).where(model.deleted_at.is_(None)))


async def test_a_good_file_creates_its_orders_and_importing_it_again_changes_nothing(db, customers, tmp_path):
    path = write(tmp_path / "orders.csv", GOOD, bom=True)
    parsed = importer.read_orders(path)
    assert problems(parsed) == []
    assert [(order.first_line, order.number) for order in parsed.orders] == [(2, "SO-1001"), (4, "SO-1002")]

    result = await importer.apply_orders(db, parsed)
    assert problems(result) == [] and result.written
    assert (
        result.summary("orders.csv")
        == "Imported 2 orders from orders.csv: 2 created, 0 updated, 0 unchanged."
    )
    first = await db.scalar(select(Order).where(Order.number == "SO-1001"))
    assert (
        first.total == Decimal("53.48")
        and first.customer_po == "PO-7781"
        and first.status is OrderStatus.CONFIRMED
    )
    assert [(line.sku, line.description, line.quantity, line.amount) for line in first.lines] == [
        ("BOLT-M8", "M8 bolts, box of 100", Decimal("3.000"), Decimal("37.50")),
        ("GLUE-1L", "", Decimal("2.000"), Decimal("15.98")),
    ]
    second = await db.scalar(select(Order).where(Order.number == "SO-1002"))
    assert second.total == Decimal("4.50") and second.currency == "EUR"
    assert second.account_id == customers[1].id
    assert second.ordered_at == dt.datetime(2026, 11, 21, tzinfo=dt.UTC)  # a date alone: midnight UTC
    version = await current_version(db)

    again = await importer.apply_orders(db, importer.read_orders(path))
    assert again.outcomes == {"unchanged": 2}
    assert again.summary("orders.csv").endswith(": 0 created, 0 updated, 2 unchanged.")
    assert await current_version(db) == version  # nothing was written
    assert (
        await count(db, Order) == 2
        and await count(db, OrderLine) == 4
        and await count(db, OrderStatusEvent) == 2
    )


async def test_a_changed_file_updates_the_orders_it_changes(db, customers, tmp_path):
    await importer.apply_orders(db, importer.read_orders(write(tmp_path / "a.csv", GOOD)))
    shipped = [GOOD[0], *(row.replace("confirmed", "shipped") for row in GOOD[1:3]), *GOOD[3:]]
    result = await importer.apply_orders(db, importer.read_orders(write(tmp_path / "b.csv", shipped)))
    assert result.outcomes == {"updated": 1, "unchanged": 1}
    order = await db.scalar(
        select(Order).where(Order.number == "SO-1001").execution_options(populate_existing=True)
    )
    assert order.status is OrderStatus.SHIPPED
    assert [event.status for event in order.timeline] == [OrderStatus.CONFIRMED, OrderStatus.SHIPPED]


@pytest.mark.parametrize(
    ("line", "old", "new", "expected"),
    [
        (5, "placed", "lost", 'line 5: status: "lost" is not a status'),
        (5, ",10,0.10", ",ten,0.10", 'line 5: quantity: "ten" is not a number'),
        # upsert's own checks: a line's field on that line, an order's field on the order's first line
        (5, ",10,0.10", ",0,0.10", "line 5: quantity: Quantities must be above 0."),
        (0, "C100002", "C999999", "line 4: customer_number: No account has this customer number."),
        (0, ",EUR,", ",euros,", "line 4: currency: Use a three-letter currency code such as GBP."),
        (5, "2026-11-21", "2026-11-22", 'line 5: ordered_at: Order SO-1002 has "2026-11-21" on line 4'),
    ],
)
async def test_one_bad_row_in_the_second_order_and_nothing_is_written(
    db, customers, tmp_path, line, old, new, expected
):
    # line 0: every row of the second order (lines 4 and 5)
    rows = [
        row.replace(old, new) if number == line or (line == 0 and number >= 4) else row
        for number, row in enumerate(GOOD, start=1)
    ]
    version = await current_version(db)
    result = await importer.apply_orders(db, importer.read_orders(write(tmp_path / "orders.csv", rows)))
    assert len(problems(result)) == 1 and problems(result)[0].startswith(expected), problems(result)
    assert not result.written
    assert await count(db, Order) == 0 and await count(db, OrderLine) == 0  # not even the good first order
    assert await current_version(db) == version


async def test_every_problem_is_reported_at_once(db, customers, tmp_path):
    rows = [
        HEADER,
        "SO-1,C100001,placed,2026-11-20,GBP,A,1,1,,",  # good
        "SO-2,C999999,lost,2026-13-01,GBP,B,lots,1,,",  # line 3: three problems
        "SO-3,C100001,placed,2026-11-20,pounds,C,0,-1,,",  # line 4: found by upsert
        "SO-3,C100002,placed,2026-11-20,pounds,D,1,1,,",  # line 5: disagrees with line 4
        ",C100001,placed,2026-11-20,GBP,A,1,1,,",  # line 6: no order number
    ]
    result = await importer.apply_orders(db, importer.read_orders(write(tmp_path / "orders.csv", rows)))
    assert [problem.split(":")[0] + ":" + problem.split(":")[1] for problem in problems(result)] == [
        "line 3: status",
        "line 3: ordered_at",
        "line 3: quantity",
        "line 4: currency",
        "line 4: quantity",
        "line 4: unit_price",
        "line 5: customer_number",
        "line 6: order_number",
    ]
    assert await count(db, Order) == 0


async def test_dry_run_reports_and_writes_nothing(db, customers, tmp_path):
    version = await current_version(db)
    result = await importer.apply_orders(
        db, importer.read_orders(write(tmp_path / "o.csv", GOOD)), dry_run=True
    )
    assert result.outcomes == {"created": 2} and not result.written
    assert result.summary("o.csv", dry_run=True) == (
        "Checked 2 orders from o.csv: 2 would be created, 0 updated, 0 unchanged; nothing was written."
    )
    assert await count(db, Order) == 0 and await current_version(db) == version


def test_unknown_and_missing_columns_are_named() -> None:
    unknown = importer.parse_orders(
        [
            "Order_Number,customer_number,status,ordered_at,currency,sku,quantity,unit_price,Colour,discount",
            "x",
        ]
    )
    assert problems(unknown) == [
        'line 1: header: Unknown columns: "Colour", "discount". The columns are: '
        + ", ".join(importer.COLUMNS)
        + "."
    ]
    missing = importer.parse_orders(["sku,order_number,quantity,status,customer_number,ordered_at"])
    assert problems(missing) == ["line 1: header: Missing required columns: currency, unit_price."]
    assert problems(importer.parse_orders([])) == [
        "line 1: header: The file is empty: it needs a header row naming the columns."
    ]
    assert not unknown.orders and not missing.orders


def test_columns_in_any_order_with_quoted_newlines_and_line_numbers_as_in_the_file(tmp_path) -> None:
    rows = [
        "unit_price,quantity,sku,currency,ordered_at,status,customer_number,order_number,description,status_changed_at",
        '1.50,2,A,GBP,2026-11-20T10:00:00+01:00,shipped,C1,SO-9,"two\nlines",2026-11-21',  # lines 2-3
        "",  # line 4: blank rows are skipped
        "x,2,B,GBP,2026-11-20T10:00:00+01:00,shipped,C1,SO-9,,2026-11-21",  # line 5
    ]
    parsed = importer.read_orders(write(tmp_path / "o.csv", rows, newline="\n"))
    assert problems(parsed) == ['line 5: unit_price: "x" is not a number (write it like 3 or 12.50).']
    fixed = importer.read_orders(write(tmp_path / "o.csv", [*rows[:3], rows[3].replace("x,", "2,")]))
    assert problems(fixed) == []
    (order,) = fixed.orders
    assert order.line_numbers == (2, 5)
    assert order.data.ordered_at == dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)
    assert order.data.status_changed_at == dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    assert order.data.lines[0].description == "two\nlines" and order.data.lines[1].unit_price == Decimal(2)


def test_a_file_that_is_not_utf8_names_the_line(tmp_path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(f"{HEADER}\nSO-1,C1,placed,2026-11-20,GBP,A,1,1,,Café\n".encode("latin-1"))
    assert problems(importer.read_orders(path)) == [
        "line 2: file: The file is not UTF-8 text: save it as CSV UTF-8."
    ]


def test_files_over_the_size_limit_are_refused(monkeypatch) -> None:
    monkeypatch.setattr(importer, "MAX_ORDERS", 2)
    rows = [HEADER, *(f"SO-{n},C1,placed,2026-11-20,GBP,A,1,1,," for n in range(3))]
    parsed = importer.parse_orders(rows)
    assert problems(parsed) == [
        "line 4: order_number: The file has more than 2 orders; split it into smaller files."
    ]
    assert parsed.orders == []


async def test_the_fieldbook_command(db, settings, customers, tmp_path):
    good = write(tmp_path / "orders.csv", GOOD)
    checked = await run_fieldbook(settings, tmp_path, "import", "orders", "--dry-run", str(good))
    assert checked.returncode == 0, checked.stderr
    assert (
        "Checked 2 orders from orders.csv: 2 would be created, 0 updated, 0 unchanged; nothing was written."
        in checked.stdout
    )
    await db.rollback()  # a fresh snapshot
    assert await count(db, Order) == 0

    bad = write(tmp_path / "bad.csv", [*GOOD[:4], GOOD[4].replace(",10,0.10", ",ten,0.10")])
    refused = await run_fieldbook(settings, tmp_path, "import", "orders", str(bad))
    assert refused.returncode == 1
    assert 'line 5: quantity: "ten" is not a number' in refused.stderr
    assert "nothing was imported: 1 problem to correct" in refused.stderr
    await db.rollback()
    assert await count(db, Order) == 0

    imported = await run_fieldbook(settings, tmp_path, "import", "orders", str(good))
    assert imported.returncode == 0, imported.stderr
    assert "Imported 2 orders from orders.csv: 2 created, 0 updated, 0 unchanged." in imported.stdout
    await db.rollback()
    assert await count(db, Order) == 2 and await count(db, OrderLine) == 4
