"""Every command of issue 12 through the Python `redis` package, run against
ttlkv-server and against redis-server 7 with the same assertions: what
passes on both is what a redis-py user can rely on."""
import socket
import time

import pytest
import redis
import resp
from redis.backoff import NoBackoff
from redis.retry import Retry


@pytest.fixture
def r(either):
    client = redis.Redis(port=either.port, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


def test_connection_commands(r):
    assert r.ping() is True
    assert r.echo("hello") == "hello"
    assert r.execute_command("SELECT", 0) is True
    assert r.client_id() > 0
    assert r.client_getname() is None
    assert r.client_setname("worker-1") is True
    assert r.client_getname() == "worker-1"
    with pytest.raises(redis.ResponseError, match="cannot contain spaces"):
        r.client_setname("a b")
    hello = r.execute_command("HELLO", 2)
    assert hello[hello.index("proto") + 1] == 2
    with pytest.raises(redis.ResponseError, match="unsupported protocol version"):
        r.execute_command("HELLO", 4)
    t = r.time()
    assert abs(t[0] + t[1] / 1e6 - time.time()) < 5
    with pytest.raises(redis.ResponseError, match="unknown command 'NOSUCH'"):
        r.execute_command("NOSUCH", "a")
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'get' command"):
        r.execute_command("GET")


def test_auth_without_password(either):
    # redis-py retries a ConnectionError, which AuthenticationError is, with
    # backoff (3.5 s a call): this client answers at once.
    r = redis.Redis(port=either.port, decode_responses=True, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.AuthenticationError, match="without any password configured"):
        r.execute_command("AUTH", "x")
    with pytest.raises(redis.AuthenticationError):
        r.execute_command("AUTH", "someone", "x")
    r.close()


def test_set_and_get_options(r):
    assert r.set("k", "v") is True
    assert r.get("k") == "v"
    assert r.set("k", "w", nx=True) is None
    assert r.set("k", "w", xx=True) is True
    assert r.set("missing", "w", xx=True) is None
    assert r.set("k", "x", get=True) == "w"
    assert r.set("new", "x", get=True) is None
    assert r.set("k", "y", ex=100) is True
    assert 99 <= r.ttl("k") <= 100
    assert r.set("k", "z", keepttl=True) is True
    assert 99 <= r.ttl("k") <= 100
    assert r.set("k", "z") is True
    assert r.ttl("k") == -1
    assert r.set("k", "p", px=100_000) is True
    assert 99_000 < r.pttl("k") <= 100_000
    assert r.set("k", "a", exat=int(time.time()) + 100) is True
    assert 98 <= r.ttl("k") <= 100
    assert r.set("k", "b", pxat=int(time.time() * 1000) + 100_000) is True
    assert 98 <= r.ttl("k") <= 100
    assert r.set("k", "c", exat=int(time.time()) - 10) is True  # in the past: gone at once
    assert r.get("k") is None
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'set' command"):
        r.set("k", "v", ex=0)
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SET", "k", "v", "NX", "XX")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SET", "k", "v", "KEEPTTL", "EX", 10)
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.execute_command("SET", "k", "v", "EX", "ten")


def test_setex_psetex_setnx(r):
    assert r.setex("a", 50, "1") is True
    assert 49 <= r.ttl("a") <= 50
    assert r.psetex("b", 50_000, "2") is True
    assert 49_000 < r.pttl("b") <= 50_000
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'setex' command"):
        r.setex("a", 0, "1")
    with pytest.raises(redis.ResponseError, match="invalid expire time in 'psetex' command"):
        r.psetex("a", -5, "1")
    assert r.setnx("c", "3") is True
    assert r.setnx("c", "4") is False
    assert r.get("c") == "3"


