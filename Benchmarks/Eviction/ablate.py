"""
The choices inside the design, one at a time (fixed seeds), on Zipf 1.0
(1M keys, 1M GETs) at 1% and 10% of the footprint, one shard unless said:

- K, the examinations a write may make before it forces an eviction;
- the small queue's move threshold (libCacheSim's default 2, the paper's 1);
- the ghost: libCacheSim's exact FIFO of ids, the design's buckets of 16-bit
  fingerprints, its size, none at all (the naive cache-aside port);
- cache-aside with a fetch delay: the SET arrives 1000 requests after the
  miss, and GETs in between miss too (their SETs become overwrites);
- deletes (5% of requests are DELs of the requested key, as invalidations
  do): whether a deleted key's fingerprint goes to the ghost;
- the link-free variant: main as a CLOCK whose order is the hash order (a
  hand over the hash table's slots) instead of a linked FIFO.

    python3 ablate.py           # writes ablation.md
"""

import os
import tempfile
import time

import libcachesim as lcs
import numpy as np

import sim
import traces

FRACTIONS = (0.01, 0.10)

VARIANTS = [
    ("design (K=16, threshold 2, ghost of 1x entries in buckets)", {}, {}),
    ("K=2", {"k": 2}, {}),
    ("K=4", {"k": 4}, {}),
    ("K=8", {"k": 8}, {}),
    ("K=32", {"k": 32}, {}),
    ("K unbounded", {"k": 10**9}, {}),
    ("move threshold 1", {"move_threshold": 1}, {}),
    ("exact ghost of 0.9x share (libCacheSim's)", {"ghost": "exact", "ghost_ratio": 0.9}, {}),
    ("exact ghost, K unbounded (= libCacheSim S3FIFO)",
     {"ghost": "exact", "ghost_ratio": 0.9, "k": 10**9}, {}),
    ("ghost 0.5x entries", {"ghost_ratio": 0.5}, {}),
    ("ghost 2x entries", {"ghost_ratio": 2.0}, {}),
    ("no ghost at SET (naive port)", {"ghost": "none"}, {}),
    ("64 shards", {"shards": 64}, {}),
    ("main as a CLOCK in hash order (link-free variant)", {"main_order": "hash"}, {}),
    ("main as a CLOCK in hash order, 64 shards", {"main_order": "hash", "shards": 64}, {}),
    ("SET 1000 requests after the miss", {}, {"set_delay": 1000}),
    ("SET 1000 requests after the miss, 64 shards", {"shards": 64}, {"set_delay": 1000}),
]


def main():
    t0 = time.time()
    keys = traces.zipf(1.0, 1_000_000, 1_000_000, 21)
    footprint = len(np.unique(keys))
    kl = keys.tolist()
    hashes = traces.hashes_for(int(keys.max()) + 1, 0)
    rng = np.random.default_rng(22)
    ops = (rng.random(len(kl)) < 0.05).astype(np.int64) * 2   # 2 = DEL
    ol = ops.tolist()
    lines = [f"Zipf 1.0, {len(kl):,} requests, {footprint:,} keys. Miss ratio "
             "(misses / GETs); forced = forced evictions / evictions.", "",
             "| variant | " + " | ".join(f"{f:.0%} miss | {f:.0%} forced" for f in FRACTIONS) + " |",
             "|---|" + "---|---|" * len(FRACTIONS)]

    def row(label, kw, run_kw, ops=None):
        cells = []
        for frac in FRACTIONS:
            kw2 = dict(kw)
            shards = kw2.pop("shards", 1)
            p = sim.Policy(int(footprint * frac), shards=shards, hashes=hashes, **kw2)
            misses, gets = sim.run(p, kl, ops=ops, **run_kw)
            p.check()
            cells.append(f"{misses / gets:.4f} | {p.forced / max(1, p.evicted):.2%}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
        print(lines[-1], f"[{time.time() - t0:.0f}s]", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.bin")
        traces.write_oracle(path, keys)
        cells = []
        for frac in FRACTIONS:
            reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
            mr = lcs.S3FIFO(int(footprint * frac)).process_trace(reader)[0]
            cells.append(f"{mr:.4f} | -")
        lines.append("| libCacheSim S3FIFO (reference) | " + " | ".join(cells) + " |")
    for label, kw, run_kw in VARIANTS:
        row(label, kw, run_kw)
    row("5% DELs, deleted keys to the ghost (design)", {}, {}, ol)
    row("5% DELs, deleted keys not to the ghost", {"ghost_on_remove": False}, {}, ol)
    lines += ["", "The link-free variant on two more traces (1M requests each; "
              "S3FIFO is libCacheSim's):", "",
              "| trace | size | S3FIFO | design | link-free variant |", "|---|---|---|---|---|"]
    for name, keys in (("Zipf 0.8", traces.zipf(0.8, 1_000_000, 1_000_000, 23)),
                       ("scan mix", traces.scan_mix(40_000, 1_000_000, 0.5, 24))):
        footprint = len(np.unique(keys))
        kl = keys.tolist()
        hashes = traces.hashes_for(int(keys.max()) + 1, 0)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "trace.bin")
            traces.write_oracle(path, keys)
            for frac in (0.01, 0.10, 0.30):
                size = int(footprint * frac)
                reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
                cells = [lcs.S3FIFO(size).process_trace(reader)[0]]
                for order in ("fifo", "hash"):
                    p = sim.Policy(size, hashes=hashes, main_order=order)
                    misses, gets = sim.run(p, kl)
                    p.check()
                    cells.append(misses / gets)
                lines.append(f"| {name} | {frac:.0%} | " + " | ".join(f"{c:.4f}" for c in cells) + " |")
                print(lines[-1], f"[{time.time() - t0:.0f}s]", flush=True)
    lines.append(f"\nGenerated by ablate.py in {time.time() - t0:.0f} s.\n")
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "ablation.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
