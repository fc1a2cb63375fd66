"""Gold assets of the sales domain: plain Dagster assets that read Silver as polars LazyFrames.

``daily_customer_revenue`` is the demo's one Gold asset. It takes two Silver assets as inputs; the Silver
IO manager hands each input a ``pl.LazyFrame`` over the committed, verified files of the partition's
``current`` artifact (docs/reading.md), so the asset is only the business logic. Its output is a small
frame stored by Dagster's default IO manager (under ``$DAGSTER_HOME/storage``).
"""

from datetime import date

import dagster as dg
import polars as pl

__all__ = ["DAILY", "daily_customer_revenue", "revenue_per_customer"]

# The sample sources' partitions (configs/platform.yaml: daily from 2025-01-01, UTC). Equal definitions map
# a Gold day to the same Silver day; any other daily or weekly definition maps by time window.
DAILY = dg.DailyPartitionsDefinition(start_date="2025-01-01", timezone="UTC")


def revenue_per_customer(orders: pl.LazyFrame, customers: pl.LazyFrame, day: date) -> pl.DataFrame:
    """Orders placed on ``day`` (their latest version), per customer, with the customer's name and city.

    before (Silver ``current`` as of ``day``)::

        orders:    order_id  customer_id  amount  ordered_at
                   1         7            10.00   2025-01-02 09:00
                   2         7            5.50    2025-01-02 17:30
                   3         9            20.00   2025-01-01 11:00
        customers: customer_id  customer_name  city
                   7            Ana            Porto
                   9            Rui            Lisbon

    after (``day`` = 2025-01-02)::

        date        customer_id  customer_name  city   orders  revenue
        2025-01-02  7            Ana            Porto  2       15.50
    """
    placed = orders.filter(pl.col("ordered_at").dt.date() == day)
    per_customer = placed.group_by("customer_id").agg(
        pl.len().cast(pl.Int64).alias("orders"),
        pl.col("amount").sum().cast(pl.Decimal(18, 2)).alias("revenue"),
    )
    names = customers.select("customer_id", "customer_name", "city")
    return (
        per_customer.join(names, on="customer_id", how="left")
        .select(pl.lit(day).alias("date"), "customer_id", "customer_name", "city", "orders", "revenue")
        .sort("customer_id")
        .collect()
    )


@dg.asset(
    key=["gold", "sales", "daily_customer_revenue"],
    group_name="gold_sales",
    partitions_def=DAILY,
    ins={
        "orders": dg.AssetIn(key=["silver", "sales", "orders"]),  # artifact "current" by default
        "customers": dg.AssetIn(key=["silver", "sales", "customers"]),
    },
    kinds={"polars"},
    tags={"medallion/layer": "gold"},
    description="Revenue per customer of the orders placed on the day, from Silver orders and customers.",
)
def daily_customer_revenue(
    context: dg.AssetExecutionContext, orders: pl.LazyFrame, customers: pl.LazyFrame
) -> dg.Output[pl.DataFrame]:
    day = date.fromisoformat(context.partition_key)
    result = revenue_per_customer(orders, customers, day)
    total = result["revenue"].sum()
    return dg.Output(
        result,
        metadata={
            "dagster/row_count": result.height,
            "revenue": str(total if total is not None else 0),
            "preview": dg.MetadataValue.md(_markdown(result.head(10))),
        },
    )


def _markdown(frame: pl.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    rows = ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join([header, rule, *rows])
