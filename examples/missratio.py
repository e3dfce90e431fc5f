"""Miss ratio of the C core's eviction policy on the traces of
Benchmarks/Eviction, beside the simulator's figures for the same design.

    make lib && python3 examples/missratio.py [--quick] [build/libttlkv.so]

Each trace (Benchmarks/Eviction/traces.py, the same seeds as table.py) is
replayed cache-aside through ctypes: every request is a ttlkv_get, and a
miss is followed by a ttlkv_put of the key (8-byte keys, 32-byte values:
equal sizes). The store's budget (options.max_bytes) is 1, 10 and 30 % of the
trace's footprint in bytes: the distinct keys times what the store holds per
entry, measured beforehand on a store with room for them all (the entry's
block as malloc rounds it, its share of the table and of the ghost). The
stores open with a capacity of 64, so that their tables grow with what they
hold instead of taking a small budget's room from the start. The
shard count is the store's own choice under a budget (at most one per
256 KiB). Printed beside: the simulator's S3FIFO (libCacheSim), ours-1 and
ours-64 (Benchmarks/Eviction/results.json), at the same object count, and
the entries the store held at the end against that count. With --sim, the
simulator (Benchmarks/Eviction/sim.py) also replays the same trace at the
object count the store held and with its shard count: the policy as built
against the policy as designed, with the bytes each entry costs set apart.
"""
import ctypes
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EVICTION = os.path.join(HERE, "..", "Benchmarks", "Eviction")
sys.path.insert(0, EVICTION)

import numpy as np  # noqa: E402
import sim  # noqa: E402
import traces  # noqa: E402

OK, NOT_FOUND, BUFFER_TOO_SMALL = 0, 1, 2
VALUE = b"v" * 32
FRACTIONS = (0.01, 0.10, 0.30)


class Options(ctypes.Structure):
    """struct ttlkv_options, up to max_bytes."""
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("shards", ctypes.c_uint32),
        ("capacity", ctypes.c_uint64),
        ("max_key_size", ctypes.c_uint32),
        ("max_value_size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("max_entries", ctypes.c_uint64),
        ("seed", ctypes.c_uint64),
        ("clock", ctypes.c_void_p),
        ("clock_context", ctypes.c_void_p),
        ("max_bytes", ctypes.c_uint64),
    ]


class Stats(ctypes.Structure):
    """struct ttlkv_stats, up to evicted_records."""
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "entries", "bytes", "expired", "deferred_frees", "table_slots", "table_grows",
        "shards", "schedule_records", "table_rebuilds", "tombstones", "deferred_bytes",
        "evicted", "used_bytes", "max_bytes", "evicted_records")]


def load(path):
    lib = ctypes.CDLL(path)
    p, size = ctypes.c_void_p, ctypes.c_size_t
    lib.ttlkv_options_init_sized.argtypes = [ctypes.POINTER(Options), size]
    lib.ttlkv_open.argtypes = [ctypes.POINTER(Options), ctypes.POINTER(p)]
    lib.ttlkv_close.argtypes = [p]
    lib.ttlkv_put.argtypes = [p, ctypes.c_char_p, size, ctypes.c_char_p, size, ctypes.c_uint64]
    lib.ttlkv_get.argtypes = [p, ctypes.c_char_p, size, p, size, ctypes.POINTER(size)]
    lib.ttlkv_stats_get_sized.argtypes = [p, ctypes.POINTER(Stats), size]
    return lib


def open_store(lib, max_bytes, capacity=64):
    o = Options()
    lib.ttlkv_options_init_sized(ctypes.byref(o), ctypes.sizeof(o))
    o.max_bytes = max_bytes
    o.capacity = capacity
    o.seed = 1
    store = ctypes.c_void_p()
    status = lib.ttlkv_open(ctypes.byref(o), ctypes.byref(store))
    if status != OK:
        raise RuntimeError(f"ttlkv_open: status {status}")
    return store


