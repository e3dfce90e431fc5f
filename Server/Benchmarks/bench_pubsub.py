"""Keyspace notifications measured side by side with redis-server 7 (issue
22), as part of `make bench-server`:

(a) Expiry lag. 1M keys with deadlines spread uniformly over 10 s, plus
    1,000 probe keys spread over the same 10 s; a subscriber to the probes'
    `__keyspace@0__:<probe>` channels (flags Kx) notes when each `expired`
    arrives. Lag = arrival - deadline (one machine, one clock): p50, p99,
    max, and how many of the 1,000 arrived within the wait.
(b) Publishing cost. redis-benchmark SET and GET (50 clients, pipeline 1
    and 32, random keys over 1M) with notify-keyspace-events KEA and a
    subscriber to `__key*__:*` reading everything, against the same run
    with notifications off (the subscriber still connected): the ratio.
(c) Expiry storm. 1M keys due at the same instant (flags Ex): a
    subscriber to `__keyevent@0__:expired` that reads gets every key once
    (counted, and checked distinct); one that never reads is cut off by the
    output buffer limit; the server's RSS is sampled throughout.

Each server runs alone (the other is stopped) so that they do not share the
two cores; the subscriber is a raw socket that parses the replies itself."""
import json
import os
import random
import statistics
import subprocess
import sys
import time

import servers
import resp
from subscriber import Reader, Sleeper

MIB = 1 << 20
# Deadlines start this long after the loading starts, so that loading (1M
# keys through redis-cli, on a shared two-core machine) is over first.
LEAD_MS = 60_000


def pipe(port, commands):
    """Sends commands through redis-cli --pipe; asserts every one succeeded."""
    stream = b"".join(resp.encode(*c) for c in commands)
    out = subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=stream, capture_output=True, timeout=900).stdout
    assert b"errors: 0, replies: %d" % len(commands) in out, out


def start(kind, binary, *args):
    if kind == "redis-server":
        return servers.redis_server(*args)
    servers.TTLKV_SERVER = binary
    return servers.ttlkv_server("--capacity", 2 << 20, *args)


def info(port, field):
    out = resp.Client(port)("INFO", "stats").decode()
    for line in out.split("\r\n"):
        if line.startswith(field + ":"):
            return int(line.split(":")[1])
    return None


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def expiry_lag(kind, binary, keys, probes, wait):
    server = start(kind, binary, "--notify-keyspace-events", "Kx")
    try:
        names = [b"probe:%04d" % i for i in range(probes)]
        reader = Reader(server.port, "SUBSCRIBE", *[b"__keyspace@0__:" + n for n in names])
        reader.start()
        rng = random.Random(1)
        t0 = int(time.time() * 1000) + LEAD_MS
        pipe(server.port, [("SET", b"key:%07d" % i, b"v" * 16, "PXAT", t0 + rng.randrange(10_000)) for i in range(keys)])
        deadlines = {}
        for i, name in enumerate(names):
            deadlines[name] = t0 + (i * 10_000) // probes + rng.randrange(10)
        pipe(server.port, [("SET", name, "p", "PXAT", deadlines[name]) for name in names])
        loaded = time.time() * 1000
        assert loaded < t0, "loading took past the first deadline: raise LEAD_MS"
        # Nothing looks any key up meanwhile: only the server's own expiry.
        end = t0 / 1000 + 10 + wait
        while time.time() < end:
            time.sleep(0.5)
            arrived = sum(1 for _, parts in reader.messages() if parts[0] == b"message")
            if arrived == probes:
                break
        reader.finish()
        lags = []
        for arrival, parts in reader.messages():
            if parts[0] == b"message" and parts[2] == b"expired":
                name = parts[1][len(b"__keyspace@0__:"):]
                lags.append(arrival * 1000 - deadlines[name])
        return {"arrived": len(lags), "probes": probes, "keys": keys, "wait_s": wait,
                "p50_ms": percentile(lags, 50) if lags else None, "p99_ms": percentile(lags, 99) if lags else None,
                "max_ms": max(lags) if lags else None}
    finally:
        server.stop()


