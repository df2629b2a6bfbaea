#!/usr/bin/env python3
"""Cross-checks abm's BG/NBD against an independent implementation, the `lifetimes` package.

    python3 -m venv .venv && .venv/bin/pip install lifetimes
    cargo build && .venv/bin/python tests/bgnbd_lifetimes_check.py [ABM_BINARY]

Fits both on the CDNOW sample shipped by lifetimes (tests/data/cdnow_sample_orders.csv is the
same data in the `abm` orders format; 39-week calibration ending 1997-09-30) and compares the
parameters, the log-likelihood and every account's P(alive) and expected purchases in 10 weeks.
Exits non-zero on any difference above the tolerance.
"""
import csv
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pandas as pd
from lifetimes import BetaGeoFitter
from lifetimes.utils import summary_data_from_transaction_data

HERE = os.path.dirname(os.path.abspath(__file__))
ORDERS = os.path.join(HERE, "data", "cdnow_sample_orders.csv")
ABM = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "target", "debug", "abm")
END = "1997-09-30"
HORIZON = 10.0


def main() -> int:
    tx = pd.read_csv(ORDERS, parse_dates=["ordered_at"], dtype={"account_id": str})
    s = summary_data_from_transaction_data(tx, "account_id", "ordered_at", observation_period_end=END, freq="D")
    s["recency"] /= 7.0
    s["T"] /= 7.0
    bgf = BetaGeoFitter(penalizer_coef=0.0).fit(s["frequency"], s["recency"], s["T"])
    theirs = bgf.params_

    fit = json.loads(subprocess.check_output(
        [ABM, "churn", "fit", "--orders", ORDERS, "--calibration-end", END, "--unit", "weeks"]))
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "pred.csv")
        subprocess.check_call([ABM, "churn", "predict", "--orders", ORDERS, "--calibration-end", END,
                               "--unit", "weeks", "--horizon", str(HORIZON), "--out", out])
        ours = {r["account_id"]: r for r in csv.DictReader(open(out))}

    worst = 0.0
    for k in ["r", "alpha", "a", "b"]:
        diff = abs(fit[k] - theirs[k])
        print(f"{k:6} abm {fit[k]:.6f}  lifetimes {theirs[k]:.6f}  diff {diff:.2e}")
        worst = max(worst, diff / max(1.0, abs(theirs[k])))
    print(f"LL     abm {fit['log_likelihood']:.3f}  (published: -9582.4)")
    p_alive = bgf.conditional_probability_alive(s["frequency"], s["recency"], s["T"])
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(HORIZON, s["frequency"], s["recency"], s["T"])
    dp = de = 0.0
    for i, cid in enumerate(s.index):
        o = ours[cid]
        dp = max(dp, abs(float(o["p_alive"]) - float(np.asarray(p_alive)[i])))
        de = max(de, abs(float(o["expected_purchases"]) - float(np.asarray(expected)[i])))
    print(f"accounts {len(s)}: max |ΔP(alive)| {dp:.2e}, max |Δexpected purchases| {de:.2e}")
    ok = worst < 1e-3 and dp < 1e-4 and de < 1e-4 and len(ours) == len(s)
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