def stats(lib, store):
    s = Stats()
    lib.ttlkv_stats_get_sized(store, ctypes.byref(s), ctypes.sizeof(s))
    return s


def bytes_per_entry(lib, n):
    """What a store with a budget holds per entry, with room for n."""
    store = open_store(lib, 1 << 40, n)
    for k in range(n):
        lib.ttlkv_put(store, k.to_bytes(8, "little"), 8, VALUE, len(VALUE), 0)
    s = stats(lib, store)
    lib.ttlkv_close(store)
    return s.used_bytes / n


def replay(lib, keys, max_bytes):
    """Cache-aside: misses / gets, and the store's statistics after."""
    store = open_store(lib, max_bytes)
    get, put = lib.ttlkv_get, lib.ttlkv_put
    length = ctypes.c_size_t()
    ref = ctypes.byref(length)
    misses = 0
    raw = keys.astype("<u8").tobytes()
    for i in range(len(keys)):
        k = raw[8 * i:8 * i + 8]
        # A zero-length buffer asks for the size only: a hit answers
        # BUFFER_TOO_SMALL.
        if get(store, k, 8, None, 0, ref) == NOT_FOUND:
            misses += 1
            if put(store, k, 8, VALUE, 32, 0) != OK:
                raise RuntimeError("put failed")
    s = stats(lib, store)
    lib.ttlkv_close(store)
    return misses / len(keys), s


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quick = "--quick" in sys.argv
    with_sim = "--sim" in sys.argv
    lib = load(args[0] if args else os.path.join(HERE, "..", "build", "libttlkv.so"))
    requests = 300_000 if quick else 2_000_000
    with open(os.path.join(EVICTION, "results.json")) as f:
        designed = {row["trace"]: row for row in json.load(f)["rows"]}
    specs = [
        ("Zipf 0.8", lambda: traces.zipf(0.8, 1_000_000, requests, 11)),
        ("Zipf 1.0", lambda: traces.zipf(1.0, 1_000_000, requests, 12)),
        ("Zipf 1.2", lambda: traces.zipf(1.2, 1_000_000, requests, 13)),
        ("scan mix", lambda: traces.scan_mix(80_000, requests, 0.5, 14)),
        ("web (aging + one-hit)", lambda: traces.web(1_000_000, requests, 20, 0.25, 15)),
    ]
    print(f"{requests:,} requests a trace, cache-aside, 8-byte keys and 32-byte values;"
          " simulator figures from Benchmarks/Eviction/results.json"
          + (" (2M requests: compare the full run only)" if quick else ""))
    print("| trace | size | objects | S3FIFO | ours-1 | ours-64 | C core | C - ours-64 "
          "| held / objects | shards | max_bytes |" + (" sim at held | C - sim |" if with_sim else ""))
    print("|---|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if with_sim else ""))
    for name, make in specs:
        keys = make()
        footprint = int(len(np.unique(keys)))
        per_entry = bytes_per_entry(lib, footprint)
        hashes = traces.hashes_for(int(keys.max()) + 1, 0) if with_sim else None
        for frac in FRACTIONS:
            objects = int(footprint * frac)
            max_bytes = int(per_entry * objects)
            miss, s = replay(lib, keys, max_bytes)
            cell = next(c for c in designed[name]["cells"] if c["fraction"] == frac)
            extra = ""
            if with_sim:
                p = sim.Policy(s.entries, shards=s.shards, k=16, hashes=hashes)
                m, g = sim.run(p, keys.tolist())
                extra = f" {m / g:.4f} | {100 * (miss - m / g):+.2f} pt |"
            print(f"| {name} | {frac:.0%} | {objects:,} | {cell['S3FIFO']:.4f} | "
                  f"{cell['ours-1']:.4f} | {cell['ours-64']:.4f} | {miss:.4f} | "
                  f"{100 * (miss - cell['ours-64']):+.2f} pt | {s.entries / objects:.2f} | "
                  f"{s.shards} | {max_bytes:,} |" + extra, flush=True)


if __name__ == "__main__":
    main()