def benchmark(port, test, pipeline, requests):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", str(requests), "-P", str(pipeline),
                          "-r", "1000000", "-d", "32", "--csv", "-t", test.lower()],
                         capture_output=True, text=True, timeout=900, check=True).stdout
    row = [line.split(",") for line in out.splitlines() if line and not line.startswith('"test"')][-1]
    return float(row[1].strip('"'))


def publishing_cost(kind, binary, rounds, scale):
    server = start(kind, binary)
    try:
        pipe(server.port, [("SET", b"key:%012d" % i, b"v" * 32) for i in range(1_000_000)])
        reader = Reader(server.port, "PSUBSCRIBE", "__key*__:*", keep=False)
        reader.start()
        client = resp.Client(server.port)
        results = {}
        tests = [("SET", 1, 200_000), ("GET", 1, 200_000), ("SET", 32, 2_000_000), ("GET", 32, 2_000_000)]
        for round_ in range(rounds):
            for test, pipeline, requests in tests:
                order = ["", "KEA"] if round_ % 2 == 0 else ["KEA", ""]
                for flags in order:
                    client("CONFIG", "SET", "notify-keyspace-events", flags)
                    rate = benchmark(server.port, test, pipeline, max(1000, int(requests * scale)))
                    results.setdefault((test, pipeline, flags), []).append(rate)
                    print(f"{kind} {test} P{pipeline} flags={flags or 'off'}: {rate:,.0f} req/s", file=sys.stderr, flush=True)
        client("CONFIG", "SET", "notify-keyspace-events", "")
        received = reader.received
        cut_off = reader.closed
        reader.finish()
        return {"runs": {f"{t} P{p} {f or 'off'}": v for (t, p, f), v in results.items()},
                "subscriber_bytes": received, "subscriber_cut_off": cut_off,
                "ratios": {f"{t} P{p}": statistics.median(results[(t, p, "KEA")]) / statistics.median(results[(t, p, "")])
                           for t, p, _ in tests}}
    finally:
        server.stop()


def expiry_storm(kind, binary, keys, wait):
    server = start(kind, binary, "--notify-keyspace-events", "Ex")
    try:
        reader = Reader(server.port, "SUBSCRIBE", "__keyevent@0__:expired")
        reader.start()
        sleeper = Sleeper(server.port, "SUBSCRIBE", "__keyevent@0__:expired")
        t0 = int(time.time() * 1000) + LEAD_MS
        pipe(server.port, [("SET", b"storm:%07d" % i, b"v" * 16, "PXAT", t0) for i in range(keys)])
        assert time.time() * 1000 < t0
        time.sleep(1)
        baseline = server.rss()
        peak = baseline
        end = t0 / 1000 + wait
        last = None
        while time.time() < end:
            time.sleep(0.1)
            peak = max(peak, server.rss())
            if info(server.port, "expired_keys") == keys and last is None:
                last = time.time()
            if last is not None and time.time() > last + 2:
                break
        # The reader still subscribes: one subscriber left means the
        # non-reader was cut off (redis-server 7.0 has no INFO count of it).
        subscribed = resp.Client(server.port)("PUBSUB", "NUMSUB", "__keyevent@0__:expired")[1]
        reader.finish()
        sleeper.close()
        messages = [(t, parts) for t, parts in reader.messages() if parts[0] == b"message"]
        names = [parts[2] for _, parts in messages]
        return {"keys": keys, "delivered": len(names), "distinct": len(set(names)),
                "last_message_s": (messages[-1][0] - t0 / 1000) if messages else None,
                "rss_baseline_mib": baseline / MIB, "rss_peak_mib": peak / MIB,
                "non_reader_cut_off": subscribed == 1,
                "rss_after_mib": server.rss() / MIB}
    finally:
        server.stop()


