"""
Regenerates the miss-ratio table of README.md (fixed seeds).

    python3 table.py            # the full table, writes results.md
    python3 table.py --quick    # a smaller trace per row, for a smoke run

Rows: traces; columns: cache sizes as a share of the trace's footprint
(its distinct keys); cells: miss ratios (misses / GETs, cold misses
included) of libCacheSim's LRU, S3FIFO, Sieve, WTinyLFU and ARC at the same
object count, and of the design (sim.py) with 1 and 64 shards. "no-ghost"
is the design with its ghost never consulted at SET: what a naive port that
checks the ghost in GET (and so cannot carry the answer to the separate
SET) achieves. A last block repeats Zipf 1.0 with variable entry sizes and a
byte budget (request miss ratio; libCacheSim with the same sizes), with 1
shard, 64 shards, and the shard count the design prescribes under a byte
budget (each shard's share at least MIN_SHARE).

The full table takes about 6 minutes of CPU (10 on a busy machine).
"""

import json
import os
import sys
import tempfile
import time

import numpy as np
import libcachesim as lcs

import sim
import traces

FRACTIONS = (0.01, 0.10, 0.30)
LCS_POLICIES = ("LRU", "S3FIFO", "Sieve", "WTinyLFU", "ARC")
K = 16
MIN_SHARE = 256 * 1024


def trace_specs(requests):
    return [
        ("Zipf 0.8", lambda: traces.zipf(0.8, 1_000_000, requests, 11)),
        ("Zipf 1.0", lambda: traces.zipf(1.0, 1_000_000, requests, 12)),
        ("Zipf 1.2", lambda: traces.zipf(1.2, 1_000_000, requests, 13)),
        ("scan mix", lambda: traces.scan_mix(80_000, requests, 0.5, 14)),
        ("web (aging + one-hit)", lambda: traces.web(1_000_000, requests, 20, 0.25, 15)),
    ]


def lcs_miss(path, policy, size):
    reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
    return getattr(lcs, policy)(size).process_trace(reader)[0]


def sim_miss(keys, hashes, budget, shards, sizes=None, **kw):
    p = sim.Policy(budget, shards=shards, k=K, hashes=hashes, **kw)
    misses, gets = sim.run(p, keys, sizes=sizes)
    p.check()
    return misses / gets, p


