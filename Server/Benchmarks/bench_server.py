#!/usr/bin/env python3
"""make bench-server: redis-benchmark against ttlkv-server and redis-server 7,
same machine, same run.

Throughput and latency: SET, GET and MGET (10 keys) with 50 clients, at
pipeline 1 and 32, random keys over 1M (both servers first loaded with those
1M keys, 32-byte values, so every GET hits). The runs are interleaved: each
round runs every test on both servers, alternating which goes first, so
that the machine's mood (other tenants, a 2-core machine) falls on both
alike; medians and ranges over the rounds are reported. ttlkv-server runs
twice: as configured by default (one event loop per core) and with one
event loop.

Memory: resident bytes per key after loading 1M keys with TTLs into a fresh
server. For ttlkv-server the baseline is a fresh server whose table was not
preallocated (--capacity 1024), so the preallocated table is counted as
the cost of the keys it holds; for redis-server, its own fresh process.

Keyspace notifications (bench_pubsub.py): expiry lag of 1,000 probes among
1M keys, the cost of publishing every event, an expiry storm of 1M keys.

KEYS and transactions (bench_commands.py): KEYS over 10M keys, its time and
GET latency on other connections meanwhile; the rate-limiter transaction
from 50 clients.

Eviction (bench_eviction.py): a cache-aside replay (Zipf reads, SET on a
miss) at one maxmemory, ttlkv-server beside redis-server's allkeys-lru and
allkeys-lfu: keys held, hit ratio, RSS.

Snapshots (bench_snapshot.py): BGSAVE time, memory during it and GET
latency during it, and restart time, beside redis-server on the same data.

Writes tables (markdown), the raw numbers (JSON) and an SVG chart into
--output: server.md, server.json, server.svg; pubsub.md, pubsub.json;
snapshots.md, snapshots.json; keys.md, transactions.md, eviction.md (and .json). Every server runs with --save "": only the
saves a measurement asks for."""
import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Integration"))
import bench_commands  # noqa: E402
import bench_snapshot  # noqa: E402
import servers  # noqa: E402
import bench_pubsub  # noqa: E402
import bench_eviction  # noqa: E402

KEYS = 1_000_000
TESTS = [("SET", 1), ("SET", 32), ("GET", 1), ("GET", 32), ("MGET", 1), ("MGET", 32)]
REQUESTS = {("SET", 1): 200_000, ("SET", 32): 2_000_000, ("GET", 1): 200_000, ("GET", 32): 2_000_000,
            ("MGET", 1): 150_000, ("MGET", 32): 400_000}
# ttlkv-server as configured by default (one event loop per core), with one
# event loop (it then shares the 2 cores with redis-benchmark as Redis's one
# thread does), and redis-server.
SERVERS = [("ttlkv-server", ["--capacity", KEYS]),
           ("ttlkv-server, 1 loop", ["--capacity", KEYS, "--event-loops", 1]),
           ("redis-server", [])]
# As the harness starts redis-server: no save rules, so no save on stop.
NO_SAVE = ["--save", ""]
NAMES = [name for name, _ in SERVERS]
REDIS = "redis-server"


def benchmark(port, test, pipeline, requests):
    """One redis-benchmark run: (requests/s, p50 ms, p99 ms)."""
    command = ["-t", test.lower()] if test != "MGET" else ["MGET", *["key:__rand_int__"] * 10]
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests), "-P", str(pipeline),
                          "-r", str(KEYS), "-d", "32", "--csv", *command],
                         capture_output=True, text=True, timeout=900, check=True).stdout
    rows = [row for row in csv.reader(io.StringIO(out)) if row and row[0] != "test"]
    row = rows[-1]
    return float(row[1]), float(row[4]), float(row[6])


def load(port, ttl):
    """KEYS keys named as redis-benchmark names them, 32-byte values, through
    redis-cli --pipe; with an EX ttl if given."""
    value = b"v" * 32
    extra = b"" if ttl is None else b"$2\r\nEX\r\n$%d\r\n%d\r\n" % (len(str(ttl)), ttl)
    count = b"*5\r\n" if ttl is not None else b"*3\r\n"
    stream = b"".join(count + b"$3\r\nSET\r\n$16\r\nkey:%012d\r\n$32\r\n%s\r\n%s" % (i, value, extra)
                      for i in range(KEYS))
    out = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=stream, capture_output=True, timeout=900).stdout
    assert b"errors: 0, replies: %d" % KEYS in out, out


