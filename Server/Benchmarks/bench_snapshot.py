"""Snapshots, ttlkv-server beside redis-server 7 on the same data, in one run
(make bench-server; bench_server.py --only snapshots --snapshot-keys N):

- the data: N keys of 16 bytes with 32-byte values, half with a TTL (a day
  or more, so none expires during the run), written to both servers alike;
- BGSAVE time, idle and under a write load (redis-benchmark SET, 20
  clients, pipeline 16, over the same keys), by polling INFO every 5 ms;
- memory during the save against before it: the proportional set size
  (PSS, /proc/PID/smaps_rollup) of the server and its children, so that
  Redis's forked child counts only by what it does not share (its
  copy-on-write growth under writes), sampled every 50 ms; the peak over
  the save against the value just before;
- GET p99.9 (redis-benchmark GET, 50 clients, pipeline 1, random keys)
  without a save, and with BGSAVEs running back to back throughout;
- restart: SAVE, stop, start the same binary on its own file and time it
  from exec to INFO loading:0 (keys/s), and ttlkv-server on Redis's file.

Both servers run with --save "" so that only the saves asked for run, and
one after the other, never at the same time."""
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import resp
import servers

VALUE = b"v" * 32
TTL_BASE_MS = 86_400_000


def commands(start, stop):
    """SET key value [PX ttl] for keys start..<stop, every second with a TTL."""
    out = []
    for i in range(start, stop):
        key = b"key:%012d" % i
        if i % 2 == 0:
            ttl = b"%d" % (TTL_BASE_MS + i)
            out.append(b"*5\r\n$3\r\nSET\r\n$16\r\n%s\r\n$32\r\n%s\r\n$2\r\nPX\r\n$%d\r\n%s\r\n" % (key, VALUE, len(ttl), ttl))
        else:
            out.append(b"*3\r\n$3\r\nSET\r\n$16\r\n%s\r\n$32\r\n%s\r\n" % (key, VALUE))
    return b"".join(out)


def fill(port, keys, chunk=200_000):
    """Writes the data set through redis-cli --pipe, streamed in chunks."""
    pipe = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    for start in range(0, keys, chunk):
        pipe.stdin.write(commands(start, min(keys, start + chunk)))
    pipe.stdin.close()
    out = pipe.stdout.read()
    assert pipe.wait() == 0 and b"errors: 0, replies: %d" % keys in out, out[-300:]


def info(c, section="persistence"):
    fields = {}
    for line in c("INFO", section).decode().split("\r\n"):
        if ":" in line and not line.startswith("#"):
            name, value = line.split(":", 1)
            fields[name] = value
    return fields


