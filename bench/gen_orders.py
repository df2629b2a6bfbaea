#!/usr/bin/env python3
"""Writes deterministic accounts.csv and orders.csv for the import benchmark.

usage: gen_orders.py OUT_DIR --accounts N --orders M [--seed S]
The orders file uses the `abm import orders` contract columns
(external_id,account_id,ordered_at,amount,margin,currency,offer_code).
"""
import argparse
import os
import random
from datetime import date, timedelta


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--accounts", type=int, default=20000)
    p.add_argument("--orders", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rnd = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "accounts.csv"), "w") as f:
        f.write("external_id,name,industry,country,timezone,currency\n")
        for i in range(a.accounts):
            f.write(f"B-{i:06d},Bench Account {i},Manufacturing,VN,Asia/Ho_Chi_Minh,USD\n")
    start = date(2024, 1, 1)
    with open(os.path.join(a.out, f"orders-{a.orders}.csv"), "w") as f:
        f.write("external_id,account_id,ordered_at,amount,margin,currency,offer_code\n")
        for i in range(a.orders):
            acc = int(a.accounts * rnd.random() ** 2)  # some accounts buy far more often
            day = start + timedelta(days=rnd.randrange(730))
            cents = rnd.randrange(1000, 5_000_000)
            margin = cents * rnd.randrange(5, 40) // 100
            code = "WINBACK10" if rnd.random() < 0.02 else ""
            f.write(
                f"BO-{i:08d},B-{acc:06d},{day.isoformat()}T{rnd.randrange(8, 18):02d}:00:00Z,"
                f"{cents // 100}.{cents % 100:02d},{margin // 100}.{margin % 100:02d},USD,{code}\n"
            )


if __name__ == "__main__":
    main()