def dbsize(port):
    return int(subprocess.run(["redis-cli", "-p", str(port), "DBSIZE"], capture_output=True, text=True).stdout)


def start(name, server_binary, *args):
    if name == REDIS:
        return servers.redis_server(*args)
    servers.TTLKV_SERVER = server_binary
    return servers.ttlkv_server(*NO_SAVE, *args)


def settle():
    time.sleep(2)


def memory(server_binary):
    """Resident bytes per key after loading KEYS keys with a one-hour TTL."""
    result = {}
    bare = start("ttlkv-server", server_binary, "--capacity", 1024)
    settle()
    baseline = bare.rss()
    bare.stop()
    s = start("ttlkv-server", server_binary, "--capacity", KEYS)
    load(s.port, 3600)
    assert dbsize(s.port) == KEYS
    settle()
    result["ttlkv-server"] = (s.rss() - baseline) / KEYS
    s.stop()
    r = start("redis-server", server_binary)
    settle()
    baseline = r.rss()
    load(r.port, 3600)
    assert dbsize(r.port) == KEYS
    settle()
    result["redis-server"] = (r.rss() - baseline) / KEYS
    r.stop()
    return result


def throughput(server_binary, rounds, scale):
    running = {name: start(name, server_binary, *args) for name, args in SERVERS}
    try:
        for s in running.values():
            load(s.port, None)
        results = {(t, p, n): [] for t, p in TESTS for n in NAMES}
        for round_ in range(rounds):
            for test, pipeline in TESTS:
                shift = round_ % len(NAMES)
                order = NAMES[shift:] + NAMES[:shift]
                for name in order:
                    n = max(1000, int(REQUESTS[(test, pipeline)] * scale))
                    results[(test, pipeline, name)].append(benchmark(running[name].port, test, pipeline, n))
                    print(f"round {round_ + 1}/{rounds} {test} P{pipeline} {name}: "
                          f"{results[(test, pipeline, name)][-1][0]:,.0f} req/s", file=sys.stderr, flush=True)
        return results
    finally:
        for name, s in running.items():
            code = s.stop()
            if name != REDIS:
                assert code == 0, f"{name} did not shut down cleanly"


def spread(values):
    return statistics.median(values), min(values), max(values)


def table(results, bytes_per_key, rounds):
    ours = [n for n in NAMES if n != REDIS]
    lines = [
        "| test | " + " | ".join(f"{n} req/s" for n in NAMES) + " | " + " | ".join(f"ratio ({n})" for n in ours)
        + " | " + " | ".join(f"{n} p99 ms" for n in NAMES) + " |",
        "|---" * (2 * len(NAMES) + len(ours) + 1) + "|",
    ]
    for test, pipeline in TESTS:
        rps = {n: spread([r[0] for r in results[(test, pipeline, n)]]) for n in NAMES}
        p99 = {n: spread([r[2] for r in results[(test, pipeline, n)]]) for n in NAMES}
        label = f"{test}{' (10 keys)' if test == 'MGET' else ''}, pipeline {pipeline}"
        cells = [f"{rps[n][0]:,.0f} ({rps[n][1]:,.0f}-{rps[n][2]:,.0f})" for n in NAMES]
        cells += [f"{rps[n][0] / rps[REDIS][0]:.2f}" for n in ours]
        cells += [f"{p99[n][0]:.2f} ({p99[n][1]:.2f}-{p99[n][2]:.2f})" for n in NAMES]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    mine, theirs = bytes_per_key["ttlkv-server"], bytes_per_key[REDIS]
    lines.append("")
    lines.append(f"Resident bytes per key after 1M keys with a TTL (16-byte keys, 32-byte values): ttlkv-server "
                 f"{mine:.0f}, redis-server {theirs:.0f} (ratio {mine / theirs:.2f}).")
    lines.append("")
    lines.append(f"Medians (min-max) over {rounds} interleaved rounds; 50 clients, random keys over 1M (all present), "
                 "32-byte values. Ratio: ttlkv / redis requests per second.")
    return "\n".join(lines)


