"""The demo data set: a field-sales organisation around Greater Manchester.

Generated from a fixed seed, so every run produces the same records with the same ids; loading
inserts only the records that are missing, which makes `fieldbook demo` safe to run again.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select, text

from server.accounts.models import Account
from server.accounts.tiers import tier_for
from server.contacts.models import Contact
from server.db import Versioned, holds_versions, next_version, utcnow
from server.leads import matching, scoring
from server.leads.models import Lead, LeadSource, LeadStatus
from server.orders.models import Order, OrderLine, OrderStatus, OrderStatusEvent
from server.organisation.models import GeofenceMode, OrganisationPolicy
from server.quotes import policy, pricing
from server.quotes.models import (
    ApprovalRule,
    ApprovalStatus,
    ApproverLevel,
    Product,
    Quote,
    QuoteApproval,
    QuoteEvent,
    QuoteLine,
    QuoteStatus,
    RuleKind,
)
from server.users.models import Role, Team, TeamManager, User
from server.validation import digits
from server.visits.models import Outcome, Visit, VisitStatus

if TYPE_CHECKING:
    from advanced_alchemy.extensions.litestar import SQLAlchemyAsyncConfig

SEED = 20261122
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z: demo ids sort before anything made later

FIRST_NAMES = [
    "Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Mia", "Arthur", "Sophia", "Leo", "Grace", "Harry",
    "Lily", "Oscar", "Freya", "Jack", "Evie", "Charlie", "Poppy", "Thomas", "Priya", "Mohammed", "Chloe",
    "Wei", "Aisha", "Daniel", "Hannah", "Ravi", "Zara", "Samuel", "Ellie", "Yusuf", "Megan", "Kofi", "Ruth",
]  # fmt: skip
LAST_NAMES = [
    "Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Wright",
    "Robinson", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall", "Wood", "Khan",
    "Clarke", "Chen", "Hughes", "Edwards", "Lewis", "Ahmed", "Turner", "Hill", "Cooper", "Ward",
]  # fmt: skip
NAME_STEMS = [
    "Ancoats", "Irwell", "Pennine", "Deansgate", "Castlefield", "Northern", "Mersey", "Peak", "Oxford Road",
    "Piccadilly", "Rochdale Canal", "Spinningfields", "Victoria", "Beech", "Heaton", "Withington",
    "Chorlton", "Didsbury", "Ardwick", "Moss Side", "Cheetham", "Levenshulme", "Gorton", "Failsworth",
    "Hale", "Bramhall", "Marple", "Worsley", "Eccles", "Denton", "Red Rose", "Cotton", "Millstone", "Bridgewater",
]  # fmt: skip
TRADES = [
    "Hardware", "Building Supplies", "Pharmacy", "Garden Centre", "Bakery", "Wholesale", "Catering",
    "Electrical", "Plumbing Supplies", "Auto Parts", "Pet Store", "Convenience Store", "Deli", "Café",
    "Hotel", "Dental Practice", "Veterinary Clinic", "Print Shop", "Florist", "Cycle Shop", "Bistro",
]  # fmt: skip
SUFFIXES = ["Ltd", "& Sons", "Co.", "Group", "", "", "", "Ltd", "Partners"]
STREETS = [
    "Oxford Road", "Deansgate", "Market Street", "Portland Street", "Wilmslow Road", "Stockport Road",
    "Bury New Road", "Rochdale Road", "Ashton Old Road", "Chester Road", "Princess Street", "Oldham Street",
    "Washway Road", "Bolton Road", "Manchester Road", "Church Street", "High Street", "Station Road",
    "Moss Lane", "King Street", "Lapwing Lane", "Burton Road", "Barlow Moor Road", "Hyde Road",
]  # fmt: skip
# (town, postcode district prefix, latitude, longitude): the teams split the map north to south.
TOWNS = [
    ("Bury", "BL9", 53.593, -2.298), ("Bolton", "BL1", 53.578, -2.429), ("Rochdale", "OL16", 53.616, -2.155),
    ("Oldham", "OL1", 53.541, -2.117), ("Salford", "M5", 53.488, -2.290), ("Manchester", "M1", 53.480, -2.242),
    ("Manchester", "M4", 53.485, -2.229), ("Manchester", "M14", 53.449, -2.220), ("Ashton-under-Lyne", "OL6", 53.489, -2.094),
    ("Stockport", "SK1", 53.408, -2.149), ("Altrincham", "WA14", 53.387, -2.349), ("Sale", "M33", 53.424, -2.322),
    ("Didsbury", "M20", 53.416, -2.231), ("Wythenshawe", "M22", 53.389, -2.264), ("Hyde", "SK14", 53.451, -2.079),
]  # fmt: skip
TEAMS = ["North", "City", "South"]
NOTES = [
    "",
    "",
    "Delivery bay at the rear.",
    "Prefers visits before 11am.",
    "Pays on 30-day terms.",
    "Closed on Mondays.",
]
# (sku, description, unit price in GBP): what the demo customers buy.
PRODUCTS = [
    ("BOLT-M8", "M8 bolts, box of 100", "12.50"), ("SCREW-4X40", "Wood screws 4x40, box of 200", "8.90"),
    ("GLUE-1L", "Wood glue, 1 litre", "7.99"), ("TAPE-50", "Duct tape 50 mm", "4.25"),
    ("GLOVE-L", "Work gloves, large, 12 pairs", "23.40"), ("BULB-LED9", "LED bulb 9 W, pack of 10", "19.90"),
    ("CABLE-2.5", "Cable 2.5 mm², 50 m", "48.00"), ("PAINT-W5", "White emulsion, 5 litres", "29.95"),
    ("FLOUR-16", "Strong flour, 16 kg", "18.60"), ("CUPS-12", "Paper cups 12 oz, 1000", "41.00"),
    ("NAPKIN-2", "Napkins, 2-ply, 2000", "15.30"), ("CLEAN-5", "Surface cleaner, 5 litres", "11.75"),
]  # fmt: skip
ORDERS_UNTIL = dt.datetime(2026, 11, 15, 12, 0, tzinfo=dt.UTC)  # a fixed "now" keeps the data set the same
STATUS_STEPS = [OrderStatus.PLACED, OrderStatus.CONFIRMED, OrderStatus.SHIPPED, OrderStatus.DELIVERED]
VISIT_PURPOSES = [
    "Autumn price list",
    "Stock check",
    "New product samples",
    "Quarterly review",
    "Collect feedback",
]
TITLES = [
    "Owner",
    "Store Manager",
    "Buyer",
    "Purchasing Manager",
    "Operations Manager",
    "Director",
    "Head Chef",
]


class DemoIds:
    """Deterministic UUIDv7s: a fixed millisecond clock and seeded random bits."""

    def __init__(self, rng: random.Random, first_tick: int = 0) -> None:
        self.rng = rng
        self.tick = first_tick

    def __call__(self) -> uuid.UUID:
        self.tick += 1
        value = (BASE_MS + self.tick) << 80 | 0x7 << 76 | self.rng.getrandbits(12) << 64
        value |= 0b10 << 62 | self.rng.getrandbits(62)
        return uuid.UUID(int=value)


@dataclass
class DemoData:
    rows: dict[type[Versioned], list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, model: type[Versioned], **values: Any) -> uuid.UUID:
        self.rows.setdefault(model, []).append(values)
        return values["id"]


def _person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _phone(rng: random.Random, mobile: bool = False) -> str:
    if mobile:
        return f"07700 9{rng.randint(0, 99999):05d}"
    return f"0161 496 {rng.randint(0, 9999):04d}"  # Ofcom's range for drama: never a real line


# The demo company's orders are small, so its tier thresholds are too.
DEMO_POLICY = {"geofence_radius_m": 200, "geofence_mode": GeofenceMode.SOFT, "low_accuracy_m": 100,
               "tier_a_min": Decimal(1500), "tier_b_min": Decimal(700)}  # fmt: skip


def generate(scale: int = 1, today: dt.date | None = None) -> DemoData:
    """The data set; visits are planned around `today` (the real today by default)."""
    today = today or utcnow().date()
    rng = random.Random(SEED)
    next_id = DemoIds(rng)
    data = DemoData()
    policy = OrganisationPolicy(**DEMO_POLICY)
    data.add(OrganisationPolicy, id=next_id(), **DEMO_POLICY)

    data.add(User, id=next_id(), email="admin@fieldbook.example", name="Alex Morgan (admin)", role=Role.ADMIN)
    teams: list[tuple[uuid.UUID, list[uuid.UUID]]] = []
    for index, team_name in enumerate(TEAMS):
        team_id = data.add(Team, id=next_id(), name=team_name)
        manager_id = data.add(
            User, id=next_id(), email=f"manager.{team_name.lower()}@fieldbook.example",
            name=f"{_person(rng)} ({team_name} manager)", role=Role.MANAGER, team_id=team_id,
        )  # fmt: skip
        data.add(TeamManager, id=next_id(), team_id=team_id, user_id=manager_id)
        _, _, home_lat, home_lon = TOWNS[index * 5 + 2]
        reps = [
            data.add(
                User,
                id=next_id(),
                email=f"rep{index * 7 * scale + number + 1}@fieldbook.example",
                name=_person(rng),
                role=Role.REP,
                team_id=team_id,
                home_latitude=round(home_lat + rng.uniform(-0.02, 0.02), 5),
                home_longitude=round(home_lon + rng.uniform(-0.03, 0.03), 5),
            )
            for number in range(7 * scale)
        ]
        teams.append((team_id, reps))

    towns_by_team = [TOWNS[:5], TOWNS[4:10], TOWNS[9:]]
    for number in range(2000 * scale):
        team_index = number % len(TEAMS)
        town, district, lat, lon = rng.choice(towns_by_team[team_index])
        stem, trade, suffix = rng.choice(NAME_STEMS), rng.choice(TRADES), rng.choice(SUFFIXES)
        phone = _phone(rng)
        account_id = data.add(
            Account,
            id=next_id(),
            name=f"{stem} {trade} {suffix}".strip(),
            street=f"{rng.randint(1, 420)} {rng.choice(STREETS)}",
            city=town,
            postcode=f"{district} {rng.randint(1, 9)}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}{rng.choice('ABDEFGHJLNPQRSTUWXYZ')}",
            # Scatter around the town centre, within about 3 km.
            latitude=round(lat + rng.uniform(-0.027, 0.027), 6),
            longitude=round(lon + rng.uniform(-0.045, 0.045), 6),
            phone=phone,
            phone_digits=digits(phone),
            owner_id=rng.choice(teams[team_index][1]),
            customer_number=f"C{100001 + number}",
            notes=rng.choice(NOTES),
        )
        account = data.rows[Account][-1]
        account["tier"] = tier_for(_orders(data, account_id, number, today), policy)
        for _ in range(rng.choices([1, 2, 3], weights=[40, 40, 20])[0]):
            name = _person(rng)
            phone = _phone(rng, mobile=True)
            data.add(
                Contact, id=next_id(), account_id=account_id, name=name, title=rng.choice(TITLES),
                phone=phone, phone_digits=digits(phone),
                email=f"{name.lower().replace(' ', '.')}@{stem.lower().replace(' ', '')}.example",
            )  # fmt: skip
    for rep_number, rep_id in enumerate(rep for _, reps in teams for rep in reps):
        _field_day(data, rep_id, rep_number, today)
    _quotes(data, teams, today)
    return data


# The approval policy of the demo company: above 10 % the rep's manager; above 25 %, over
# GBP 5,000 or a price under 70 % of list also an admin.
DEMO_RULES = [(RuleKind.DISCOUNT_ABOVE, "10", ApproverLevel.MANAGER, None),
              (RuleKind.DISCOUNT_ABOVE, "25", ApproverLevel.ADMIN, None),
              (RuleKind.TOTAL_ABOVE, "5000", ApproverLevel.ADMIN, "GBP"),
              (RuleKind.PRICE_BELOW_FLOOR, "70", ApproverLevel.ADMIN, None)]  # fmt: skip


def _quotes(data: DemoData, teams: list[tuple[uuid.UUID, list[uuid.UUID]]], today: dt.date) -> None:
    """The product catalogue, the approval rules, and one quote waiting for the first team's manager."""
    next_id = DemoIds(random.Random(f"{SEED}:quotes"), first_tick=900_000_000)
    products = [
        data.add(Product, id=next_id(), code=sku, name=description, unit="each", list_price=Decimal(price),
                 currency="GBP", active=True)
        for sku, description, price in PRODUCTS
    ]  # fmt: skip
    rules = []
    for kind, threshold, approver, currency in DEMO_RULES:
        data.add(ApprovalRule, id=next_id(), kind=kind, threshold=Decimal(threshold), approver=approver,
                 currency=currency, active=True)  # fmt: skip
        rules.append(policy.Rule(kind, Decimal(threshold), approver, currency))
    rep_id = teams[0][1][0]
    account = next(row for row in data.rows[Account] if row["owner_id"] == rep_id)
    chosen = [
        (0, Decimal(20), Decimal(15)),
        (5, Decimal(6), Decimal(10)),
    ]  # (product, quantity, line discount %)
    lines = [pricing.Line(quantity, Decimal(PRODUCTS[index][2]), Decimal(PRODUCTS[index][2]), discount)
             for index, quantity, discount in chosen]  # fmt: skip
    totals = pricing.totals(lines, Decimal(0), "GBP")
    submitted = dt.datetime.combine(today, dt.time(9, 40), tzinfo=dt.UTC) - dt.timedelta(days=1)
    quote_id = data.add(
        Quote, id=next_id(), number="Q-1001", account_id=account["id"], owner_id=rep_id, status=QuoteStatus.PENDING,
        currency="GBP", discount_percent=Decimal(0), valid_until=today + dt.timedelta(days=30), notes="Delivery within 5 working days.",
        comment="They want to switch from their current supplier; this price wins the whole account.", revision=1,
        approval_round=1, approval_step=1, list_total=totals.list_total, subtotal=totals.subtotal, total=totals.total,
        submitted_at=submitted,
    )  # fmt: skip
    for position, ((index, quantity, discount), amount) in enumerate(
        zip(chosen, totals.amounts, strict=True), start=1
    ):
        sku, description, price = PRODUCTS[index]
        data.add(QuoteLine, id=next_id(), quote_id=quote_id, position=position, product_id=products[index], code=sku,
                 name=description, unit="each", list_price=Decimal(price), quantity=quantity, unit_price=Decimal(price),
                 discount_percent=discount, amount=amount)  # fmt: skip
    for action, status, moment in (("created", QuoteStatus.DRAFT, submitted - dt.timedelta(minutes=20)),
                                   ("submitted", QuoteStatus.PENDING, submitted)):  # fmt: skip
        data.add(QuoteEvent, id=next_id(), quote_id=quote_id, actor_id=rep_id, action=action, status=status, revision=1,
                 total=totals.total, comment="", happened_at=moment)  # fmt: skip
    for number, (level, fired) in enumerate(
        policy.chain(policy.evaluate(rules, lines, Decimal(0), "GBP")), start=1
    ):
        data.add(QuoteApproval, id=next_id(), quote_id=quote_id, round=1, step=number, level=level,
                 status=ApprovalStatus.WAITING if number == 1 else ApprovalStatus.QUEUED, revision=1,
                 reasons=[found.as_reason() for found in fired], waiting_since=submitted if number == 1 else None,
                 comment="")  # fmt: skip


