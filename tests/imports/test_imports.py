"""Importing accounts, contacts, products and orders from CSV (web and CLI), and exporting the lists."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from server.accounts import service as accounts
from server.accounts.models import Account
from server.audit.models import AuditEvent
from server.contacts.models import Contact
from server.db import current_version
from server.imports import service as imports
from server.imports.models import Duplicates, ImportJob, JobStatus
from server.orders.models import Order
from server.quotes.models import Product
from server.users.models import Role
from tests.conftest import run_fieldbook, sign_in
from tests.factories import make_account, make_contact, make_team, make_user

ACCOUNTS = [
    "Name,City,Phone,customer_number,owner_email",  # line 1 (labels and names both map)
    "Ardwick Hardware Ltd,Manchester,0161 496 0001,C1,",  # line 2: the same as an existing account
    "Bury Fixings,Bury,0161 496 0002,C2,rep@example.test",  # line 3: new
    ",Bolton,,,",  # line 4: no name
    "Chorlton Tools,Manchester,not a phone,,",  # line 5: bad phone
    "Didsbury Supplies,Manchester,,,nobody@example.test",  # line 6: unknown owner
]


def write(path: Path, rows: list[str], *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "\r\n".join([*rows, ""]).encode())
    return path


async def count(db, model, *, fresh: bool = False) -> int:
    if fresh:  # see what another connection (the app, the CLI) committed
        await db.rollback()
    return await db.scalar(select(func.count()).select_from(model).where(model.deleted_at.is_(None)))


@pytest.fixture
async def people(db):
    team = await make_team(db, "North")
    admin = await make_user(db, Role.ADMIN, email="admin@example.test")
    manager = await make_user(db, Role.MANAGER, team, email="manager@example.test")
    rep = await make_user(db, Role.REP, team, email="rep@example.test")
    other = await make_user(db, Role.REP, await make_team(db, "South"), email="other@example.test")
    return {"admin": admin, "manager": manager, "rep": rep, "other": other}


async def run(db, people, kind, path, duplicates=Duplicates.MERGE, *, dry_run=False):
    return await imports.import_file(db, people["admin"], kind, path, duplicates, dry_run=dry_run)


async def test_bad_rows_are_each_reported_on_their_line_and_nothing_is_written(db, people, tmp_path):
    await make_account(db, people["rep"], name="Ardwick Hardware", city="Manchester")
    version = await current_version(db)
    report, written = await run(db, people, "accounts", write(tmp_path / "a.csv", ACCOUNTS, bom=True))
    assert not written
    assert [problem.render() for problem in report.problems] == [
        "line 4: name: This field is required.",
        "line 5: phone: Enter a phone number: digits, spaces and + ( ) - only.",
        "line 6: owner_email: No active rep or manager has this email.",
    ]
    assert report.counts["bad"] == 3 and report.counts["rows"] == 5
    assert await count(db, Account) == 1 and await current_version(db) == version


async def test_duplicates_merge_or_skip_by_name_and_city_phone_and_email(db, people, tmp_path):
    rep = people["rep"]
    ardwick = await make_account(
        db, rep, name="Ardwick Hardware", city="Manchester", phone="+44 161 496 0001"
    )
    rows = [ACCOUNTS[0], "ARDWICK HARDWARE LTD.,  manchester ,,,rep@example.test", "Bury Fixings,Bury,0161 496 0002,C2,rep@example.test",
            "Bury Fixings Ltd,Bury,,,"]  # fmt: skip
    report, written = await run(db, people, "accounts", write(tmp_path / "a.csv", rows), Duplicates.SKIP)
    assert [p.render() for p in report.problems] == []
    assert written and report.counts["skip"] == 2 and report.counts["created"] == 1
    await db.refresh(ardwick)
    assert ardwick.name == "Ardwick Hardware"  # skipped: untouched

    rows = [
        ACCOUNTS[0],
        "Ardwick Hardware (Head office),Salford,0044 161 496 0001,C9,",
    ]  # same phone, last 9 digits
    report, written = await run(db, people, "accounts", write(tmp_path / "b.csv", rows))
    assert (
        written
        and report.counts["merge"] == 1
        and report.counts["updated"] == 1
        and report.counts["new"] == 0
    )
    await db.refresh(ardwick)
    assert (ardwick.city, ardwick.customer_number, ardwick.owner_id) == ("Salford", "C9", rep.id)
    assert await count(db, Account) == 2

    contact = await make_contact(db, rep, ardwick, name="Ann Lee", email="Ann@Ardwick.example")
    rows = [
        "account_customer_number,name,title,email",
        "C9,Ann Lee-Smith,Buyer,ANN@ardwick.EXAMPLE",
        "C9,Bob Roe,,",
    ]
    report, written = await run(db, people, "contacts", write(tmp_path / "c.csv", rows))
    assert written and report.counts["merge"] == 1 and report.counts["created"] == 1
    await db.refresh(contact)
    assert (contact.name, contact.title) == ("Ann Lee-Smith", "Buyer")
    assert await count(db, Contact) == 2


async def test_each_imported_record_has_its_own_version_and_a_later_edit_comes_after_them(
    db, people, tmp_path
):
    """Each imported record gets a version of its own as the import commits, and the counter ends
    past them all: a later edit must never look older to a device that synced the import."""
    rows = ["name,city,owner_email", *[f"Shop {n},Bury,rep@example.test" for n in range(5)]]
    report, written = await run(db, people, "accounts", write(tmp_path / "a.csv", rows))
    assert written and report.counts["created"] == 5
    versions = list(await db.scalars(select(Account.version)))
    assert len(set(versions)) == 5
    edited = await accounts.update(
        db, people["rep"], await db.scalar(select(Account.id).limit(1)), {"city": "Bolton"}
    )
    await db.commit()
    assert edited.version > max(versions)


async def test_a_row_that_fails_when_written_rolls_back_the_whole_import(db, people, tmp_path):
    rows = [
        "name,city,customer_number,owner_email",
        "Alpha,Leeds,A1,rep@example.test",
        "Beta,Leeds,B1,rep@example.test",
        "Gamma,Leeds,G1,other@example.test",
        "Delta,Leeds,D1,rep@example.test",
    ]
    path = write(tmp_path / "a.csv", rows)
    admin = people["admin"]
    job = await imports.upload(db, admin, tmp_path, "accounts", "a.csv", _chunks(path.read_bytes()))
    await imports.check(
        db,
        admin,
        job,
        {"column_0": "name", "column_1": "city", "column_2": "customer_number", "column_3": "owner_email"},
    )
    await db.commit()
    sessions = _sessions(db)
    job = await imports.execute(sessions, tmp_path, job.id)
    assert job.status is JobStatus.CHECKED and job.counts["new"] == 4 and job.counts["bad"] == 0
    # Between the check and the apply, the third row's rep leaves: that row now fails, mid-way.
    await make_account(db, people["rep"], name="Elsewhere", customer_number="E1")
    people["other"].is_active = False
    await db.commit()
    version = await current_version(db)
    await imports.apply(db, admin, job := await db.get(ImportJob, job.id))
    await db.commit()
    job_id = job.id
    await imports.execute(sessions, tmp_path, job_id)
    await db.rollback()
    job = await db.get(ImportJob, job_id, populate_existing=True)
    assert job.status is JobStatus.FAILED
    assert job.error == "line 4: owner_email: No active rep or manager has this email."
    assert (
        await count(db, Account, fresh=True) == 1 and await current_version(db) == version
    )  # Alpha and Beta are gone too


async def test_dry_run_writes_nothing_and_says_what_would_happen(db, people, tmp_path):
    rows = ["code,name,list_price,currency", "BOLT-M8,M8 bolts,12.50,GBP", "NUT-M8,M8 nuts,0.35,gbp"]
    report, written = await run(db, people, "products", write(tmp_path / "p.csv", rows), dry_run=True)
    assert not written and report.counts["created"] == 2
    assert imports.summary("products", report, "p.csv", dry_run=True) == (
        "Checked 2 products from p.csv: 2 would be created, 0 updated, 0 unchanged; nothing was written."
    )
    assert await count(db, Product) == 0
    assert await db.scalar(select(func.count()).select_from(AuditEvent)) == 0


async def _poll_until_finished(client, job_id) -> None:
    for _ in range(200):
        response = await client.get(f"/admin/imports/{job_id}/progress", headers={"HX-Request": "true"})
        assert response.status_code == 200
        if response.headers.get("hx-redirect"):
            return
        assert '<progress id="job-progress-bar"' in response.text and 'aria-valuenow="' in response.text
        await asyncio.sleep(0.05)
    raise AssertionError("the job did not finish")


async def test_the_web_flow_upload_map_check_apply(client, db, people, tmp_path):
    await make_account(db, people["rep"], name="Ardwick Hardware", city="Manchester")
    token = await sign_in(client, people["admin"].id)
    more = await client.get("/more")
    assert 'href="/admin/imports"' in more.text
    data = b"Company,Town,Telephone,Owner\r\nArdwick Hardware,Manchester,0161 496 0001,\r\nBury Fixings,Bury,,rep@example.test\r\n"
    uploaded = await client.post("/admin/imports", data={"_csrf_token": token, "kind": "accounts"},
                                 files={"file": ("customers.csv", b"\xef\xbb\xbf" + data, "text/csv")})  # fmt: skip
    assert uploaded.status_code == 303, uploaded.text
    job_url = uploaded.headers["location"]
    page = await client.get(job_url)
    assert "Column 1: “Company”" in page.text and '<select id="column-0" name="column_0">' in page.text

    refused = await client.post(f"{job_url}/check", data={"_csrf_token": token, "column_1": "city"})
    assert refused.status_code == 422 and "Missing required columns: name." in refused.text

    form = {
        "_csrf_token": token,
        "column_0": "name",
        "column_1": "city",
        "column_2": "phone",
        "column_3": "owner_email",
        "duplicates": "merge",
    }
    checked = await client.post(f"{job_url}/check", data=form)
    assert checked.status_code == 303
    await _poll_until_finished(client, job_url.rsplit("/", 1)[1])
    report = await client.get(job_url)
    assert "What the check found" in report.text and "4. Import 2 rows" in report.text
    assert "matches “Ardwick Hardware”" in report.text
    assert await count(db, Account, fresh=True) == 1  # the check wrote nothing

    applied = await client.post(f"{job_url}/apply", data={"_csrf_token": token})
    assert applied.status_code == 303
    await _poll_until_finished(client, job_url.rsplit("/", 1)[1])
    done = await client.get(job_url)
    assert "Imported" in done.text
    assert await count(db, Account, fresh=True) == 2
    ardwick = await db.scalar(select(Account).where(Account.name == "Ardwick Hardware"))
    assert ardwick.phone == "0161 496 0001"
    actions = set(await db.scalars(select(AuditEvent.action)))
    assert {
        "imports.upload",
        "imports.check",
        "imports.apply",
        "accounts.create",
        "accounts.update",
    } <= actions


async def test_a_file_that_is_not_csv_is_refused_clearly(client, db, people):
    token = await sign_in(client, people["admin"].id)
    response = await client.post("/admin/imports", data={"_csrf_token": token, "kind": "accounts"},
                                 files={"file": ("photo.csv", b"\xff\xd8\xff\xe0 not text", "text/csv")})  # fmt: skip
    assert response.status_code == 422
    assert "This is not a CSV file in UTF-8" in response.text
    response = await client.post("/admin/imports", data={"_csrf_token": token, "kind": "accounts"},
                                 files={"file": ("book.xlsx", b"name\r\n", "application/octet-stream")})  # fmt: skip
    assert response.status_code == 422 and "Choose a .csv file." in response.text


@pytest.mark.parametrize("role", ["rep", "manager"])
async def test_reps_and_managers_cannot_reach_the_import_pages(client, people, role):
    token = await sign_in(client, people[role].id)
    assert (await client.get("/admin/imports")).status_code == 403
    response = await client.post("/admin/imports", data={"_csrf_token": token, "kind": "accounts"},
                                 files={"file": ("a.csv", b"name\r\nX\r\n", "text/csv")})  # fmt: skip
    assert response.status_code == 403


async def test_the_fieldbook_command_for_each_kind(db, settings, people, tmp_path):
    accounts = write(tmp_path / "accounts.csv", ["name,city,customer_number,owner_email",
                                                 "Ardwick Hardware,Manchester,C1,rep@example.test"])  # fmt: skip
    contacts = write(
        tmp_path / "contacts.csv", ["account_customer_number,name,email", "C1,Ann Lee,ann@a.example"]
    )
    products = write(
        tmp_path / "products.csv", ["code,name,list_price,currency,active", "BOLT,Bolts,1.50,GBP,yes"]
    )
    orders = write(tmp_path / "orders.csv", ["order_number,customer_number,status,ordered_at,currency,sku,quantity,unit_price",
                                             "SO-1,C1,placed,2026-11-20,GBP,BOLT,2,1.50"])  # fmt: skip
    for kind, path, noun in (("accounts", accounts, "account"), ("contacts", contacts, "contact"),
                             ("products", products, "product"), ("orders", orders, "order")):  # fmt: skip
        checked = await run_fieldbook(settings, tmp_path, "import", kind, "--dry-run", str(path))
        assert checked.returncode == 0, checked.stderr
        assert f"Checked 1 {noun} from {path.name}: 1 would be created" in checked.stdout
        done = await run_fieldbook(settings, tmp_path, "import", kind, str(path))
        assert done.returncode == 0, done.stderr
        assert f"Imported 1 {noun} from {path.name}: 1 created" in done.stdout
    again = await run_fieldbook(
        settings, tmp_path, "import", "accounts", "--duplicates", "skip", str(accounts)
    )
    assert "0 created, 0 updated, 0 unchanged, 1 duplicates skipped" in again.stdout
    bad = write(tmp_path / "bad.csv", ["code,name,list_price,currency", "X,,1,GBP", "Y,Y,-1,GBP"])
    refused = await run_fieldbook(settings, tmp_path, "import", "products", str(bad))
    assert refused.returncode == 1 and "line 2: name: This field is required." in refused.stderr
    assert "nothing was imported: 2 problems to correct" in refused.stderr
    rep_id = people["rep"].id
    assert await count(db, Account, fresh=True) == 1 and await count(db, Contact) == 1
    assert await count(db, Product) == 1 and await count(db, Order) == 1
    owner = await db.scalar(select(Account.owner_id))
    assert owner == rep_id


def rows_of(response) -> list[dict[str, str]]:
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


async def test_exports_hold_only_what_the_person_may_see(client, db, people, settings, tmp_path):
    mine = await make_account(db, people["rep"], name="Mine", city="Leeds", phone="+44 161 496 0009",
                              customer_number="=HYPERLINK(1)")  # fmt: skip
    await make_contact(db, people["rep"], mine, name="@ann", email="ann@a.example")
    await make_account(db, people["manager"], name="Manager's", city="Leeds")
    await make_account(db, people["other"], name="Elsewhere", city="York")
    await sign_in(client, people["rep"].id)
    rows = rows_of(await client.get("/accounts/export.csv"))
    assert [row["name"] for row in rows] == ["Mine"]
    assert rows[0]["customer_number"] == "'=HYPERLINK(1)" and rows[0]["phone"] == "'+44 161 496 0009"
    assert [row["name"] for row in rows_of(await client.get("/contacts/export.csv"))] == ["'@ann"]
    assert rows_of(await client.get("/accounts/export.csv?q=nothing")) == []
    assert (await client.get("/admin/audit/export.csv")).status_code == 403

    await sign_in(client, people["manager"].id)
    assert sorted(row["name"] for row in rows_of(await client.get("/accounts/export.csv"))) == [
        "Manager's",
        "Mine",
    ]

    await sign_in(client, people["admin"].id)
    exported = await client.get("/accounts/export.csv?q=mine")
    path = tmp_path / "round-trip.csv"
    path.write_bytes(exported.content)
    report, written = await run(db, people, "accounts", path)
    assert written and report.counts["merge"] == 1 and report.counts["unchanged"] == 1  # it round-trips
    audit = rows_of(await client.get("/admin/audit/export.csv?action=accounts.create"))
    assert len(audit) == 3 and {row["action"] for row in audit} == {"accounts.create"}


async def test_orders_export_in_the_import_format(client, db, people, tmp_path):
    await make_account(db, people["rep"], name="Ardwick", customer_number="C1")
    path = write(tmp_path / "o.csv", ["order_number,customer_number,status,ordered_at,currency,sku,quantity,unit_price",
                                      "SO-1,C1,placed,2026-11-20,GBP,BOLT,2,1.50", "SO-1,C1,placed,2026-11-20,GBP,NUT,1,0.25"])  # fmt: skip
    _, written = await run(db, people, "orders", path)
    assert written
    await sign_in(client, people["other"].id)
    assert rows_of(await client.get("/orders/export.csv")) == []
    await sign_in(client, people["rep"].id)
    rows = rows_of(await client.get("/orders/export.csv?status=placed"))
    assert [(row["order_number"], row["sku"], Decimal(row["unit_price"])) for row in rows] == [
        ("SO-1", "BOLT", Decimal("1.50")), ("SO-1", "NUT", Decimal("0.25"))]  # fmt: skip


async def _chunks(data: bytes):
    yield data


def _sessions(db):
    from sqlalchemy.ext.asyncio import async_sessionmaker

    return async_sessionmaker(db.bind, expire_on_commit=False)