def svg(results):
    """Grouped bars: median req/s per test, with the min-max range as a line."""
    width, height, left, bottom, top = 760, 360, 70, 60, 40
    groups = [(t, p) for t, p in TESTS]
    peak = max(max(r[0] for r in results[(t, p, n)]) for t, p in groups for n in NAMES)
    scale = (height - bottom - top) / peak
    colors = {"ttlkv-server": "#2a7ab0", "ttlkv-server, 1 loop": "#7fb3d5", "redis-server": "#c0392b"}
    slot = (width - left - 20) / len(groups)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
             f'<text x="{width / 2}" y="20" text-anchor="middle" font-size="14">redis-benchmark, 50 clients: requests per second (median, min-max)</text>']
    for i in range(5):
        value = peak * i / 4
        y = height - bottom - value * scale
        parts.append(f'<line x1="{left}" x2="{width - 20}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value / 1000:,.0f}k</text>')
    for g, (test, pipeline) in enumerate(groups):
        x0 = left + g * slot + slot * 0.1
        bar = slot * 0.8 / len(NAMES)
        for k, name in enumerate(NAMES):
            values = [r[0] for r in results[(test, pipeline, name)]]
            median, low, high = spread(values)
            x = x0 + k * bar
            y = height - bottom - median * scale
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar - 4:.1f}" height="{median * scale:.1f}" fill="{colors[name]}"/>')
            cx = x + (bar - 4) / 2
            parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{height - bottom - high * scale:.1f}" '
                         f'y2="{height - bottom - low * scale:.1f}" stroke="#333"/>')
        label = f"{test} P{pipeline}"
        parts.append(f'<text x="{left + g * slot + slot / 2:.1f}" y="{height - bottom + 18}" text-anchor="middle">{label}</text>')
    for k, name in enumerate(NAMES):
        parts.append(f'<rect x="{left + k * 200}" y="{height - 22}" width="12" height="12" fill="{colors[name]}"/>')
        parts.append(f'<text x="{left + k * 200 + 18}" y="{height - 12}">{name}</text>')
    parts.append("</svg>")
    return "\n".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="the ttlkv-server binary (a release build)")
    parser.add_argument("--output", default="build/bench-server", help="where server.md, server.json and server.svg go")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default request counts")
    parser.add_argument("--sections", default="throughput,pubsub,snapshots,keys,transactions,eviction",
                        help="any of throughput (with memory), pubsub, snapshots, keys, transactions, eviction; comma-separated")
    parser.add_argument("--keys-keys", type=int, default=10_000_000, help="keys the KEYS measurement walks")
    parser.add_argument("--pubsub-keys", type=int, default=1_000_000, help="keys of the lag and storm runs")
    parser.add_argument("--pubsub-wait", type=int, default=60, help="seconds to wait for expired events past the last deadline")
    parser.add_argument("--snapshot-keys", type=int, default=10_000_000, help="keys of the snapshot measurements")
    parser.add_argument("--snapshot-requests", type=int, default=1_000_000,
                        help="GETs per latency measurement of the snapshot section")
    parser.add_argument("--eviction-budget", default="64mb", help="maxmemory of the eviction replay")
    parser.add_argument("--eviction-keys", type=int, default=2_000_000, help="key universe of the eviction replay")
    parser.add_argument("--eviction-requests", type=int, default=4_000_000, help="reads of the eviction replay")
    args = parser.parse_args()
    server_binary = os.path.abspath(args.server)
    os.makedirs(args.output, exist_ok=True)
    sections = args.sections.split(",")
    if "pubsub" in sections:
        print(bench_pubsub.run(server_binary, args.output, keys=args.pubsub_keys, wait=args.pubsub_wait,
                               rounds=args.rounds, scale=args.scale))
    if "snapshots" in sections:
        snapshots_report(server_binary, args)
    if "throughput" in sections:
        throughput_report(server_binary, args)
    if "keys" in sections:
        keys_report(server_binary, args)
    if "transactions" in sections:
        transactions_report(server_binary, args)
    if "eviction" in sections:
        eviction_report(server_binary, args)