def test_getex_getdel(r):
    r.set("k", "v")
    assert r.getex("k") == "v"
    assert r.getex("k", ex=100) == "v"
    assert 99 <= r.ttl("k") <= 100
    assert r.getex("k", px=50_000) == "v"
    assert 49_000 < r.pttl("k") <= 50_000
    assert r.getex("k", persist=True) == "v"
    assert r.ttl("k") == -1
    assert r.getex("k", exat=int(time.time()) + 100) == "v"
    assert 98 <= r.ttl("k") <= 100
    assert r.getex("k", pxat=int(time.time() * 1000) - 1) == "v"  # past: removed
    assert r.get("k") is None
    assert r.getex("missing", ex=10) is None
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("GETEX", "k", "PERSIST", "EX", 10)
    r.set("d", "1")
    assert r.getdel("d") == "1"
    assert r.getdel("d") is None
    assert r.exists("d") == 0


def test_multi_key(r):
    assert r.mset({"a": "1", "b": "2", "c": "3"}) is True
    assert r.mget("a", "b", "nope", "c") == ["1", "2", None, "3"]
    assert r.msetnx({"c": "x", "d": "4"}) is False
    assert r.get("d") is None
    assert r.msetnx({"d": "4", "e": "5"}) is True
    assert r.mget("d", "e") == ["4", "5"]
    with pytest.raises(redis.ResponseError, match="wrong number of arguments for 'mset' command"):
        r.execute_command("MSET", "a", "1", "b")
    assert r.exists("a", "b", "nope", "a") == 3
    assert r.touch("a", "nope") == 1
    assert r.delete("a", "b", "nope") == 2
    assert r.unlink("c", "d", "c") == 2
    assert r.dbsize() == 1


def test_mget_batches_keep_order_and_count_lookups(r):
    # More keys than one read section holds (64), missing ones scattered,
    # at both ends and in runs, and a key asked for twice.
    r.mset({f"m:{i}": f"v{i}" for i in range(0, 300, 3)})
    keys = ["m:1"] + [f"m:{i}" for i in range(300)] + ["m:0", "m:299"]
    expected = [None] + [f"v{i}" if i % 3 == 0 else None for i in range(300)] + ["v0", None]
    before = r.info("stats")
    assert r.mget(keys) == expected
    after = r.info("stats")
    hits = sum(value is not None for value in expected)
    assert after["keyspace_hits"] - before["keyspace_hits"] == hits
    assert after["keyspace_misses"] - before["keyspace_misses"] == len(keys) - hits


def test_expiry_commands(r):
    r.set("k", "v")
    assert r.ttl("k") == -1 and r.pttl("k") == -1
    assert r.ttl("missing") == -2 and r.pttl("missing") == -2
    assert r.expiretime("k") == -1 and r.expiretime("missing") == -2
    assert r.expire("k", 100) is True
    assert 99 <= r.ttl("k") <= 100
    assert abs(r.expiretime("k") - (time.time() + 100)) <= 2
    assert abs(r.execute_command("PEXPIRETIME", "k") - (time.time() * 1000 + 100_000)) <= 2000
    assert r.pexpire("k", 200_000) is True
    assert 199_000 < r.pttl("k") <= 200_000
    assert r.expire("k", 50, nx=True) is False
    assert r.expire("k", 50, xx=True) is True
    assert r.expire("k", 10, gt=True) is False
    assert r.expire("k", 500, gt=True) is True
    assert r.expire("k", 1000, lt=True) is False
    assert r.expire("k", 30, lt=True) is True
    assert r.persist("k") is True
    assert r.persist("k") is False
    assert r.expire("k", 10, gt=True) is False  # no TTL counts as infinite
    assert r.expire("k", 10, lt=True) is True
    assert r.expireat("k", int(time.time()) + 100) is True
    assert 98 <= r.ttl("k") <= 100
    assert r.pexpireat("k", int(time.time() * 1000) + 100_000) is True
    assert 98 <= r.ttl("k") <= 100
    assert r.expire("k", -1) is True  # a time in the past removes the key
    assert r.exists("k") == 0
    assert r.expire("missing", 10) is False
    assert r.persist("missing") is False
    with pytest.raises(redis.ResponseError, match="NX and XX, GT or LT options at the same time are not compatible"):
        r.execute_command("EXPIRE", "k", 10, "NX", "XX")
    with pytest.raises(redis.ResponseError, match="GT and LT options at the same time are not compatible"):
        r.execute_command("EXPIRE", "k", 10, "GT", "LT")
    with pytest.raises(redis.ResponseError, match="Unsupported option FOO"):
        r.execute_command("EXPIRE", "k", 10, "FOO")


