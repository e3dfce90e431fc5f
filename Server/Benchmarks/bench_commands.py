"""Issue 21's measurements, side by side with redis-server 7, as part of
`make bench-server` (sections `keys` and `transactions`):

KEYS over 10M keys (half with TTLs, as bench_snapshot loads them): the time
of a KEYS whose pattern matches 100 keys (the walk) and of KEYS * (the walk
and a reply of every key), and GET latency on other connections meanwhile:
four processes each send GETs of random keys one at a time, paced at one
a millisecond (so that they leave the two cores to the server); a GET counts as
"during" a KEYS if it was outstanding at any moment of it. Without a KEYS:
the same GETs in the seconds before the first. Each server runs alone.

Transactions: the rate-limiter pattern (MULTI; INCR k; EXPIRE k 60 NX;
EXEC, pipelined as a client library sends it) from 50 clients over 10,000
keys (rate_limiter.c, compiled here), interleaved rounds, both servers up;
transactions per second and latency percentiles. After each run the
counters must add up to the transactions completed and every key must have
a TTL of at most 60 s: the pattern is exact, not only fast."""
import json
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import time

import bench_snapshot
import resp
import servers

GETTERS = 4
PACE_S = 0.001
VALUE_LINES = 2  # "$32\r\n" and the value's line


def start(kind, binary, *args):
    if kind == "redis-server":
        return servers.redis_server(*args)
    servers.TTLKV_SERVER = binary
    return servers.ttlkv_server("--save", "", *args)


def getter(port, keys, stop, out):
    """GETs of random keys, one at a time, until stop: (sent, done) times."""
    rng = random.Random(os.getpid())
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    while not stop.is_set():
        request = resp.encode("GET", b"key:%012d" % rng.randrange(keys))
        sent = time.monotonic()
        sock.sendall(request)
        data = b""
        while data.count(b"\n") < VALUE_LINES and not data.startswith(b"$-1\r\n"):
            data += sock.recv(4096)
        done = time.monotonic()
        times.append((sent, done))
        time.sleep(max(0.0, PACE_S - (done - sent)))
    sock.close()
    out.send(times)


def timed_keys(port, pattern):
    """KEYS pattern on a raw socket, reading the reply as it comes: (seconds
    from the write to the last byte, keys returned, window)."""
    sock = socket.create_connection(("127.0.0.1", port))
    began = time.monotonic()
    sock.sendall(resp.encode("KEYS", pattern))
    header = b""
    while b"\n" not in header:
        header += sock.recv(1 << 20)
    line, rest = header.split(b"\r\n", 1)
    count = int(line[1:])
    # Every key is a "$n" line and a key line; keys hold no newline.
    seen = rest.count(b"\n")
    while seen < 2 * count:
        seen += sock.recv(1 << 20).count(b"\n")
    ended = time.monotonic()
    sock.close()
    return ended - began, count, (began, ended)


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * (len(ordered) - 1)))] if ordered else None


def latencies(times, window):
    """Milliseconds of the GETs outstanding during window."""
    began, ended = window
    return [(done - sent) * 1000 for sent, done in times if sent < ended and done > began]


def keys_scan(kind, binary, keys):
    extra = ["--capacity", keys] if kind != "redis-server" else []
    server = start(kind, binary, *extra)
    try:
        bench_snapshot.fill(server.port, keys)
        stop = multiprocessing.Event()
        pipes, workers = [], []
        for _ in range(GETTERS):
            receive, send = multiprocessing.Pipe(duplex=False)
            worker = multiprocessing.Process(target=getter, args=(server.port, keys, stop, send))
            worker.start()
            pipes.append(receive)
            workers.append(worker)
        time.sleep(1)
        quiet_from = time.monotonic()
        time.sleep(3)
        quiet = (quiet_from, time.monotonic())
        walk_seconds, matched, walk = timed_keys(server.port, b"key:0000000042*")
        time.sleep(1)
        all_seconds, returned, whole = timed_keys(server.port, b"*")
        time.sleep(1)
        stop.set()
        times = [t for receive in pipes for t in receive.recv()]
        for worker in workers:
            worker.join()
        result = {"keys": keys, "walk_s": walk_seconds, "matched": matched, "all_s": all_seconds, "returned": returned}
        for name, window in (("quiet", quiet), ("walk", walk), ("all", whole)):
            ms = latencies(times, window)
            result[name] = {"gets": len(ms), "p50_ms": percentile(ms, 50), "p999_ms": percentile(ms, 99.9),
                            "max_ms": max(ms) if ms else None}
        return result
    finally:
        server.stop()