def write_report(args, name, text, raw):
    """Prints text and writes it as name.md, raw as name.json, with the load average."""
    print(text)
    with open(os.path.join(args.output, name + ".md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.output, name + ".json"), "w") as f:
        json.dump(raw, f, indent=1)


def keys_report(server_binary, args):
    load_before = os.getloadavg()
    results = {kind: bench_commands.keys_scan(kind, server_binary, args.keys_keys)
               for kind in ("ttlkv-server", "redis-server")}
    load_after = os.getloadavg()
    text = bench_commands.keys_table(results)
    text += f"\nLoad average before and after: {load_before[0]:.1f}, {load_after[0]:.1f} (2 cores).\n"
    write_report(args, "keys", text, {"results": results, "load_average": [load_before[0], load_after[0]]})


def transactions_report(server_binary, args):
    load_before = os.getloadavg()
    runs = bench_commands.transactions(server_binary, args.output, args.rounds)
    load_after = os.getloadavg()
    text = bench_commands.transactions_table(runs, args.rounds)
    text += f"\nLoad average before and after: {load_before[0]:.1f}, {load_after[0]:.1f} (2 cores).\n"
    write_report(args, "transactions", text, {"runs": runs, "load_average": [load_before[0], load_after[0]]})


def snapshots_report(server_binary, args):
    load_before = os.getloadavg()
    results, text = bench_snapshot.run(server_binary, args.snapshot_keys, args.snapshot_requests)
    load_after = os.getloadavg()
    text += f"\nLoad average before and after: {load_before[0]:.1f}, {load_after[0]:.1f} (2 cores).\n"
    write_report(args, "snapshots", text, {"keys": args.snapshot_keys, "requests": args.snapshot_requests,
                                           "results": results, "load_average": [load_before[0], load_after[0]]})


def eviction_report(server_binary, args):
    budget = servers_bytes(args.eviction_budget)
    load_before = os.getloadavg()
    rows = bench_eviction.run(server_binary, budget, args.eviction_keys, args.eviction_requests)
    load_after = os.getloadavg()
    text = bench_eviction.table(rows, budget, args.eviction_keys, args.eviction_requests, 1.0, 100)
    text += f"\nLoad average before and after: {load_before[0]:.1f}, {load_after[0]:.1f} (2 cores).\n"
    write_report(args, "eviction", text, {"budget": budget, "keys": args.eviction_keys, "requests": args.eviction_requests,
                                          "rows": rows, "load_average": [load_before[0], load_after[0]]})


def servers_bytes(text):
    """Redis's memtoll for the units the options use."""
    units = {"kb": 1024, "mb": 1 << 20, "gb": 1 << 30, "k": 1000, "m": 1_000_000, "g": 1_000_000_000}
    lowered = text.lower()
    for unit, factor in units.items():
        if lowered.endswith(unit):
            return int(lowered[: -len(unit)]) * factor
    return int(lowered)


def throughput_report(server_binary, args):
    load_before = os.getloadavg()
    results = throughput(server_binary, args.rounds, args.scale)
    bytes_per_key = memory(server_binary)
    load_after = os.getloadavg()
    text = table(results, bytes_per_key, args.rounds)
    text += f"\nLoad average before and after: {load_before[0]:.1f}, {load_after[0]:.1f} (2 cores).\n"
    print(text)
    with open(os.path.join(args.output, "server.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.output, "server.svg"), "w") as f:
        f.write(svg(results))
    with open(os.path.join(args.output, "server.json"), "w") as f:
        json.dump({"throughput": [{"test": t, "pipeline": p, "server": n, "runs": results[(t, p, n)]}
                                  for t, p in TESTS for n in NAMES],
                   "bytes_per_key": bytes_per_key, "rounds": args.rounds, "scale": args.scale,
                   "load_average": [load_before[0], load_after[0]]}, f, indent=1)


if __name__ == "__main__":
    main()
