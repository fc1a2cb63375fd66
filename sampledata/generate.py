"""Generate the sample lake's source files: deterministic, one file per source per day.

    python sampledata/generate.py [--out DIR] [--start 2025-01-01] [--days 10]

``--out`` defaults to ``$MEDALLION_SAMPLE_DIR`` or ``sampledata/generated``, where ``configs/`` looks.

Three sources exercise the three Bronze shapes the demo shows:

- ``retail/customers/customers_YYYYMMDD.csv``: a **full snapshot** every day. Customers change (credit
  limit, city), a few join, a few leave (absent from the next snapshot), and each day carries one row with
  an empty ``customer_id`` (quarantined by Silver) and padded names (trimmed by Silver).
- ``retail/orders/orders_YYYYMMDD.jsonl``: an **incremental** feed of order events: new orders plus status
  updates of earlier ones, with a nested ``shipping`` object and an occasional late event whose
  ``updated_at`` is older than what Silver already holds.
- ``inventory/stock/stock_YYYYMMDD.parquet``: a **periodic snapshot** of stock levels per (sku, warehouse),
  with a duplicate row per day where the later one wins.
- ``shop/shop.db``: a SQLite database read by the ``db`` extractor, incremental by ``updated_at``
  (``shop_db.py``).

The same arguments always produce byte-identical files (seeded per day, no wall clock).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from shop_db import write_shop_db

DEFAULT_OUT = Path(os.environ.get("MEDALLION_SAMPLE_DIR") or Path(__file__).resolve().parent / "generated")
CITIES = ["Lisbon", "Porto", "Madrid", "Paris", "Berlin", "Oslo", "Dublin", "Rome"]
STATUSES = ["placed", "paid", "shipped", "delivered"]
WAREHOUSES = ["north", "south", "east"]


@dataclass
class Customer:
    customer_id: int
    name: str
    city: str
    credit_limit: str
    signup_date: str
    updated_at: str


def generate(out: Path, start: date, days: int, customers: int = 200, skus: int = 50) -> list[Path]:
    """Write every file for ``days`` days from ``start``; returns the paths written."""
    written: list[Path] = []
    rng = random.Random(20250101)
    people = {i: _new_customer(rng, i, start) for i in range(1, customers + 1)}
    next_customer = customers + 1
    orders: dict[int, dict] = {}
    next_order = 1
    tickets: list[dict] = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        stamp = day.strftime("%Y%m%d")
        day_rng = random.Random(int(stamp))
        noon = datetime.combine(day, datetime.min.time()) + timedelta(hours=12)

        # customers: mutate, add, remove, then snapshot
        if offset:
            for cid in day_rng.sample(sorted(people), k=min(10, len(people))):
                c = people[cid]
                c.credit_limit = f"{day_rng.randint(5, 500) * 10}.00"
                c.city = day_rng.choice(CITIES)
                c.updated_at = (noon + timedelta(minutes=day_rng.randint(0, 600))).isoformat()
            for cid in day_rng.sample(sorted(people), k=2):
                del people[cid]
            for _ in range(3):
                people[next_customer] = _new_customer(day_rng, next_customer, day)
                next_customer += 1
        written.append(
            _write_customers(out / "retail" / "customers" / f"customers_{stamp}.csv", people, day_rng)
        )

        # orders: new orders and status updates of open ones
        events = []
        for _ in range(day_rng.randint(40, 60)):
            order = {
                "order_id": next_order,
                "customer_id": day_rng.randint(1, customers),
                "status": "placed",
                "amount": f"{day_rng.randint(100, 99999) / 100:.2f}",
                "ordered_at": (noon + timedelta(minutes=day_rng.randint(-600, 600))).isoformat(),
                "shipping": {"city": day_rng.choice(CITIES), "express": day_rng.random() < 0.2},
            }
            order["updated_at"] = order["ordered_at"]
            orders[next_order] = order
            events.append(dict(order))
            next_order += 1
        open_orders = [
            o for o in orders.values() if o["status"] != "delivered" and o["updated_at"] < noon.isoformat()
        ]
        for order in day_rng.sample(open_orders, k=min(25, len(open_orders))):
            order["status"] = STATUSES[STATUSES.index(order["status"]) + 1]
            order["updated_at"] = (noon + timedelta(minutes=day_rng.randint(0, 600))).isoformat()
            events.append(dict(order))
        if offset and orders:
            # a late event: an old status re-delivered with an older updated_at; Silver keeps the newer row
            stale = dict(orders[day_rng.randint(1, max(1, next_order - 60))])
            stale["status"] = "placed"
            stale["updated_at"] = stale["ordered_at"]
            events.append(stale)
        written.append(_write_jsonl(out / "retail" / "orders" / f"orders_{stamp}.jsonl", events))

        # stock: one row per (sku, warehouse) plus a superseded duplicate
        rows = {
            "sku": [],
            "warehouse": [],
            "quantity": [],
            "counted_at": [],
        }
        for sku in range(1, skus + 1):
            for wh in WAREHOUSES:
                rows["sku"].append(f"SKU-{sku:04d}")
                rows["warehouse"].append(wh)
                rows["quantity"].append(day_rng.randint(0, 500))
                rows["counted_at"].append(noon + timedelta(minutes=sku))
        rows["sku"].append("SKU-0001")
        rows["warehouse"].append("north")
        rows["quantity"].append(day_rng.randint(0, 500))
        rows["counted_at"].append(noon + timedelta(hours=6))
        path = out / "inventory" / "stock" / f"stock_{stamp}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table(rows), path, compression="zstd")
        written.append(path)

        _add_ticket_events(tickets, random.Random(int(stamp) + 7), day)
    written.append(_write_json(out / "support" / "tickets.json", tickets))
    written.append(write_shop_db(out, start, days))
    return written


def _add_ticket_events(tickets: list[dict], rng: random.Random, day: date) -> None:
    """Support tickets (the sample API's data): new ones each day, and status changes of open ones.

    Every event is a full ticket version; the API serves those whose ``updated_at`` falls in the window.
    """
    midnight = datetime.combine(day, datetime.min.time())
    latest: dict[int, dict] = {}
    for event in tickets:
        latest[event["ticket_id"]] = event
    for ticket in rng.sample(sorted(latest.values(), key=lambda t: t["ticket_id"]), k=min(8, len(latest))):
        if ticket["status"] != "closed":
            changed = dict(ticket, status="closed" if ticket["status"] == "pending" else "pending")
            changed["updated_at"] = (midnight + timedelta(minutes=rng.randint(0, 1439))).isoformat() + "Z"
            tickets.append(changed)
    for _ in range(rng.randint(25, 35)):
        created = (midnight + timedelta(minutes=rng.randint(0, 1439))).isoformat() + "Z"
        tickets.append(
            {
                "ticket_id": max((t["ticket_id"] for t in tickets), default=0) + 1,
                "subject": rng.choice(["Late delivery", "Refund", "Wrong size", "Damaged item"]),
                "priority": rng.choice(["low", "normal", "high"]),
                "status": "open",
                "requester": {"customer_id": rng.randint(1, 200), "channel": rng.choice(["email", "chat"])},
                "tags": rng.sample(["vip", "repeat", "web", "store"], k=rng.randint(0, 2)),
                "created_at": created,
                "updated_at": created,
            }
        )


def _write_json(path: Path, records: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, sort_keys=True, indent=0), encoding="utf-8")
    return path


def _new_customer(rng: random.Random, cid: int, day: date) -> Customer:
    stamp = datetime.combine(day, datetime.min.time()) + timedelta(hours=rng.randint(0, 11))
    return Customer(
        customer_id=cid,
        name=f"  Customer {cid:04d} ",
        city=rng.choice(CITIES),
        credit_limit=f"{rng.randint(5, 500) * 10}.00",
        signup_date=(day - timedelta(days=rng.randint(0, 900))).isoformat(),
        updated_at=stamp.isoformat(),
    )


def _write_customers(path: Path, people: dict[int, Customer], rng: random.Random) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["customer_id", "cust_name", "city", "credit_limit", "signup_date", "updated_at"])
        for c in sorted(people.values(), key=lambda c: c.customer_id):
            writer.writerow([c.customer_id, c.name, c.city, c.credit_limit, c.signup_date, c.updated_at])
        # one bad row a day: no key, so Silver quarantines it to _errors/
        writer.writerow(["", "Nobody", rng.choice(CITIES), "10.00", "2024-01-01", "2024-01-01T00:00:00"])
    return path


def _write_jsonl(path: Path, events: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event, sort_keys=True) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2025, 1, 1))
    parser.add_argument("--days", type=int, default=10)
    args = parser.parse_args()
    paths = generate(args.out, args.start, args.days)
    print(f"wrote {len(paths)} sample files under {args.out}")


if __name__ == "__main__":
    main()