def rate_limiter_binary(output):
    source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "rate_limiter.c")
    binary = os.path.join(output, "rate_limiter")
    subprocess.run(["cc", "-O2", "-o", binary, source], check=True)
    return binary


def counters_add_up(port, completed, keys):
    """Every transaction counted once, every counter with a TTL <= 60 s."""
    client = resp.Client(port)
    names = [b"rate:%d" % i for i in range(keys)]
    values = client("MGET", *names)
    ttls = client.pipeline([("TTL", name) for name, value in zip(names, values) if value is not None])
    total = sum(int(v) for v in values if v is not None)
    assert total == completed, f"counters sum to {total}, {completed} transactions completed"
    assert all(0 < ttl <= 60 for ttl in ttls), "a counter without its TTL"
    assert client("FLUSHALL") == "OK"
    client.close()


def transactions(binary, output, rounds, seconds=5, clients=50, keys=10_000):
    load = rate_limiter_binary(output)
    kinds = ("ttlkv-server", "redis-server")
    running = {kind: start(kind, binary) for kind in kinds}
    runs = {kind: [] for kind in kinds}
    try:
        for round_ in range(rounds):
            order = kinds if round_ % 2 == 0 else kinds[::-1]
            for kind in order:
                out = subprocess.run([load, str(running[kind].port), str(clients), str(seconds), str(keys)],
                                     capture_output=True, text=True, check=True, timeout=120).stdout
                result = json.loads(out)
                assert result["errors"] == 0, out
                counters_add_up(running[kind].port, result["completed"], keys)
                runs[kind].append(result)
                print(f"transactions round {round_ + 1}/{rounds} {kind}: {result['per_second']:,.0f}/s, "
                      f"p99 {result['p99_ms']:.2f} ms", file=sys.stderr, flush=True)
    finally:
        for server in running.values():
            server.stop()
    return runs


def spread(values):
    return f"{statistics.median(values):,.2f} ({min(values):,.2f}-{max(values):,.2f})"


def rate(values):
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def keys_table(results):
    def ms(value):
        return "-" if value is None else f"{value:,.1f}"

    keys = results["ttlkv-server"]["keys"]
    lines = [f"KEYS over {keys:,} keys (half with TTLs); GETs of random keys from {GETTERS} other connections, "
             "one at a time each, one a millisecond: their latency while no KEYS runs, and while each KEYS runs.", "",
             "| server | KEYS key:0000000042* (100 keys), s | KEYS * , s | GET p50 / p99.9 / max ms, no KEYS | "
             "GETs during the 100-key KEYS: count, p50 / p99.9 / max ms | GETs during KEYS *: count, p50 / p99.9 / max ms |",
             "|---|---|---|---|---|---|"]
    for kind, r in results.items():
        cells = [f"{r['walk_s']:.2f}", f"{r['all_s']:.2f} ({r['returned']:,} keys)",
                 f"{ms(r['quiet']['p50_ms'])} / {ms(r['quiet']['p999_ms'])} / {ms(r['quiet']['max_ms'])}"]
        for name in ("walk", "all"):
            w = r[name]
            cells.append(f"{w['gets']:,}: {ms(w['p50_ms'])} / {ms(w['p999_ms'])} / {ms(w['max_ms'])}")
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def transactions_table(runs, rounds, seconds=5, clients=50, keys=10_000):
    lines = [f"Rate limiter: MULTI; INCR k; EXPIRE k 60 NX; EXEC, pipelined, {clients} clients, {keys:,} keys, "
             f"{seconds} s runs; median (min-max) of {rounds} interleaved rounds. Every run's counters added up to "
             "its transactions, each counter with its TTL.", "",
             "| server | transactions/s | p50 ms | p99 ms | p99.9 ms |", "|---|---|---|---|---|"]
    for kind, results in runs.items():
        lines.append(f"| {kind} | {rate([r['per_second'] for r in results])} | {spread([r['p50_ms'] for r in results])} | "
                     f"{spread([r['p99_ms'] for r in results])} | {spread([r['p999_ms'] for r in results])} |")
    ours = statistics.median(r["per_second"] for r in runs["ttlkv-server"])
    theirs = statistics.median(r["per_second"] for r in runs["redis-server"])
    lines.append(f"\nRatio ttlkv / redis, transactions per second: {ours / theirs:.2f}.")
    return "\n".join(lines) + "\n"