def run(binary, output, keys=1_000_000, probes=1000, wait=60, rounds=3, scale=1.0):
    results = {}
    for kind in ("ttlkv-server", "redis-server"):
        results[("lag", kind)] = expiry_lag(kind, binary, keys, probes, wait)
        print(kind, "lag", results[("lag", kind)], file=sys.stderr, flush=True)
        results[("storm", kind)] = expiry_storm(kind, binary, keys, wait)
        print(kind, "storm", results[("storm", kind)], file=sys.stderr, flush=True)
        results[("cost", kind)] = publishing_cost(kind, binary, rounds, scale)
        print(kind, "cost", results[("cost", kind)]["ratios"], file=sys.stderr, flush=True)
    text = tables(results, keys, probes, wait, rounds)
    os.makedirs(output, exist_ok=True)
    with open(os.path.join(output, "pubsub.md"), "w") as f:
        f.write(text)
    with open(os.path.join(output, "pubsub.json"), "w") as f:
        json.dump({f"{k[0]} {k[1]}": v for k, v in results.items()}, f, indent=1)
    return text


def tables(results, keys, probes, wait, rounds):
    kinds = ("ttlkv-server", "redis-server")

    def ms(value):
        return "-" if value is None else f"{value:,.1f}"

    lines = [f"(a) Expiry lag: {keys:,} keys with deadlines over 10 s plus {probes:,} probes; "
             f"lag from each probe's deadline to its `expired` at a subscriber, waiting up to {wait} s after the last.", "",
             "| server | arrived | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|"]
    for kind in kinds:
        r = results[("lag", kind)]
        lines.append(f"| {kind} | {r['arrived']:,} / {r['probes']:,} | {ms(r['p50_ms'])} | {ms(r['p99_ms'])} | {ms(r['max_ms'])} |")
    r = results[("lag", "ttlkv-server")]
    met = r["arrived"] == r["probes"] and r["p99_ms"] is not None and r["p99_ms"] <= 20
    lines += ["", f"Issue 22's target (all {probes:,} arrive, p99 <= 20 ms): ttlkv-server {'met' if met else 'NOT met'}."]
    lines += ["", f"(b) Publishing cost: requests per second with notify-keyspace-events KEA and a subscriber to "
              f"`__key*__:*` reading everything / the same with notifications off (median of {rounds} interleaved rounds, "
              "50 clients).", "", "| test | " + " | ".join(f"{k} on/off" for k in kinds) + " |", "|---|---|---|"]
    for test in ("SET P1", "GET P1", "SET P32", "GET P32"):
        lines.append(f"| {test} | " + " | ".join(f"{results[('cost', k)]['ratios'][test]:.2f}" for k in kinds) + " |")
    lowest = min(results[("cost", "ttlkv-server")]["ratios"].values())
    lines += ["", f"Issue 22's target (>= 0.90 in every row): ttlkv-server {'met' if lowest >= 0.9 else 'NOT met'} "
              f"(lowest {lowest:.2f})."]
    for kind in kinds:
        r = results[("cost", kind)]
        lines.append(f"\n{kind}: the subscriber read {r['subscriber_bytes'] / MIB:,.0f} MiB"
                     f"{', and was cut off' if r['subscriber_cut_off'] else ''}.")
    lines += ["", f"(c) Expiry storm: {keys:,} keys due at the same instant, a subscriber that reads and one that never does.",
              "", "| server | delivered | distinct | last message after the deadline, s | non-reader cut off | RSS before / peak / after, MiB |",
              "|---|---|---|---|---|---|"]
    for kind in kinds:
        r = results[("storm", kind)]
        last = "-" if r["last_message_s"] is None else f"{r['last_message_s']:.2f}"
        lines.append(f"| {kind} | {r['delivered']:,} | {r['distinct']:,} | {last} | {r['non_reader_cut_off']} | "
                     f"{r['rss_baseline_mib']:.0f} / {r['rss_peak_mib']:.0f} / {r['rss_after_mib']:.0f} |")
    return "\n".join(lines) + "\n"