def pss(pid):
    """Proportional set size of pid and its descendants, in bytes."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                for child in f.read().split():
                    total += pss(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


class MemoryPeak(threading.Thread):
    """The highest PSS of a process tree while it runs."""

    def __init__(self, pid, every=0.05):
        super().__init__(daemon=True)
        self.pid, self.every, self.peak = pid, every, 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, pss(self.pid))
            time.sleep(self.every)

    def stop(self):
        self.done.set()
        self.join()
        return self.peak


def timed_bgsave(c):
    """Starts a BGSAVE and waits for it: (seconds, status)."""
    started = time.monotonic()
    assert c("BGSAVE") == "Background saving started"
    while True:
        fields = info(c)
        if fields["rdb_bgsave_in_progress"] == "0":
            return time.monotonic() - started, fields["rdb_last_bgsave_status"]
        time.sleep(0.005)


def measured_bgsave(server, c):
    """One BGSAVE: its time and the memory peak over it against before."""
    before = pss(server.pid)
    peak = MemoryPeak(server.pid)
    peak.start()
    seconds, status = timed_bgsave(c)
    assert status == "ok", status
    return {"seconds": seconds, "before": before, "peak": max(peak.stop(), before)}


def write_load(port, keys):
    """redis-benchmark SETs over the same keys until killed."""
    return subprocess.Popen(["redis-benchmark", "-p", str(port), "-t", "set", "-r", str(keys), "-d", "32", "-c", "20",
                             "-P", "16", "-n", "1000000000", "-q"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def get_latency(port, keys, requests):
    """redis-benchmark GET: (requests/s, p99, p99.9 in ms), from its full
    percentile distribution."""
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "get", "-r", str(keys), "-d", "32", "-c", "50",
                          "-n", str(requests), "--precision", "3"], capture_output=True, text=True, timeout=1800).stdout
    rps = float(re.search(r"throughput summary: ([\d.]+) requests per second", out).group(1))
    distribution = [(float(p), float(ms)) for p, ms in re.findall(r"^\s*([\d.]+)% <= ([\d.]+) milliseconds", out, re.M)]

    def at(percentile):
        return next(ms for p, ms in distribution if p >= percentile)
    return rps, at(99.0), at(99.9)


def latency_with_saves(server, c, keys, requests):
    """GET latency while BGSAVEs run back to back for the whole benchmark."""
    stop = threading.Event()
    saves = []

    def saving():
        other = resp.Client(server.port, timeout=600)
        while not stop.is_set():
            saves.append(timed_bgsave(other)[0])

    saver = threading.Thread(target=saving, daemon=True)
    saver.start()
    while not saves and info(c)["rdb_bgsave_in_progress"] == "0":
        time.sleep(0.005)
    result = get_latency(server.port, keys, requests)
    stop.set()
    saver.join()
    return result + (len(saves),)


def timed_start(start, folder):
    """Starts a server on the snapshot in folder: (process, seconds from exec
    to INFO loading:0)."""
    started = time.monotonic()
    process = start(folder, ready=None)
    c = resp.Client(process.port, timeout=600)
    while info(c)["loading"] != "0":
        time.sleep(0.005)
    return process, time.monotonic() - started


def scenario(name, start, keys, requests, folder, log):
    """Every measurement on one server kind; returns its numbers."""
    result = {}
    server = start(folder)
    c = resp.Client(server.port, timeout=600)
    t = time.monotonic()
    fill(server.port, keys)
    result["fill_seconds"] = time.monotonic() - t
    assert c("DBSIZE") == keys
    time.sleep(2)
    result["idle"] = [measured_bgsave(server, c) for _ in range(3)]
    log(f"{name}: idle BGSAVE {[round(r['seconds'], 2) for r in result['idle']]} s")
    load = write_load(server.port, keys)
    time.sleep(1)
    result["writes"] = [measured_bgsave(server, c) for _ in range(3)]
    load.send_signal(signal.SIGINT)
    try:
        load.wait(timeout=10)
    except subprocess.TimeoutExpired:
        # redis-benchmark may not end on SIGINT under a load of 10M keys.
        load.kill()
        load.wait()
    log(f"{name}: BGSAVE under writes {[round(r['seconds'], 2) for r in result['writes']]} s")
    result["get"] = get_latency(server.port, keys, requests)
    result["get_during_saves"] = latency_with_saves(server, c, keys, requests)
    log(f"{name}: GET {result['get']}, during saves {result['get_during_saves']}")
    assert c("SAVE") == "OK"
    result["file_bytes"] = os.path.getsize(os.path.join(folder, "dump.rdb"))
    # redis-server saves again on SIGTERM (its default rules), which takes
    # longer than the harness's usual limit at 10M keys.
    server.stop(timeout=600)
    restarted, seconds = timed_start(start, folder)
    result["restart_seconds"] = seconds
    assert resp.Client(restarted.port)("DBSIZE") == keys
    restarted.stop(signal.SIGKILL)
    log(f"{name}: restart {seconds:.2f} s")
    return result


def run(server_binary, keys, requests, log=lambda text: print(text, file=sys.stderr, flush=True)):
    """Both scenarios and ttlkv-server on Redis's file; a markdown report."""
    servers.TTLKV_SERVER = server_binary
    root = tempfile.mkdtemp(prefix="bench-snapshot-")
    try:
        folders = {name: os.path.join(root, name) for name in ["ttlkv", "redis", "cross"]}
        for folder in folders.values():
            os.makedirs(folder)
        def ttlkv(folder, **options):
            return servers.ttlkv_server("--dir", folder, "--save", "", "--capacity", keys, **options)

        def redis(folder, **options):
            return servers.redis_server("--dir", folder, **options)
        results = {
            "ttlkv-server": scenario("ttlkv-server", ttlkv, keys, requests, folders["ttlkv"], log),
            "redis-server": scenario("redis-server", redis, keys, requests, folders["redis"], log),
        }
        shutil.copy(os.path.join(folders["redis"], "dump.rdb"), folders["cross"])
        cross, seconds = timed_start(ttlkv, folders["cross"])
        cross.stop(signal.SIGKILL)
        results["ttlkv-server on redis's file"] = {"restart_seconds": seconds}
        return results, report(results, keys, requests)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(results, keys, requests):
    ours, theirs = results["ttlkv-server"], results["redis-server"]

    def median(runs, field="seconds"):
        return statistics.median(r[field] for r in runs)

    def growth(runs):
        return max(r["peak"] / r["before"] for r in runs)

    mib = 1 << 20
    lines = [f"Snapshots of {keys:,} keys (16-byte keys, 32-byte values, half with a TTL); medians of 3 BGSAVEs.", "",
             "| | ttlkv-server | redis-server |", "|---|---|---|"]
    rows = [
        ("BGSAVE, idle (s)", f"{median(ours['idle']):.2f}", f"{median(theirs['idle']):.2f}"),
        ("BGSAVE under a write load (s)", f"{median(ours['writes']):.2f}", f"{median(theirs['writes']):.2f}"),
        ("memory before a save (MiB, PSS)", f"{median(ours['idle'], 'before') / mib:,.0f}",
         f"{median(theirs['idle'], 'before') / mib:,.0f}"),
        ("peak during a save / before, idle", f"{growth(ours['idle']):.3f}", f"{growth(theirs['idle']):.3f}"),
        ("peak during a save / before, under writes", f"{growth(ours['writes']):.3f}", f"{growth(theirs['writes']):.3f}"),
        ("snapshot file (MiB)", f"{ours['file_bytes'] / mib:,.0f}", f"{theirs['file_bytes'] / mib:,.0f}"),
        ("restart: exec to loaded (s)", f"{ours['restart_seconds']:.2f}", f"{theirs['restart_seconds']:.2f}"),
        ("restart: keys/s", f"{keys / ours['restart_seconds']:,.0f}", f"{keys / theirs['restart_seconds']:,.0f}"),
        ("ttlkv-server loading redis-server's file (s)",
         f"{results['ttlkv-server on redis' + chr(39) + 's file']['restart_seconds']:.2f}", ""),
        ("GET req/s, no save", f"{ours['get'][0]:,.0f}", f"{theirs['get'][0]:,.0f}"),
        ("GET req/s, during BGSAVEs", f"{ours['get_during_saves'][0]:,.0f}", f"{theirs['get_during_saves'][0]:,.0f}"),
        ("GET p99 / p99.9 ms, no save", f"{ours['get'][1]:.3f} / {ours['get'][2]:.3f}",
         f"{theirs['get'][1]:.3f} / {theirs['get'][2]:.3f}"),
        ("GET p99 / p99.9 ms, during BGSAVEs", f"{ours['get_during_saves'][1]:.3f} / {ours['get_during_saves'][2]:.3f}",
         f"{theirs['get_during_saves'][1]:.3f} / {theirs['get_during_saves'][2]:.3f}"),
        ("GET p99.9 during / without", f"{ours['get_during_saves'][2] / ours['get'][2]:.2f}",
         f"{theirs['get_during_saves'][2] / theirs['get'][2]:.2f}"),
    ]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", f"GET: redis-benchmark, 50 clients, pipeline 1, {requests:,} requests over random keys; during: "
              f"BGSAVEs back to back for the whole run ({ours['get_during_saves'][3]} and "
              f"{theirs['get_during_saves'][3]} saves). Write load: redis-benchmark SET, 20 clients, pipeline 16. "
              "Memory: PSS of the server and its children (Redis's fork), peak over the save."]
    return "\n".join(lines)
