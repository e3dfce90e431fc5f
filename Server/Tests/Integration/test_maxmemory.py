"""maxmemory and maxmemory-policy, side by side with redis-server 7 where
the semantics match: Redis's size syntax on the command line and in CONFIG
GET, every policy name in CONFIG SET / GET and INFO, the bound held while a
client writes ten times the budget (ttlkv-server counts its store, so
used_memory never passes maxmemory), keys without a TTL never evicted by
the volatile policies, Redis's OOM error when nothing may be evicted
(noeviction, or volatile-* with no key that has a TTL), volatile-ttl
keeping the longest TTLs, INFO's evicted_keys, and one `evicted` keyspace
notification per evicted key. Where ttlkv-server differs (CONFIG SET
maxmemory is refused: the budget is set at start), the test says so."""
import random
import time

import pytest

import resp
import servers

VALUE = b"v" * 1000


def info(client, section):
    text = client("INFO", section).decode()
    return dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)


def fill(client, prefix, count, ttl=None, batch=500):
    """SETs count keys of 1,000-byte values; the replies, in order."""
    replies = []
    for start in range(0, count, batch):
        commands = []
        for i in range(start, min(count, start + batch)):
            command = ["SET", f"{prefix}{i}", VALUE]
            if ttl is not None:
                command += ["EX", ttl(i) if callable(ttl) else ttl]
            commands.append(command)
        replies += client.pipeline(commands)
    return replies


def start(kind, *args):
    if kind == "ttlkv":
        return servers.ttlkv_server("--save", "", *args)
    return servers.redis_server(*args)


def both(*args):
    return [start("ttlkv", *args), start("redis", *args)]


@pytest.mark.parametrize("size,expected", [("4mb", 4 << 20), ("3000000", 3000000), ("1g", 10**9), ("2gb", 2 << 30)])
def test_sizes_parse_as_redis_parses_them(size, expected):
    for server in both("--maxmemory", size):
        try:
            client = resp.Client(server.port)
            assert client("CONFIG", "GET", "maxmemory") == [b"maxmemory", str(expected).encode()]
            assert info(client, "memory")["maxmemory"] == str(expected)
        finally:
            server.stop()


def test_every_policy_name_and_a_wrong_one():
    for server in both("--maxmemory", "8mb"):
        try:
            client = resp.Client(server.port)
            assert client("CONFIG", "GET", "maxmemory-policy") == [b"maxmemory-policy", b"noeviction"]
            for name in ["allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu",
                         "volatile-random", "volatile-ttl", "noeviction", "ALLKEYS-LRU"]:
                assert client("CONFIG", "SET", "maxmemory-policy", name) == "OK"
                assert client("CONFIG", "GET", "maxmemory-policy") == [b"maxmemory-policy", name.lower().encode()]
                assert info(client, "memory")["maxmemory_policy"] == name.lower()
            wrong = client("CONFIG", "SET", "maxmemory-policy", "allkeys-fifo")
            assert isinstance(wrong, resp.Error) and wrong.startswith(b"ERR")
            assert client("CONFIG", "GET", "maxmemory-policy") == [b"maxmemory-policy", b"allkeys-lru"]
        finally:
            server.stop()


def test_a_bad_command_line_is_refused():
    for args in (["--maxmemory", "lots"], ["--maxmemory-policy", "allkeys-fifo"], ["--maxmemory", "1000"]):
        with pytest.raises(RuntimeError, match="exited with"):
            servers.ttlkv_server(*args)


def test_config_set_maxmemory_is_refused_with_a_reason():
    # A difference: Redis changes its budget at run time; ttlkv-server's
    # store is opened with its budget (or without eviction queues at all).
    server = start("ttlkv", "--maxmemory", "8mb")
    try:
        client = resp.Client(server.port)
        reply = client("CONFIG", "SET", "maxmemory", "16mb")
        assert isinstance(reply, resp.Error) and b"at start only" in reply
        assert client("CONFIG", "GET", "maxmemory") == [b"maxmemory", str(8 << 20).encode()]
    finally:
        server.stop()