def test_keys_expire_on_time(r):
    r.set("short", "v", px=150)
    r.set("long", "v", px=5000)
    assert r.get("short") == "v"
    time.sleep(0.3)
    assert r.get("short") is None
    assert r.exists("short") == 0
    assert r.get("long") == "v"


def test_counters_and_strings(r):
    assert r.incr("n") == 1
    assert r.incrby("n", 41) == 42
    assert r.decr("n") == 41
    assert r.decrby("n", 40) == 1
    r.set("n", "9223372036854775807")
    with pytest.raises(redis.ResponseError, match="increment or decrement would overflow"):
        r.incr("n")
    r.set("s", "abc")
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        r.incr("s")
    with pytest.raises(redis.ResponseError, match="value is not an integer or out of range"):
        r.incrby("n", "1.5")
    with pytest.raises(redis.ResponseError, match="decrement would overflow"):
        r.decrby("n", -9223372036854775808)
    r.set("t", "5", ex=100)
    assert r.incr("t") == 6
    assert 99 <= r.ttl("t") <= 100  # INCR keeps the TTL
    assert r.append("a", "Hello") == 5
    assert r.append("a", " World") == 11
    assert r.get("a") == "Hello World"
    assert r.strlen("a") == 11
    assert r.strlen("missing") == 0


def test_binary_values(either):
    r = redis.Redis(port=either.port)
    blob = bytes(range(256)) * 40 + b"\r\n\x00"
    assert r.set(b"\x00bin\r\nkey", blob) is True
    assert r.get(b"\x00bin\r\nkey") == blob
    assert r.strlen(b"\x00bin\r\nkey") == len(blob)
    r.close()


def test_scan(r):
    for i in range(300):
        r.set(f"user:{i}", i)
    for i in range(50):
        r.set(f"other:{i}", i)
    assert set(r.scan_iter(match="user:*", count=20)) == {f"user:{i}" for i in range(300)}
    assert len(set(r.scan_iter(count=7))) == 350
    assert list(r.scan_iter(_type="list")) == []
    assert len(set(r.scan_iter(_type="string"))) == 350
    cursor, keys = r.scan(0, count=1000)
    # A cursor the server never handed out is no error (Redis reads any).
    for arbitrary in [1, 12345, 2**63, 2**64 - 1, -1, "+5", "0005", ""]:
        cursor, keys = r.scan(arbitrary)
        assert int(cursor) >= 0 and set(keys) <= {f"user:{i}" for i in range(300)} | {f"other:{i}" for i in range(50)}
    with pytest.raises(redis.ResponseError, match="invalid cursor"):
        r.execute_command("SCAN", "abc")
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("SCAN", 0, "COUNT", 0)


def test_flush_and_dbsize(r):
    r.mset({f"k{i}": i for i in range(100)})
    assert r.dbsize() == 100
    assert r.flushdb() is True
    assert r.dbsize() == 0
    r.set("x", 1)
    assert r.flushall(asynchronous=True) is True
    assert r.dbsize() == 0
    with pytest.raises(redis.ResponseError, match="syntax error"):
        r.execute_command("FLUSHDB", "NOW")