def main():
    quick = "--quick" in sys.argv
    requests = 300_000 if quick else 2_000_000
    tmp = tempfile.mkdtemp(prefix="evict-")
    path = os.path.join(tmp, "trace.bin")
    results = {"requests": requests, "k": K, "rows": []}
    t0 = time.time()
    if not quick:
        print("the full table takes ~6 CPU-minutes; --quick for a smoke run", flush=True)
    for name, make in trace_specs(requests):
        keys = make()
        footprint = int(len(np.unique(keys)))
        traces.write_oracle(path, keys)
        kl = keys.tolist()
        hashes = traces.hashes_for(int(keys.max()) + 1, 0)
        row = {"trace": name, "footprint": footprint, "cells": []}
        for frac in FRACTIONS:
            size = int(footprint * frac)
            cell = {"fraction": frac, "objects": size}
            for pol in LCS_POLICIES:
                cell[pol] = lcs_miss(path, pol, size)
            for shards in (1, 64):
                mr, p = sim_miss(kl, hashes, size, shards)
                cell[f"ours-{shards}"] = mr
                cell[f"forced-{shards}"] = p.forced / max(1, p.evicted)
            cell["no-ghost-1"] = sim_miss(kl, hashes, size, 1, ghost="none")[0]
            row["cells"].append(cell)
            print(f"{name:24s} {frac:4.0%} " + " ".join(
                f"{c}={cell[c]:.4f}" for c in cell if c not in ("fraction", "objects")),
                f"[{time.time() - t0:.0f}s]", flush=True)
        results["rows"].append(row)

    # Variable sizes, byte budget: Zipf 1.0.
    keys = traces.zipf(1.0, 1_000_000, requests, 12)
    uniq = np.unique(keys)
    sizes = traces.sizes_for(int(keys.max()) + 1, 16)
    footprint_bytes = int(sizes[uniq].sum())
    traces.write_oracle(path, keys, sizes)
    kl = keys.tolist()
    sl = sizes.tolist()
    hashes = traces.hashes_for(len(sl), 0)
    bytes_row = {"trace": "Zipf 1.0, sizes 40 B-64 KiB, byte budget",
                 "footprint_bytes": footprint_bytes, "cells": []}
    for frac in FRACTIONS:
        budget = int(footprint_bytes * frac)
        cell = {"fraction": frac, "bytes": budget}
        for pol in ("LRU", "S3FIFO"):
            cell[pol] = lcs_miss(path, pol, budget)
        cell["rule-shards"] = max(1, min(64, budget // MIN_SHARE))
        for shards in (1, 64, cell["rule-shards"]):
            mr, p = sim_miss(kl, hashes, budget, shards, sizes=sl)
            cell[f"ours-{shards}"] = mr
            cell[f"rejected-{shards}"] = p.rejected
            cell[f"max-over-k-{shards}"] = p.max_over_k
        bytes_row["cells"].append(cell)
        print(f"bytes {frac:4.0%} " + " ".join(
            f"{c}={cell[c]:.4f}" for c in cell if c not in ("fraction", "bytes")),
            f"[{time.time() - t0:.0f}s]", flush=True)
    results["bytes"] = bytes_row
    results["seconds"] = round(time.time() - t0)
    if not quick:
        here = os.path.dirname(os.path.abspath(__file__))
        with open(os.path.join(here, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        with open(os.path.join(here, "results.md"), "w") as f:
            f.write(render(results))
    print(render(results))
    os.remove(path)
    os.rmdir(tmp)


def render(r):
    cols = list(LCS_POLICIES) + ["ours-1", "ours-64", "no-ghost-1"]
    out = [f"Miss ratio (cold misses included), {r['requests']:,} GETs per trace, "
           f"cache-aside, K = {r['k']}. Bold: ours-1/ours-64 more than 1 point "
           "above S3FIFO.\n"]
    head = "| trace | size | " + " | ".join(cols) + " | forced evictions (1 / 64) |"
    out += [head, "|" + "---|" * (len(cols) + 3)]
    for row in r["rows"]:
        for c in row["cells"]:
            vals = []
            for col in cols:
                v = f"{c[col]:.4f}"
                if col.startswith("ours") and c[col] > c["S3FIFO"] + 0.01:
                    v = f"**{v}**"
                vals.append(v)
            out.append(f"| {row['trace']} ({row['footprint']:,} keys) | "
                       f"{c['fraction']:.0%} ({c['objects']:,}) | " + " | ".join(vals)
                       + f" | {c['forced-1']:.2%} / {c['forced-64']:.2%} |")
    b = r["bytes"]
    out += ["", f"Byte budget, {b['trace']} ({b['footprint_bytes']:,} bytes footprint):", "",
            "| size | LRU | S3FIFO | ours-1 | ours-64 | ours, shares >= 256 KiB | "
            "SETs refused (1 / 64) | most evictions past K in one write (1 / 64) |",
            "|---|---|---|---|---|---|---|---|"]
    for c in b["cells"]:
        n = c["rule-shards"]
        out.append(f"| {c['fraction']:.0%} ({c['bytes']:,} B) | {c['LRU']:.4f} | {c['S3FIFO']:.4f} | "
                   f"{c['ours-1']:.4f} | {c['ours-64']:.4f} | {c[f'ours-{n}']:.4f} ({n} shards) | "
                   f"{c['rejected-1']} / {c['rejected-64']} | "
                   f"{c['max-over-k-1']} / {c['max-over-k-64']} |")
    out.append(f"\nGenerated by table.py in {r['seconds']} s.\n")
    return "\n".join(out)


if __name__ == "__main__":
    main()
