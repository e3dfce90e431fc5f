"""
libCacheSim's hit ratios on a trace that `ttlkv-bench compare` wrote, for
the eviction scenario's hit-ratio-by-cache-size chart.

    python3 curve.py TRACE SIZE...

TRACE is an oracleGeneral file (24-byte records, every object of size 1),
the very requests the driver replayed cache-aside on its stores; each SIZE
is a cache size in objects. Prints one JSON object: per policy (LRU,
S3FIFO), a list of [size, hit ratio] pairs. libCacheSim admits every
missed object at once, which on a trace of GETs is exactly cache-aside with
the SET right after its miss.
"""

import json
import sys

import libcachesim as lcs

POLICIES = ("LRU", "S3FIFO")


def hit_ratio(path, policy, size):
    reader = lcs.TraceReader(path, lcs.TraceType.ORACLE_GENERAL_TRACE)
    return 1.0 - getattr(lcs, policy)(size).process_trace(reader)[0]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, sizes = sys.argv[1], sorted({int(s) for s in sys.argv[2:]})
    if any(s < 1 for s in sizes):
        sys.exit("curve.py: sizes must be positive object counts")
    json.dump({p: [[s, hit_ratio(path, p, s)] for s in sizes] for p in POLICIES}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