def test_info_and_command(r):
    r.set("a", 1, ex=100)
    r.set("b", 2)
    r.get("a")
    r.get("missing")
    info = r.info()
    assert info["redis_version"].startswith("7.")
    assert info["connected_clients"] >= 1
    assert info["db0"]["keys"] == 2
    assert info["keyspace_hits"] >= 1 and info["keyspace_misses"] >= 1
    assert "expired_keys" in info and "used_memory" in info and "used_memory_rss" in info
    assert set(r.info("keyspace")) == {"db0"}
    # redis-py reshapes COMMAND replies: read them raw.
    raw = resp.Client(r.connection_pool.connection_kwargs["port"])
    assert raw("COMMAND", "COUNT") >= 40
    infos = raw("COMMAND", "INFO", "get", "mset", "nosuch")
    assert infos[0][:6] == [b"get", 2, ["readonly", "fast"], 1, 1, 1]
    assert infos[1][:6] == [b"mset", -3, ["write", "denyoom"], 1, -1, 2]
    assert infos[2] is None
    assert len(raw("COMMAND")) == raw("COMMAND", "COUNT")
    raw.close()


def test_config_get(r):
    assert r.config_get("appendonly") == {"appendonly": "no"}
    assert r.config_get("maxclients") == {"maxclients": "10000"}
    assert set(r.config_get("max*")) >= {"maxclients", "maxmemory", "maxmemory-policy"}
    assert r.config_get("no-such-setting") == {}


def test_resp3(either):
    r = redis.Redis(port=either.port, protocol=3, decode_responses=True)
    assert r.ping() is True
    assert r.get("resp3-missing") is None
    r.set("resp3", "v")
    assert r.mget("resp3", "resp3-missing") == ["v", None]
    assert isinstance(r.info(), dict)
    r.close()


def test_concurrent_incr_is_atomic(either):
    """Eight clients increment one counter; no increment is lost."""
    import threading

    def work():
        c = redis.Redis(port=either.port)
        pipe = c.pipeline(transaction=False)
        for _ in range(500):
            pipe.incr("atomic")
        pipe.execute()
        c.close()

    redis.Redis(port=either.port).delete("atomic")
    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert int(redis.Redis(port=either.port).get("atomic")) == 4000


def test_nul_bytes_as_redis_reads_them(either):
    """Redis reads an inline line with strchr, so a NUL before its end hides
    the end: nothing runs until the line passes 64 KiB, then the client gets
    a protocol error. Names and options echoed in errors end at a NUL, as C
    formats them."""
    s = socket.create_connection(("127.0.0.1", either.port), timeout=0.5)
    s.sendall(b"SET nul v\x00alue\r\nPING\r\n")
    with pytest.raises(TimeoutError):
        s.recv(100)
    s.settimeout(10)
    s.sendall(b"x" * 70_000)
    assert s.recv(100) == b"-ERR Protocol error: too big inline request\r\n"
    s.close()
    check = resp.Client(either.port)
    assert check("EXISTS", "nul") == 0
    assert check("PI\x00G") == resp.Error(b"ERR unknown command 'PI', with args beginning with: ")
    assert check("FOO", "a\x00b", "c") == resp.Error(b"ERR unknown command 'FOO', with args beginning with: 'a' 'c' ")
    assert check("CLIENT", "x\x00y") == resp.Error(b"ERR unknown subcommand 'x'. Try CLIENT HELP.")
    assert check("HELLO", 3, "x\x00y") == resp.Error(b"ERR Syntax error in HELLO option 'x'")
    assert check("EXPIRE", "k", 10, "N\x00X") == resp.Error(b"ERR Unsupported option N")


def test_randomkey(r):
    assert r.randomkey() is None
    r.set("only", 1)
    assert all(r.randomkey() == "only" for _ in range(20))
    r.mset({f"rk:{i}": i for i in range(30)})
    seen = {r.randomkey() for _ in range(600)}
    assert seen <= {f"rk:{i}" for i in range(30)} | {"only"}
    assert len(seen) > 20