def _orders(data: DemoData, account_id: uuid.UUID, account_number: int, today: dt.date) -> Decimal:
    """About five orders per account over the last 18 months, with lines and a status timeline.

    Each account's orders come from a random stream and an id range of their own, so that adding
    to the data set later never changes the ids of what an existing database already holds.
    """
    rng = random.Random(f"{SEED}:orders:{account_number}")
    next_id = DemoIds(rng, first_tick=100_000_000 + account_number * 1_000)
    year_ago = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC) - dt.timedelta(days=365)
    year_value = Decimal(0)
    for index in range(rng.randint(2, 8)):
        ordered_at = ORDERS_UNTIL - dt.timedelta(days=rng.uniform(0, 540), minutes=rng.randint(0, 600))
        age_days = (ORDERS_UNTIL - ordered_at).days
        reached = min(3, age_days // 3) if age_days < 12 else 3
        lines, total = [], Decimal("0.00")
        for position, (sku, description, price) in enumerate(
            rng.sample(PRODUCTS, rng.randint(1, 4)), start=1
        ):
            quantity = Decimal(rng.randint(1, 12))
            amount = quantity * Decimal(price)
            total += amount
            lines.append({"position": position, "sku": sku, "description": description, "quantity": quantity,
                          "unit_price": Decimal(price), "amount": amount})  # fmt: skip
        cancelled = rng.random() < 0.04
        status = OrderStatus.CANCELLED if cancelled else STATUS_STEPS[reached]
        order_id = data.add(
            Order, id=next_id(), number=f"SO-{account_number + 1:05d}-{index + 1:02d}", account_id=account_id,
            customer_po=f"PO-{rng.randint(1000, 99999)}" if rng.random() < 0.6 else "", status=status,
            ordered_at=ordered_at, currency="GBP", total=total,
        )  # fmt: skip
        for line in lines:
            data.add(OrderLine, id=next_id(), order_id=order_id, **line)
        steps = [OrderStatus.PLACED, OrderStatus.CANCELLED] if cancelled else STATUS_STEPS[: reached + 1]
        for day, step in enumerate(steps):
            data.add(OrderStatusEvent, id=next_id(), order_id=order_id, status=step,
                     happened_at=ordered_at + dt.timedelta(days=day * 2, hours=day))  # fmt: skip
        if not cancelled and ordered_at >= year_ago:
            year_value += total
    return year_value


def _field_day(data: DemoData, rep_id: uuid.UUID, rep_number: int, today: dt.date) -> None:
    """A rep's yesterday (done, with check-ins and outcomes), today and tomorrow, and a few open leads.

    Like orders, each rep has a random stream and an id range of their own.
    """
    rng = random.Random(f"{SEED}:field:{rep_number}")
    next_id = DemoIds(rng, first_tick=900_000_000 + rep_number * 1_000)
    mine = [row for row in data.rows[Account] if row["owner_id"] == rep_id]
    if len(mine) < 12:
        return
    chosen = rng.sample(mine, 12)
    days = [
        (today - dt.timedelta(days=1), chosen[:4]),
        (today, chosen[4:9]),
        (today + dt.timedelta(days=1), chosen[9:]),
    ]
    for day, accounts in days:
        for slot, account in enumerate(accounts):
            start = dt.time(9 + slot * 2, 0)
            visit = {"id": next_id(), "account_id": account["id"], "owner_id": rep_id, "planned_on": day,
                     "window_start": start, "window_end": dt.time(start.hour + 1, 30),
                     "purpose": rng.choice(VISIT_PURPOSES), "status": VisitStatus.PLANNED}  # fmt: skip
            if day < today:
                visit.update(_made_visit(rng, account, dt.datetime.combine(day, start, tzinfo=dt.UTC)))
            data.add(Visit, **visit)
    for _ in range(3):
        matched = rng.random() < 0.4
        account = rng.choice(mine)
        company = account["name"] if matched else f"{rng.choice(NAME_STEMS)} {rng.choice(TRADES)}"
        phone = account["phone"] if matched else _phone(rng, mobile=True)
        lead = Lead(name=_person(rng), company=company, phone=phone, email="", note="",
                    source=rng.choice(list(LeadSource)))  # fmt: skip
        score, _ = scoring.score(lead, account["tier"] if matched else None, scoring.Engagement())
        data.add(
            Lead, id=next_id(), name=lead.name, company=company, company_key=matching.company_key(company),
            phone=phone, phone_digits=digits(phone), email="", note="", source=lead.source, status=LeadStatus.OPEN,
            score=score, owner_id=rep_id, captured_by_id=rep_id, account_id=account["id"] if matched else None,
        )  # fmt: skip


def _made_visit(rng: random.Random, account: dict[str, Any], arrived: dt.datetime) -> dict[str, Any]:
    """A visit that happened: checked in near the customer (now and then too far away), an outcome."""
    away = 350 if rng.random() < 0.15 else rng.uniform(5, 60)
    bearing = rng.uniform(0, 2 * math.pi)
    latitude = account["latitude"] + away * math.cos(bearing) / 111_195
    longitude = account["longitude"] + away * math.sin(bearing) / (111_195 * math.cos(math.radians(latitude)))
    minutes = rng.randint(15, 70)
    left = arrived + dt.timedelta(minutes=minutes)
    outcome = rng.choice(list(Outcome))
    return {
        "status": VisitStatus.DONE, "checked_in_at": arrived, "checked_in_device_at": arrived,
        "check_in_latitude": round(latitude, 6), "check_in_longitude": round(longitude, 6),
        "check_in_accuracy_m": round(rng.uniform(5, 40), 1), "check_in_distance_m": round(away, 1),
        "outside_geofence": away > DEMO_POLICY["geofence_radius_m"], "low_accuracy": False,
        "checked_out_at": left, "checked_out_device_at": left, "minutes_on_site": minutes,
        "outcome": outcome, "notes": rng.choice(NOTES),
        "next_step": "Send the price list" if outcome is Outcome.FOLLOW_UP else "",
        "next_step_due": arrived.date() + dt.timedelta(days=7) if outcome is Outcome.FOLLOW_UP else None,
    }  # fmt: skip


# Parents before children, so foreign keys hold while inserting.
LOAD_ORDER: tuple[type[Versioned], ...] = (
    OrganisationPolicy, Team, User, TeamManager, Account, Contact, Order, OrderLine, OrderStatusEvent, Visit, Lead,
    Product, ApprovalRule, Quote, QuoteLine, QuoteEvent, QuoteApproval,
)  # fmt: skip


async def load_demo(alchemy: SQLAlchemyAsyncConfig, *, scale: int = 1) -> dict[str, int]:
    """Insert whatever part of the demo data set is missing; returns how many of each were added.

    Seed data is loaded in bulk rather than through the per-record commands: it is not anyone's
    edit, and the whole set arrives under one change-sequence value.
    """
    data = generate(scale)
    added: dict[str, int] = {}
    async with alchemy.get_session() as session:
        version: int | None = None
        now = utcnow()
        for model in LOAD_ORDER:
            rows = data.rows.get(model, [])
            existing: set[uuid.UUID] = set()
            for start in range(0, len(rows), 5000):  # keep IN (...) lists a sane size
                chunk = [row["id"] for row in rows[start : start + 5000]]
                existing.update(await session.scalars(select(model.id).where(model.id.in_(chunk))))
            missing = [row for row in rows if row["id"] not in existing]
            if missing:
                version = version or await next_version(session)
                stamped = [
                    {**row, "version": version, "created_at": now, "updated_at": now} for row in missing
                ]
                await session.execute(insert(model), stamped)
                holds_versions(session, model.__table__)
            added[model.__tablename__] = len(missing)
        await session.commit()
        if any(added.values()):
            # Fresh statistics, or the query planner guesses from an empty table (seen: a nested
            # loop over 60,000 orders x 12,000 accounts taking 12 s on PostgreSQL).
            await session.execute(text("ANALYZE"))
            await session.commit()
    return added
