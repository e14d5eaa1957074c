#!/usr/bin/env python3
"""Prints a markdown table of criterion medians (with the 95% confidence
interval of the median) from target/criterion/**/new/estimates.json.

Usage: benches/scripts/criterion-table.py [TARGET_DIR]   (default: target)
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target") / "criterion"


def fmt(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.3f} µs"
    return f"{ns:.1f} ns"


rows = []
for est in sorted(root.glob("**/new/estimates.json")):
    bench = json.loads((est.parent / "benchmark.json").read_text())
    m = json.loads(est.read_text())["median"]
    ci = m["confidence_interval"]
    rows.append((bench["full_id"], m["point_estimate"], ci["lower_bound"], ci["upper_bound"]))

order = ["decision/", "explain/", "compile/", "geoip/lookup", "geoip/client_ip",
         "locations/", "platform/detect", "platform/client_app"]


def key(row):
    name = row[0]
    group = next((i for i, p in enumerate(order) if name.startswith(p)), len(order))
    parts = name.split("/")
    nums = [int(p) if p.isdigit() else 0 for p in parts]
    kinds = {"guest": 0, "member": 1, "anonymous": 2}
    return (group, nums, [kinds.get(p, 9) for p in parts], name)


print("| benchmark | median | 95% CI of the median |")
print("|---|---:|---|")
for name, med, lo, hi in sorted(rows, key=key):
    print(f"| `{name}` | {fmt(med)} | {fmt(lo)} – {fmt(hi)} |")
