#!/usr/bin/env python3
"""A straightforward pandas implementation of `abm analyze`'s rules, for the speed comparison
in bench/analyze.sh: ABC by revenue (cumulative share incl. the account: A ≤ 0.80, B ≤ 0.95),
XYZ by population CV of monthly revenue over the window (empty months = 0; X ≤ 0.10, Y ≤ 0.25),
pillar (≥ 10 % of profit), churn rule (days since last order > max(90, 3 × median interval)).

usage: analyze_pandas.py ORDERS.csv OUT.csv
"""
import sys

import numpy as np
import pandas as pd


def main(path: str, out: str) -> None:
    df = pd.read_csv(path, usecols=["account_id", "ordered_at", "amount", "margin"])
    df["ordered_at"] = pd.to_datetime(df["ordered_at"], utc=True, format="ISO8601")
    df["day"] = df["ordered_at"].dt.floor("D")
    df["month"] = df["ordered_at"].dt.tz_localize(None).dt.to_period("M")
    as_of = df["day"].max()
    months = pd.period_range(df["month"].min(), df["month"].max(), freq="M")

    g = df.groupby("account_id")
    res = pd.DataFrame({
        "revenue": g["amount"].sum(),
        "profit": g["margin"].sum(),
        "orders": g.size(),
        "first_order_at": g["day"].min(),
        "last_order_at": g["day"].max(),
    })
    res = res.sort_values(["revenue"], ascending=False, kind="mergesort")
    res = res.loc[res.sort_index().sort_values("revenue", ascending=False, kind="mergesort").index]
    total = res.loc[res["revenue"] > 0, "revenue"].sum()
    cum = res["revenue"].where(res["revenue"] > 0, 0).cumsum() / total
    res["abc"] = np.where(res["revenue"] <= 0, "", np.where(cum <= 0.80, "A", np.where(cum <= 0.95, "B", "C")))

    monthly = df.groupby(["account_id", "month"])["amount"].sum().unstack(fill_value=0)
    monthly = monthly.reindex(columns=months, fill_value=0)
    mean = monthly.mean(axis=1)
    cv = monthly.std(axis=1, ddof=0) / mean
    res["cv"] = cv
    res["xyz"] = np.where(mean <= 0, "", np.where(cv <= 0.10, "X", np.where(cv <= 0.25, "Y", "Z")))

    profit_total = res["profit"].clip(lower=0).sum()
    res["types"] = np.where(res["profit"].clip(lower=0) / profit_total >= 0.10, "pillar", "")

    days = df[["account_id", "day"]].drop_duplicates().sort_values(["account_id", "day"])
    days["gap"] = days.groupby("account_id")["day"].diff().dt.days
    median = days.groupby("account_id")["gap"].median()
    res["median_interval"] = median
    res["days_since_last_order"] = (as_of - res["last_order_at"]).dt.days
    limit = np.maximum(90, 3 * res["median_interval"].fillna(0))
    res["lost"] = res["days_since_last_order"] > limit
    res.to_csv(out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
