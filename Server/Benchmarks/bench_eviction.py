"""Cache-aside under one memory budget: ttlkv-server beside redis-server 7
(allkeys-lru and allkeys-lfu) at the same maxmemory.

A replay of Zipf-distributed reads over a key universe several times what
the budget holds: each request is a GET, and a miss is followed by a SET of
the key (the client filled its cache from the database), as applications
use a cache. Requests go in pipelined batches: the batch's GETs, then the
SETs of its misses (a key repeated within a batch misses each time it
appears before its SET; the same for every server). Reported per server:
the keys held at the end (DBSIZE), the hit ratio over the second half of
the replay (the first half warms the cache), keys evicted, the store's
count (INFO used_memory) and the process's resident size.

Redis's maxmemory bounds its allocator's count, which includes its own
structures (about 1 MiB at start); ttlkv-server's bounds the store's own
count, which leaves out the server's buffers. Both are what each server
calls maxmemory, as a user configures it."""
import os
import sys

import numpy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Integration"))
import resp  # noqa: E402
import servers  # noqa: E402

BATCH = 200


def zipf_ranks(universe, alpha, count, seed):
    """count ranks in [0, universe) with P(rank k) ~ 1 / (k + 1)^alpha,
    mapped through a fixed permutation so that hot keys are not neighbours."""
    rng = numpy.random.default_rng(seed)
    weights = 1.0 / numpy.arange(1, universe + 1) ** alpha
    cdf = numpy.cumsum(weights)
    cdf /= cdf[-1]
    ranks = numpy.searchsorted(cdf, rng.random(count))
    return rng.permutation(universe)[ranks]


def info(client):
    text = client("INFO").decode()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def replay(port, keys, value):
    """Hits in the second half of the replay, and its request count."""
    client = resp.Client(port, timeout=60)
    half = len(keys) // 2
    hits = counted = 0
    for start in range(0, len(keys), BATCH):
        batch = [f"key:{k}" for k in keys[start:start + BATCH]]
        got = client.pipeline([["GET", key] for key in batch])
        misses = [key for key, reply in zip(batch, got) if reply is None]
        if misses:
            replies = client.pipeline([["SET", key, value] for key in misses])
            refused = [reply for reply in replies if reply != "OK"]
            if refused:
                raise RuntimeError(f"SET refused: {refused[0]!r}")
        if start >= half:
            counted += len(batch)
            hits += len(batch) - len(misses)
    result = info(client)
    result["dbsize"] = client("DBSIZE")
    client.close()
    return hits, counted, result


def run(server_binary, budget, universe, requests, alpha=1.0, value_size=100, seed=11):
    keys = zipf_ranks(universe, alpha, requests, seed)
    value = b"x" * value_size
    servers.TTLKV_SERVER = server_binary
    configurations = [
        ("ttlkv-server (S3-FIFO)", lambda: servers.ttlkv_server("--save", "", "--maxmemory", budget,
                                                                "--maxmemory-policy", "allkeys-lru")),
        ("redis-server allkeys-lru", lambda: servers.redis_server("--maxmemory", budget,
                                                                  "--maxmemory-policy", "allkeys-lru")),
        ("redis-server allkeys-lfu", lambda: servers.redis_server("--maxmemory", budget,
                                                                  "--maxmemory-policy", "allkeys-lfu")),
    ]
    rows = []
    for name, launch in configurations:
        server = launch()
        try:
            hits, counted, result = replay(server.port, keys, value)
            rows.append({"server": name, "keys": result["dbsize"], "hit_ratio": hits / counted,
                         "evicted": int(result["evicted_keys"]), "used_memory": int(result["used_memory"]),
                         "rss": server.rss()})
        finally:
            server.stop()
    return rows


def table(rows, budget, universe, requests, alpha, value_size):
    redis_best = max((row for row in rows if row["server"].startswith("redis")), key=lambda row: row["hit_ratio"])
    redis_keys = max(row["keys"] for row in rows if row["server"].startswith("redis"))
    lines = [
        f"Cache-aside replay: {requests:,} Zipf({alpha}) reads over {universe:,} keys, {value_size}-byte values, "
        f"SET on a miss; maxmemory {budget:,} bytes; hit ratio over the second half.",
        "",
        "| server | keys held | hit ratio | evicted | used_memory | RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['server']} | {row['keys']:,} | {row['hit_ratio']:.2%} | {row['evicted']:,} | "
                     f"{row['used_memory'] / 2**20:.1f} MiB | {row['rss'] / 2**20:.1f} MiB |")
    ttlkv = rows[0]
    lines += ["", f"ttlkv-server holds {ttlkv['keys'] / redis_keys:.2f}x the keys of the better Redis policy and "
              f"its hit ratio is {100 * (ttlkv['hit_ratio'] - redis_best['hit_ratio']):+.2f} points against "
              f"{redis_best['server']}."]
    return "\n".join(lines) + "\n"
