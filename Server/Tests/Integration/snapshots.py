"""Helpers for the snapshot tests (test_persistence.py, test_snapshot_*.py):
datasets, a server's whole contents, INFO, redis-check-rdb, waiting."""
import os
import subprocess
import time

import resp

# Values across Redis's length encodings (6-bit, 14-bit, 32-bit lengths)
# up to 1 MiB, and strings Redis stores as integers or must not.
SIZES = [0, 1, 63, 64, 16383, 16384, 65535, 1 << 20]
INTEGER_LOOKING = [b"0", b"-1", b"127", b"128", b"-128", b"-129", b"32767", b"32768", b"-32769",
                   b"2147483647", b"2147483648", b"-2147483648", b"-2147483649", b"9223372036854775807",
                   b"007", b"-0", b"+1", b" 1", b"1 ", b"1e3", b"0x10"]


def binary_keys():
    """Keys with every byte value, NUL and line ends included."""
    keys = [bytes(range(i, min(i + 16, 256))) for i in range(0, 256, 16)]
    return keys + [b"\x00", b"\r\n", b"\xff\xfe", b"k\x00k", b" "]


def dataset(name):
    """(key, value, ttl_ms or None) triples for one of the named datasets."""
    if name == "empty":
        return []
    if name == "binary keys":
        return [(k, b"v%d" % i, None if i % 2 else 600_000) for i, k in enumerate(binary_keys())]
    if name == "value sizes":
        return [(b"size:%d" % n, bytes((i * 7 + n) % 256 for i in range(n)), None if n % 2 else 900_000)
                for n in SIZES]
    if name == "ttls":
        return [(b"ttl:%d" % i, b"x" * (i % 50), 5_000 + i * 1_000 if i % 3 else None) for i in range(300)]
    if name == "integers":
        return [(b"int:%d" % i, v, None if i % 2 else 700_000) for i, v in enumerate(INTEGER_LOOKING)]
    raise ValueError(name)


DATASETS = ["empty", "binary keys", "value sizes", "ttls", "integers"]


def write(client, entries, batch=1000):
    """Stores the entries with SET (PX for a TTL), pipelined."""
    commands = [("SET", k, v) if ttl is None else ("SET", k, v, "PX", ttl) for k, v, ttl in entries]
    for start in range(0, len(commands), batch):
        replies = client.pipeline(commands[start:start + batch])
        assert replies == ["OK"] * len(replies), replies[:3]


def fill(client, count, prefix=b"key:", value_size=32, ttl_every=2, batch=2000):
    """`count` keys with `value_size`-byte values, every `ttl_every`-th with a
    TTL of an hour or more, by pipelined MSETs and PEXPIREs."""
    for start in range(0, count, batch):
        stop = min(count, start + batch)
        mset = ["MSET"]
        expires = []
        for i in range(start, stop):
            key = prefix + b"%011d" % i
            mset += [key, (b"%d:" % i).ljust(value_size, b"v")]
            if ttl_every and i % ttl_every == 0:
                expires.append(("PEXPIRE", key, 3_600_000 + i))
        replies = client.pipeline([mset] + expires)
        assert replies[0] == "OK" and all(r == 1 for r in replies[1:]), replies[:3]


def keys(client):
    """Every key, by SCAN."""
    found = set()
    cursor = b"0"
    while True:
        cursor, batch = client("SCAN", cursor, "COUNT", 1000)
        found.update(batch)
        if cursor == b"0":
            return found


class Contents(dict):
    """What contents() read, and when it began reading (time.monotonic())."""
    taken_at = None


def contents(client):
    """{key: (value, pttl)} of every key (pttl -1: no TTL)."""
    taken_at = time.monotonic()
    names = sorted(keys(client))
    result = Contents()
    result.taken_at = taken_at
    for start in range(0, len(names), 1000):
        chunk = names[start:start + 1000]
        replies = client.pipeline([("GET", k) for k in chunk] + [("PTTL", k) for k in chunk])
        for i, k in enumerate(chunk):
            result[k] = (replies[i], replies[len(chunk) + i])
    return result


def assert_same_contents(expected, actual, ttl_tolerance_ms=1000):
    """Same keys and values; TTLs both absent or within the tolerance, plus
    the time between the two readings when both came from contents(): a
    save, a restart and a load between them take a second or more on a
    loaded machine."""
    assert sorted(expected) == sorted(actual)
    if getattr(expected, "taken_at", None) is not None and getattr(actual, "taken_at", None) is not None:
        ttl_tolerance_ms += max(0.0, actual.taken_at - expected.taken_at) * 1000
    for k, (value, pttl) in expected.items():
        other_value, other_pttl = actual[k]
        assert other_value == value, k
        if pttl == -1 or other_pttl == -1:
            assert pttl == other_pttl, (k, pttl, other_pttl)
        else:
            assert abs(pttl - other_pttl) <= ttl_tolerance_ms, (k, pttl, other_pttl)


def expected_contents(entries):
    """contents() of a server freshly written with `entries`."""
    return {k: (v, -1 if ttl is None else ttl) for k, v, ttl in entries}


def info(client, section="persistence"):
    """INFO `section` as a dict of strings."""
    text = client("INFO", section)
    if isinstance(text, resp.Error):
        raise AssertionError(text)
    fields = {}
    for line in text.decode().split("\r\n"):
        if ":" in line and not line.startswith("#"):
            name, value = line.split(":", 1)
            fields[name] = value
    return fields


def wait_for(predicate, timeout=60, step=0.02, what="the condition"):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def wait_for_bgsave(client, timeout=120):
    """Waits until no background save runs; returns INFO persistence."""
    return wait_for(lambda: (lambda f: f if f["rdb_bgsave_in_progress"] == "0" else None)(info(client)),
                    timeout=timeout, what="the background save to end")


def check_rdb(path):
    """redis-check-rdb's verdict: (exit code, output)."""
    result = subprocess.run(["redis-check-rdb", path], capture_output=True, timeout=120)
    return result.returncode, (result.stdout + result.stderr).decode(errors="replace")


def assert_redis_accepts(path, keys):
    code, output = check_rdb(path)
    assert code == 0 and "RDB looks OK" in output, output
    assert f"{keys} keys read" in output, output


def dump(folder, name="dump.rdb"):
    return os.path.join(folder, name)


def read(path):
    with open(path, "rb") as f:
        return f.read()
