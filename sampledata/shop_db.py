"""The sample SQL source: a SQLite database of shop payments, read by the ``db`` extractor in the demo.

``shop/shop.db`` holds one table, ``payments``, as it stands after ``days`` days of business: each day new
payments are authorised and earlier ones captured or refunded (an UPDATE of the row that moves its
``updated_at``), and a few land in the last hour of the day, inside the next day's 2h lookback. Timestamps
are SQLite text (``YYYY-MM-DD HH:MM:SS``), amounts integer cents. Deterministic: the same arguments give a
byte-identical file.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

__all__ = ["write_shop_db"]

METHODS = ["card", "paypal", "transfer"]
NEXT_STATUS = {"authorised": "captured", "captured": "refunded"}


def write_shop_db(out: Path, start: date, days: int) -> Path:
    """Write ``out/shop/shop.db`` for ``days`` days from ``start``; returns its path."""
    path = out / "shop" / "shop.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    rows: dict[int, list] = {}
    next_id = 1
    for offset in range(days):
        day = start + timedelta(days=offset)
        rng = random.Random(int(day.strftime("%Y%m%d")) + 7)
        midnight = datetime.combine(day, datetime.min.time())
        for _ in range(rng.randint(20, 30)):
            stamp = midnight + timedelta(seconds=rng.randint(0, 86399))
            rows[next_id] = [
                next_id,
                rng.randint(1, 500),
                rng.choice(METHODS),
                rng.randint(100, 50000),
                "EUR",
                "authorised",
                _text(stamp),
            ]
            next_id += 1
        movable = [r for r in rows.values() if r[5] in NEXT_STATUS and r[6] < _text(midnight)]
        for row in rng.sample(movable, k=min(8, len(movable))):
            row[5] = NEXT_STATUS[row[5]]
            row[6] = _text(midnight + timedelta(seconds=rng.randint(0, 86399)))
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE payments (payment_id INTEGER PRIMARY KEY, order_id INTEGER, method TEXT, "
            "amount_cents INTEGER, currency TEXT, status TEXT, updated_at TEXT)"
        )
        conn.execute("CREATE INDEX payments_updated_at ON payments (updated_at)")
        conn.executemany("INSERT INTO payments VALUES (?, ?, ?, ?, ?, ?, ?)", sorted(rows.values()))
    conn.close()
    return path


def _text(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")
