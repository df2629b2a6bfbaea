#!/usr/bin/env python3
"""The BG/NBD fit of the Python package `lifetimes` on the same orders and calibration end as
`abm churn fit --unit weeks`, timed (median of RUNS fits, summary building excluded), for
bench/analyze.sh. usage: fit_lifetimes.py ORDERS.csv CALIBRATION_END [RUNS]"""
import statistics
import sys
import time

import pandas as pd
from lifetimes import BetaGeoFitter
from lifetimes.utils import summary_data_from_transaction_data

orders, end = sys.argv[1], sys.argv[2]
runs = int(sys.argv[3]) if len(sys.argv) > 3 else 2
tx = pd.read_csv(orders, usecols=["account_id", "ordered_at"], dtype={"account_id": str})
tx["ordered_at"] = pd.to_datetime(tx["ordered_at"], utc=True).dt.tz_localize(None).dt.normalize()
tx = tx[tx["ordered_at"] <= pd.Timestamp(end)]
s = summary_data_from_transaction_data(tx, "account_id", "ordered_at", observation_period_end=end, freq="D")
s["recency"] /= 7.0
s["T"] /= 7.0
times = []
for _ in range(runs):
    bgf = BetaGeoFitter(penalizer_coef=0.0)
    t0 = time.perf_counter()
    bgf.fit(s["frequency"], s["recency"], s["T"])
    times.append(time.perf_counter() - t0)
p = bgf.params_
print(f"lifetimes: {len(s)} customers, fit {statistics.median(times) * 1000:.0f} ms (median of {runs}); "
      f"r={p['r']:.6f} alpha={p['alpha']:.6f} a={p['a']:.6f} b={p['b']:.6f}")