@pytest.mark.parametrize("policy", ["allkeys-lru", "allkeys-lfu", "allkeys-random"])
def test_the_bound_holds_under_ten_times_the_budget(policy):
    budget = 8 << 20
    server = start("ttlkv", "--maxmemory", budget, "--maxmemory-policy", policy)
    try:
        client = resp.Client(server.port)
        written = 0
        for round in range(16):
            replies = fill(client, f"r{round}:", 5000)
            assert all(reply == "OK" for reply in replies)
            written += len(replies)
            memory = info(client, "memory")
            assert int(memory["used_memory"]) <= budget, memory
        stats = info(client, "stats")
        assert int(stats["evicted_keys"]) > 0
        assert client("DBSIZE") + int(stats["evicted_keys"]) == written
        # The store fills its budget: most of it holds keys.
        assert int(info(client, "memory")["used_memory"]) > budget // 2
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("kind", ["ttlkv", "redis"])
@pytest.mark.parametrize("policy", ["volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"])
def test_volatile_policies_never_evict_a_key_without_ttl(kind, policy):
    server = start(kind, "--maxmemory", 16 << 20, "--maxmemory-policy", policy)
    try:
        client = resp.Client(server.port)
        assert all(reply == "OK" for reply in fill(client, "keep:", 2000))
        replies = fill(client, "ttl:", 40000, ttl=1000)
        assert all(reply == "OK" for reply in replies) or kind == "ttlkv" and \
            sum(reply != "OK" for reply in replies) <= 40, [r for r in replies if r != "OK"][:3]
        assert int(info(client, "stats")["evicted_keys"]) > 0
        kept = client.pipeline([["EXISTS", f"keep:{i}"] for i in range(2000)])
        assert sum(kept) == 2000
        # Only keys without a TTL left to evict: a write gets Redis's OOM.
        client.pipeline([["DEL", f"ttl:{i}"] for i in range(40000)])
        replies = fill(client, "more:", 40000)
        refused = [reply for reply in replies if reply != "OK"]
        assert refused and all(reply.startswith(b"OOM command not allowed") for reply in refused), refused[:3]
        assert sum(client.pipeline([["EXISTS", f"keep:{i}"] for i in range(2000)])) == 2000
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["ttlkv", "redis"])
def test_noeviction_refuses_writes_with_redis_oom_and_keeps_reads(kind):
    server = start(kind, "--maxmemory", 8 << 20)
    try:
        client = resp.Client(server.port)
        replies = fill(client, "k", 20000)
        refused = [i for i, reply in enumerate(replies) if reply != "OK"]
        assert refused, "a write past the budget was accepted"
        assert replies[refused[0]] == b"OOM command not allowed when used memory > 'maxmemory'."
        assert int(info(client, "stats")["evicted_keys"]) == 0
        assert client("GET", "k0") == VALUE
        assert client("DEL", "k0") == 1
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["ttlkv", "redis"])
def test_volatile_ttl_keeps_the_longest_ttls(kind):
    server = start(kind, "--maxmemory", 8 << 20, "--maxmemory-policy", "volatile-ttl")
    try:
        client = resp.Client(server.port)
        rng = random.Random(5)
        ttls = [rng.randint(1000, 1000000) for _ in range(30000)]
        fill(client, "t", len(ttls), ttl=lambda i: ttls[i])
        present = client.pipeline([["EXISTS", f"t{i}"] for i in range(len(ttls))])
        kept = [ttl for ttl, here in zip(ttls, present) if here]
        evicted = len(ttls) - len(kept)
        assert evicted > len(ttls) // 3
        mean_written, mean_kept = sum(ttls) / len(ttls), sum(kept) / len(kept)
        print(f"{kind} volatile-ttl: {len(kept)} kept of {len(ttls)}, mean TTL kept {mean_kept:.0f} s, "
              f"written {mean_written:.0f} s")
        assert mean_kept > 1.3 * mean_written
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["ttlkv", "redis"])
def test_every_evicted_key_is_published_once(kind):
    server = start(kind, "--maxmemory", 8 << 20, "--maxmemory-policy", "allkeys-lru",
                   "--notify-keyspace-events", "Ee")
    try:
        client = resp.Client(server.port)
        subscriber = resp.Client(server.port)
        subscriber.send("SUBSCRIBE", "__keyevent@0__:evicted")
        subscriber.reply()
        fill(client, "e", 30000)
        evicted = int(info(client, "stats")["evicted_keys"])
        assert evicted > 0
        keys = []
        deadline = time.time() + 10
        subscriber.sock.settimeout(2)
        while len(keys) < evicted and time.time() < deadline:
            message = subscriber.reply()
            assert message[0] == b"message" and message[1] == b"__keyevent@0__:evicted"
            keys.append(message[2])
        assert len(keys) == evicted and len(set(keys)) == evicted
        assert not any(client.pipeline([["EXISTS", key] for key in keys]))
    finally:
        server.stop()
