"""Data with known structure for the metric tests: a people table and a customers/orders pair."""

from __future__ import annotations

import numpy as np
import pandas as pd

CITIES = np.array(["London", "Leeds", "York", "Bath", "Hull"])


def people(n_rows: int, seed: int) -> pd.DataFrame:
    """Columns that depend on each other: income on age, city and member on income."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 90, n_rows)
    income = np.round(age * 900.0 + rng.normal(0, 4_000, n_rows), 2)
    city = CITIES[np.clip((income / 20_000).astype(int), 0, 4)]
    member = income + rng.normal(0, 10_000, n_rows) > 50_000
    joined = pd.Timestamp("2015-01-01") + pd.to_timedelta(age * 30 + rng.integers(0, 100, n_rows), unit="D")
    return pd.DataFrame(
        {
            "id": np.arange(1, n_rows + 1),
            "age": age,
            "income": income,
            "city": city,
            "member": member,
            "joined": joined,
            "name": [f"person {i}" for i in range(n_rows)],
        }
    )


def customers_orders(n_customers: int, seed: int, extra_orders: int = 0) -> dict:
    """Customers with a Poisson(2) (+ extra_orders) number of orders; an order's amount follows its
    customer's segment."""
    rng = np.random.default_rng(seed)
    segment = rng.choice(np.array(["gold", "silver", "bronze"]), n_customers)
    age = np.where(segment == "gold", rng.integers(50, 80, n_customers), rng.integers(18, 60, n_customers))
    customers = pd.DataFrame({"customer_id": np.arange(1, n_customers + 1), "segment": segment, "age": age})
    counts = rng.poisson(2.0, n_customers) + extra_orders
    owner = np.repeat(np.arange(n_customers), counts)
    base = np.select([segment[owner] == "gold", segment[owner] == "silver"], [500.0, 100.0], 10.0)
    orders = pd.DataFrame(
        {
            "order_id": np.arange(1, len(owner) + 1),
            "customer_id": customers["customer_id"].to_numpy()[owner],
            "amount": np.round(base * rng.uniform(0.8, 1.2, len(owner)), 2),
            "channel": np.where(rng.random(len(owner)) < 0.7, np.where(base > 50, "web", "shop"), "phone"),
        }
    )
    return {"customers": customers, "orders": orders}
