"""Fixed cases against redis-server 7, side by side: each script of
commands (edge cases: negative and huge offsets, padding, empty values,
missing keys, every argument error in Redis's order) goes to both servers,
and every reply must be the same, errors included. TTL rules are checked
with PTTL and PEXPIRETIME (within a tolerance, as two clocks tell them).
The random sequences of test_differential.py cover the same commands in
random orders; these pin the corners down."""
import time

import pytest
import resp

TTL_TOLERANCE_MS = 50
TIME_VALUED = {b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"}


@pytest.fixture(scope="module")
def pair(ttlkv, oracle):
    ours, theirs = resp.Client(ttlkv.port), resp.Client(oracle.port)
    yield ours, theirs
    ours.close()
    theirs.close()


def arg(a):
    return a if isinstance(a, bytes) else str(a).encode()


def run_script_kept(pair, script):
    """Each command to both servers: the same reply, or within the
    tolerance for a time."""
    ours, theirs = pair
    for command in script:
        command = [arg(a) for a in command]
        got, want = ours(*command), theirs(*command)
        if command[0].upper() in TIME_VALUED and isinstance(got, int) and isinstance(want, int) and got >= 0:
            assert abs(got - want) <= (1 if command[0].upper() in (b"TTL", b"EXPIRETIME") else TTL_TOLERANCE_MS), command
            continue
        assert got == want, f"{command!r}\n ttlkv: {got!r}\n redis: {want!r}"


def run_script(pair, script):
    for client in pair:
        assert client("FLUSHALL") == "OK"
    run_script_kept(pair, script)


GETSET = [
    ["GETSET", "k", "v1"],
    ["GETSET", "k", "v2"],
    ["GET", "k"],
    ["SET", "t", "x", "EX", 100],
    ["GETSET", "t", "y"],
    ["TTL", "t"],  # GETSET removes the TTL
    ["GETSET", "k"],
    ["GETSET", "k", "a", "b"],
]

GETRANGE = [
    ["SET", "s", "Hello World"],
    *[["GETRANGE", "s", a, b] for a, b in [
        (0, 3), (-3, -1), (0, -1), (10, 100), (5, 3), (-100, 2), (-1, -5), (-5, -1), (0, 0), (11, 11),
        (-9223372036854775808, 9223372036854775807), (9223372036854775807, -9223372036854775808), (3, -100),
    ]],
    ["GETRANGE", "s", "x", 1],
    ["GETRANGE", "s", 0, "1.5"],
    ["GETRANGE", "missing", 0, -1],
    ["GETRANGE", "missing", "x", -1],
    ["SUBSTR", "s", 1, 4],
    ["SUBSTR", "s", -2, -1],
    ["SET", "e", ""],
    ["GETRANGE", "e", 0, -1],
    ["GETRANGE", "e", -1, 0],
    ["GETRANGE", "s", 0],
    ["SUBSTR", "s"],
]

SETRANGE = [
    ["SETRANGE", "n", 5, "abc"],
    ["GET", "n"],
    ["STRLEN", "n"],
    ["SETRANGE", "n", 0, "XY"],
    ["GET", "n"],
    ["SETRANGE", "n", 8, "tail"],
    ["GET", "n"],
    ["SETRANGE", "n", 2, ""],
    ["GET", "n"],
    ["SETRANGE", "absent", 3, ""],
    ["EXISTS", "absent"],
    ["SETRANGE", "absent", 0, ""],
    ["EXISTS", "absent"],
    ["SETRANGE", "n", -1, "x"],
    ["SETRANGE", "n", "x", "y"],
    ["SETRANGE", "n", 536870911, ""],
    ["SETRANGE", "n", 536870912, "x"],
    ["SETRANGE", "n", 536870911, "xy"],
    ["SETRANGE", "n", 9223372036854775807, "x"],
    ["SETRANGE", "n", 9223372036854775808, "x"],
    ["GET", "n"],
    ["SET", "t", "hello", "PX", 100000],
    ["SETRANGE", "t", 1, "EY"],
    ["GET", "t"],
    ["PTTL", "t"],  # SETRANGE keeps the TTL
    ["SET", "i", 12345],
    ["SETRANGE", "i", 1, "0"],
    ["GET", "i"],
    ["INCR", "i"],
    ["SETRANGE", "n", 1],
]

INCRBYFLOAT = [
    ["INCRBYFLOAT", "f", "10.5"],
    ["INCRBYFLOAT", "f", "0.1"],
    ["INCRBYFLOAT", "f", "-5"],
    ["INCRBYFLOAT", "f", "5.0e3"],
    ["INCRBYFLOAT", "f", "2.0e-3"],
    ["INCRBYFLOAT", "f", "1e100"],
    ["INCRBYFLOAT", "f", "-1e100"],
    ["GET", "f"],
    ["SET", "g", "3"],
    ["INCRBYFLOAT", "g", "1.5"],
    ["INCRBYFLOAT", "g", "-4.5"],
    ["INCRBYFLOAT", "g", "-0"],
    ["SET", "h", "-0.0"],
    ["INCRBYFLOAT", "h", "0"],
    ["INCRBYFLOAT", "h", "x"],
    ["INCRBYFLOAT", "h", ""],
    ["INCRBYFLOAT", "h", " 1"],
    ["INCRBYFLOAT", "h", "1 "],
    ["INCRBYFLOAT", "h", "nan"],
    ["INCRBYFLOAT", "h", "inf"],
    ["INCRBYFLOAT", "h", "-inf"],
    ["INCRBYFLOAT", "h", "1e5000"],
    ["INCRBYFLOAT", "h", "0x10"],
    ["INCRBYFLOAT", "h", "1e-5000"],
    ["SET", "big", "1e4000"],
    ["INCRBYFLOAT", "big", "1"],
    ["INCRBYFLOAT", "big", "1e4000"],
    ["SET", "s", "abc"],
    ["INCRBYFLOAT", "s", "1"],
    ["SET", "huge", "1.18e4932"],
    ["INCRBYFLOAT", "huge", "1.18e4932"],
    ["SET", "t", "1", "EX", 100],
    ["INCRBYFLOAT", "t", "0.25"],
    ["TTL", "t"],  # INCRBYFLOAT keeps the TTL
    ["SET", "p", "1.1"],
    ["INCRBYFLOAT", "p", "2.2"],
    ["INCRBYFLOAT", "p", "-3.3"],
    ["SET", "q", "5.0e3"],
    ["INCRBYFLOAT", "q", "0"],
    ["SET", "r", "123456789012345678"],
    ["INCRBYFLOAT", "r", "1"],
    ["INCRBYFLOAT", "r", "0.000000001"],
    ["INCRBYFLOAT", "r"],
]

SETBIT_GETBIT = [
    ["SETBIT", "b", 7, 1],
    ["SETBIT", "b", 7, 1],
    ["SETBIT", "b", 7, 0],
    ["SETBIT", "b", 100, 1],
    ["GET", "b"],
    ["STRLEN", "b"],
    ["GETBIT", "b", 100],
    ["GETBIT", "b", 99],
    ["GETBIT", "b", 1000000],
    ["GETBIT", "missing", 3],
    ["SETBIT", "b", -1, 1],
    ["SETBIT", "b", "x", 1],
    ["SETBIT", "b", 4294967296, 1],
    ["SETBIT", "b", 1, 2],
    ["SETBIT", "b", 1, -1],
    ["SETBIT", "b", 1, "x"],
    ["SETBIT", "b", "x", "y"],
    ["GETBIT", "b", -1],
    ["GETBIT", "b", 4294967295],
    ["GETBIT", "b", 4294967296],
    ["GETBIT", "b", "1.0"],
    ["SET", "t", "abc", "EX", 100],
    ["SETBIT", "t", 0, 1],
    ["GET", "t"],
    ["TTL", "t"],  # SETBIT keeps the TTL
    ["SET", "n", "7"],
    ["SETBIT", "n", 6, 0],
    ["GET", "n"],
    ["SETBIT", "b", 3],
    ["GETBIT", "b"],
]

BITCOUNT_BITPOS = [
    ["SET", "k", "foobar"],
    ["BITCOUNT", "k"],
    *[["BITCOUNT", "k", a, b] for a, b in [(0, 0), (1, 1), (-2, -1), (-1, -2), (0, -1), (2, 100), (-100, 1), (5, 2)]],
    *[["BITCOUNT", "k", a, b, "BIT"] for a, b in [(5, 30), (0, -1), (-9, -1), (1, 1), (47, 100), (-100, -90)]],
    *[["BITCOUNT", "k", a, b, "BYTE"] for a, b in [(0, 1), (-1, -1)]],
    ["BITCOUNT", "k", 0],
    ["BITCOUNT", "k", 0, 1, "bits"],
    ["BITCOUNT", "k", "x", 1],
    ["BITCOUNT", "k", 0, 1, "BIT", "extra"],
    ["BITCOUNT", "missing"],
    ["BITCOUNT", "missing", 0],
    ["BITCOUNT", "missing", 0, 1, "foo"],
    ["BITCOUNT", "missing", "x", "y"],
    ["SET", "z", b"\xff\xf0\x00"],
    *[["BITPOS", "z", bit, *rest] for bit in (0, 1) for rest in [
        [], [0], [1], [2], [-1], [0, -1], [1, 1], [2, -1], [0, -1, "BIT"], [3, -1, "BIT"], [7, 15, "BIT"],
        [12, 13, "BIT"], [-5, -1, "BIT"], [8, 11, "bit"], [0, 0, "BYTE"], [100], [-100, -50], [3, 2],
    ]],
    ["SET", "ones", b"\xff\xff"],
    ["BITPOS", "ones", 0],
    ["BITPOS", "ones", 0, 0],
    ["BITPOS", "ones", 0, 0, -1],
    ["BITPOS", "ones", 0, 0, -1, "BIT"],
    ["BITPOS", "ones", 0, 3, 9, "BIT"],
    ["SET", "e", ""],
    ["BITPOS", "e", 0],
    ["BITPOS", "e", 1],
    ["BITPOS", "e", 0, 0, -1, "BIT"],
    ["BITCOUNT", "e"],
    ["BITPOS", "missing", 0],
    ["BITPOS", "missing", 1],
    ["BITPOS", "missing", 1, 0, 10, "foo"],
    ["BITPOS", "missing", 2],
    ["BITPOS", "z", 2],
    ["BITPOS", "z", "x"],
    ["BITPOS", "z", 1, "x"],
    ["BITPOS", "z", 1, 0, "x"],
    ["BITPOS", "z", 1, 0, 1, "bat"],
    ["BITPOS", "z", 1, 0, 1, "BIT", "x"],
    ["SET", "num", 255],
    ["BITPOS", "num", 0],
    ["BITCOUNT", "num"],
    ["BITPOS", "z"],
    ["BITCOUNT"],
]

BITOP = [
    ["SET", "a", b"\x0f\xf0"],
    ["SET", "b", b"\xff"],
    ["SET", "c", "abc"],
    ["BITOP", "AND", "d", "a", "b"],
    ["GET", "d"],
    ["BITOP", "or", "d", "a", "b", "c"],
    ["GET", "d"],
    ["BITOP", "XOR", "d", "a", "c", "missing"],
    ["GET", "d"],
    ["BITOP", "NOT", "d", "a"],
    ["GET", "d"],
    ["BITOP", "NOT", "d", "a", "b"],
    ["BITOP", "NOT", "d"],
    ["BITOP", "NAND", "d", "a", "b"],
    ["BITOP", "AND", "d", "missing", "a"],
    ["GET", "d"],
    ["SET", "d", "x", "EX", 100],
    ["BITOP", "AND", "d", "a", "a"],
    ["TTL", "d"],  # the result replaces the value and its TTL
    ["SET", "d", "x"],
    ["BITOP", "OR", "d", "missing", "missing2"],
    ["EXISTS", "d"],  # an empty result removes the destination
    ["BITOP", "AND", "a", "a", "b"],
    ["GET", "a"],
    ["BITOP", "NOT", "e", "missing"],
    ["EXISTS", "e"],
    ["SET", "empty", ""],
    ["BITOP", "OR", "e", "empty"],
    ["EXISTS", "e"],
    ["BITOP", "AND", "d"],
    ["BITOP", "AND"],
]

LCS = [
    ["MSET", "a", "ohmytext", "b", "mynewtext"],
    ["LCS", "a", "b"],
    ["LCS", "a", "b", "LEN"],
    ["LCS", "a", "b", "IDX"],
    ["LCS", "a", "b", "IDX", "MINMATCHLEN", 4],
    ["LCS", "a", "b", "IDX", "MINMATCHLEN", 4, "WITHMATCHLEN"],
    ["LCS", "a", "b", "IDX", "WITHMATCHLEN"],
    ["LCS", "a", "b", "IDX", "MINMATCHLEN", -5],
    ["LCS", "a", "b", "idx", "minmatchlen", 0, "withmatchlen", "idx"],
    ["LCS", "a", "b", "LEN", "IDX"],
    ["LCS", "a", "b", "MINMATCHLEN"],
    ["LCS", "a", "b", "MINMATCHLEN", "x"],
    ["LCS", "a", "b", "FOO"],
    ["LCS", "a", "b", "LEN", "WITHMATCHLEN"],
    ["LCS", "a", "missing"],
    ["LCS", "missing", "missing2", "IDX"],
    ["LCS", "missing", "a", "LEN"],
    ["LCS", "a", "a", "IDX", "WITHMATCHLEN"],
    ["MSET", "x", "ACCGGTCGAGTGCGCGGAAGCCGGCCGAA", "y", "GTCGTTCGGAATGCCGTTGCTCTGTAAA"],
    ["LCS", "x", "y"],
    ["LCS", "x", "y", "IDX", "WITHMATCHLEN"],
    ["LCS", "y", "x", "IDX", "MINMATCHLEN", 2],
    ["MSET", "p", "aaaa", "q", "aa"],
    ["LCS", "p", "q", "IDX", "WITHMATCHLEN"],
    ["SET", "e", ""],
    ["LCS", "e", "a", "IDX"],
    ["LCS", "a"],
]

RENAME_COPY = [
    ["RENAME", "missing", "x"],
    ["RENAMENX", "missing", "x"],
    ["SET", "i", "1"],
    ["RENAME", "i", "i"],
    ["RENAMENX", "i", "i"],
    ["RENAME", "i", "i2"],
    ["EXISTS", "i", "i2"],
    ["SET", "t", "v", "PX", 100000],
    ["RENAME", "t", "u"],
    ["PTTL", "u"],  # RENAME moves the TTL
    ["PEXPIRETIME", "u"],
    ["SET", "w", "old", "EX", 500],
    ["RENAME", "i2", "w"],
    ["TTL", "w"],  # ... and replaces the target's
    ["GET", "w"],
    ["SET", "v1", "a"],
    ["SET", "v2", "b", "EX", 100],
    ["RENAMENX", "v1", "v2"],
    ["RENAMENX", "v1", "v3"],
    ["GET", "v3"],
    ["RENAME", "v2", "v3"],
    ["TTL", "v3"],
    ["COPY", "v3", "c1"],
    ["TTL", "c1"],  # COPY copies the TTL
    ["GET", "c1"],
    ["COPY", "v3", "c1"],
    ["SET", "v3", "new"],
    ["COPY", "v3", "c1", "REPLACE"],
    ["GET", "c1"],
    ["TTL", "c1"],
    ["COPY", "v3", "c1", "REPLACE", "DB", 0],
    ["COPY", "v3", "c1", "DB", 0, "REPLACE"],
    ["COPY", "v3", "c1", "DB", "x"],
    ["COPY", "v3", "v3"],
    ["COPY", "missing", "c2"],
    ["EXISTS", "c2"],
    ["COPY", "v3", "c1", "FOO"],
    ["COPY", "v3", "c1", "DB"],
    ["COPY", "v3", "c1", "REPLACE", "REPLACE"],
    ["SET", "bin", b"\x00\xff\r\n"],
    ["RENAME", "bin", "b\x00in"],
    ["GET", "b\x00in"],
    ["RENAME", "x"],
    ["COPY", "x"],
]

OBJECT = [
    ["OBJECT", "HELP"],
    ["OBJECT", "help"],
    ["OBJECT"],
    ["OBJECT", "FOO"],
    ["OBJECT", "ENCODING"],
    ["OBJECT", "ENCODING", "missing"],
    ["OBJECT", "ENCODING", "missing", "extra"],
    ["OBJECT", "FREQ", "missing"],
    ["OBJECT", "IDLETIME", "missing"],
    ["OBJECT", "REFCOUNT", "missing"],
    *[cmd for i, value in enumerate([
        "123", "-5", "0", "9999", "10000", "0123", " 5", "12345678901234567890", "9223372036854775807",
        "-9223372036854775808", "9223372036854775808", "1.5", "abc", "", "x" * 44, "x" * 45,
    ]) for cmd in (["SET", f"e{i}", value], ["OBJECT", "ENCODING", f"e{i}"], ["OBJECT", "REFCOUNT", f"e{i}"])],
    ["INCR", "n"],
    ["OBJECT", "ENCODING", "n"],
    ["OBJECT", "FREQ", "n"],
    ["OBJECT", "HELP", "extra"],
]

TRANSACTION = [
    ["EXEC"],
    ["DISCARD"],
    ["MULTI"],
    ["MULTI"],  # nested: an error, the transaction goes on
    ["WATCH", "k"],  # inside MULTI: an error, the transaction goes on
    ["SET", "k", 1],
    ["INCR", "k"],
    ["SET", "s", "text"],
    ["INCR", "s"],  # fails when it runs: the others still do
    ["GET", "k"],
    ["MSET", "a", 1, "b", 2],
    ["APPEND", "a", "x"],
    ["APPEND", "a", "y"],
    ["GET", "a"],
    ["RENAME", "b", "c"],
    ["EXPIRE", "c", 100, "NX"],
    ["TTL", "c"],
    ["DBSIZE"],
    ["KEYS", "a"],
    ["PING"],
    ["EXEC"],
    ["EXEC"],
    ["MULTI"],
    ["EXEC"],  # empty
    ["MULTI"],
    ["SET", "x"],  # wrong arity: refused at once, EXEC aborts
    ["SET", "x", 1],
    ["EXEC"],
    ["EXISTS", "x"],
    ["MULTI"],
    ["NOSUCH", "x"],
    ["EXEC"],
    ["MULTI"],
    ["SHUTDOWN"],
    ["EXEC"],
    ["MULTI"],
    ["SET", "y", 1],
    ["EXEC", "extra"],  # EXEC itself refused: the transaction is discarded
    ["EXEC"],
    ["EXISTS", "y"],
    ["MULTI"],
    ["SET", "y", 1],
    ["DISCARD", "extra"],
    ["EXEC"],
    ["MULTI"],
    ["SET", "y", 1],
    ["DISCARD"],
    ["EXISTS", "y"],
    ["WATCH"],
    ["UNWATCH", "x"],
    ["WATCH", "w"],
    ["WATCH", "w", "w2"],
    ["SET", "w", 1],  # this connection's own write counts too
    ["MULTI"],
    ["SET", "z", 1],
    ["EXEC"],
    ["EXISTS", "z"],
    ["WATCH", "w"],
    ["UNWATCH"],
    ["SET", "w", 2],
    ["MULTI"],
    ["SET", "z", 1],
    ["EXEC"],
    ["WATCH", "w", "absent"],
    ["GET", "w"],  # reads do not count
    ["SETNX", "w", 5],  # nor writes that change nothing
    ["EXPIRE", "absent", 10],
    ["DEL", "absent"],
    ["MULTI"],
    ["INCR", "w"],
    ["EXEC"],
    ["WATCH", "w"],
    ["MULTI"],
    ["EXEC"],  # EXEC unwatches: the write below is not seen by the next one
    ["SET", "w", 7],
    ["MULTI"],
    ["GET", "w"],
    ["EXEC"],
    ["WATCH", "f"],
    ["SET", "f", 1],
    ["DISCARD"],
    ["MULTI"],
    ["DISCARD"],  # DISCARD unwatches
    ["MULTI"],
    ["GET", "f"],
    ["EXEC"],
    ["SET", "g", 1],
    ["WATCH", "g"],
    ["FLUSHALL"],
    ["MULTI"],
    ["PING"],
    ["EXEC"],
    ["WATCH", "h"],
    ["FLUSHALL"],  # the key did not exist: nothing changed for it
    ["MULTI"],
    ["PING"],
    ["EXEC"],
    ["MULTI"],
    ["SET", "q", 1],
    ["QUIT"],
]

TYPE = [
    ["SET", "k", "v"],
    ["TYPE", "k"],
    ["TYPE", "missing"],
    ["SET", "t", "v", "PX", 1],
    ["TYPE", "k", "extra"],
]


@pytest.mark.parametrize("script", [GETSET, GETRANGE, SETRANGE, INCRBYFLOAT, TYPE, SETBIT_GETBIT, BITCOUNT_BITPOS, BITOP, LCS],
                         ids=["getset", "getrange", "setrange", "incrbyfloat", "type", "setbit", "bitcount-bitpos", "bitop",
                              "lcs"])
def test_string_commands(pair, script):
    run_script(pair, script)


@pytest.mark.parametrize("script", [RENAME_COPY, OBJECT], ids=["rename-copy", "object"])
def test_keyspace_commands(pair, script):
    run_script(pair, script)


def test_transactions(ttlkv, oracle):
    """MULTI / EXEC / DISCARD / WATCH / UNWATCH on one connection: Redis's
    queuing rules, errors and replies (the script ends with QUIT)."""
    pair = resp.Client(ttlkv.port), resp.Client(oracle.port)
    run_script(pair, TRANSACTION)
    for client in pair:
        client.close()


def test_watch_sees_other_clients_and_expiry(ttlkv, oracle):
    """EXEC fails if another client wrote a watched key, or if it expired,
    since WATCH; a write to another key, or a key absent at WATCH that stays
    absent, does not fail it."""
    for server in (ttlkv, oracle):
        watcher, other = resp.Client(server.port), resp.Client(server.port)
        assert other("FLUSHALL") == "OK"
        assert other("SET", "k", 1) == "OK"
        for write in (["SET", "k", 2], ["DEL", "k"], ["EXPIRE", "k", 100], ["INCR", "k"], ["MSET", "k", 3, "j", 3],
                      ["RENAME", "j", "k"], ["APPEND", "k", "x"], ["SETRANGE", "k", 0, "y"], ["BITOP", "OR", "k", "j"]):
            assert other("SET", "k", 1) == "OK" and other("SET", "j", 5) == "OK"
            assert watcher("WATCH", "k") == "OK"
            other(*write)
            assert watcher("MULTI") == "OK" and watcher("GET", "k") == "QUEUED"
            assert watcher("EXEC") is None, (server, write)
        assert watcher("WATCH", "k", "absent") == "OK"
        assert other("SET", "unrelated", 1) == "OK"
        assert watcher("MULTI") == "OK" and watcher("PING") == "QUEUED"
        assert watcher("EXEC") == ["PONG"]
        # Expiry: the key was live at WATCH and is gone at EXEC.
        assert other("SET", "e", 1, "PX", 1000) == "OK"
        assert watcher("WATCH", "e") == "OK"
        assert other("PTTL", "e") > 0, server  # else the test proves nothing
        time.sleep(1.3)
        assert watcher("MULTI") == "OK" and watcher("PING") == "QUEUED"
        assert watcher("EXEC") is None, server
        # A key with a TTL still live at EXEC does not fail it.
        assert other("SET", "e", 1, "PX", 100_000) == "OK"
        assert watcher("WATCH", "e") == "OK"
        assert watcher("MULTI") == "OK" and watcher("PING") == "QUEUED"
        assert watcher("EXEC") == ["PONG"]
        watcher.close()
        other.close()


def test_exec_in_resp3(ttlkv, oracle):
    for server in (ttlkv, oracle):
        c, other = resp.Client(server.port), resp.Client(server.port)
        assert isinstance(c("HELLO", 3), dict)
        assert c("WATCH", "r3") == "OK" and other("SET", "r3", 1) == "OK"
        assert c("MULTI") == "OK" and c("PING") == "QUEUED"
        c.sock.sendall(resp.encode("EXEC"))
        assert c.file.readline() == b"_\r\n"  # the RESP3 null
        c.close()
        other.close()


def test_keys_matches_as_redis(pair):
    """KEYS with Redis's glob patterns; the order is the table's, so the
    lists are compared sorted."""
    ours, theirs = pair
    keys = [f"user:{i}" for i in range(300)] + ["a", "ab", "abc", "b*c", "h?llo", "hello", "hallo", "x[y]", "\\"]
    for client in pair:
        assert client("FLUSHALL") == "OK"
        assert client("MSET", *[x for key in keys for x in (key, "v")]) == "OK"
        assert client("SET", "gone", "v", "PX", 1) == "OK"
    time.sleep(0.05)
    for pattern in ["*", "user:1*", "user:?", "a*", "?", "h[ae]llo", "h[^e]llo", "b\\*c", "x\\[y]", "*llo", "nomatch*",
                    "[a-b]*", "\\\\", "", "user:*5", "*:*"]:
        got, want = ours("KEYS", pattern), theirs("KEYS", pattern)
        assert sorted(got) == sorted(want), pattern
    for command in (["KEYS"], ["KEYS", "*", "extra"]):
        assert ours(*command) == theirs(*command)
    assert ours("KEYS", "gone*") == theirs("KEYS", "gone*") == []


DUMP_VALUES = [b"12345", b"-1", b"0", b"hello", b"", b"\x00\xff\r\n" * 3, b"a" * 20, b"a" * 21, b"abc" * 1000,
               bytes(range(256)) * 4, b"9223372036854775807", b"9223372036854775808", b"0123", b" 1"]


def test_dump_and_restore(pair):
    """DUMP's payload is Redis's byte for byte, except that ttlkv does not
    compress (Redis LZF-compresses a string over 20 bytes): each server
    restores the other's payloads. RESTORE takes TTL, ABSTTL, REPLACE,
    IDLETIME and FREQ and refuses what Redis refuses, with its errors, in
    its order."""
    ours, theirs = pair
    for client in pair:
        assert client("FLUSHALL") == "OK"
    for i, value in enumerate(DUMP_VALUES):
        for client in pair:
            assert client("SET", f"d{i}", value) == "OK"
        mine, redis = ours("DUMP", f"d{i}"), theirs("DUMP", f"d{i}")
        if len(value) <= 20:
            assert mine == redis, value
        for payload in (mine, redis):
            for client in pair:
                assert client("RESTORE", f"r{i}", 0, payload, "REPLACE") == "OK"
                assert client("GET", f"r{i}") == value
                assert client("TTL", f"r{i}") == -1
    payload = theirs("DUMP", "d3")
    script = [
        ["DUMP", "missing"],
        ["RESTORE", "r3", 0, payload],
        ["RESTORE", "r3", 0, payload, "REPLACE"],
        ["RESTORE", "t", 5000, payload],
        ["PTTL", "t"],
        ["RESTORE", "a", int(time.time() * 1000) + 100000, payload, "ABSTTL"],
        ["PEXPIRETIME", "a"],
        ["RESTORE", "past", int(time.time() * 1000) - 100000, payload, "ABSTTL"],
        ["EXISTS", "past"],
        ["RESTORE", "r0", 1, payload, "ABSTTL", "REPLACE"],  # expired at once: the old key goes too
        ["EXISTS", "r0"],
        ["RESTORE", "i", 0, payload, "IDLETIME", 100],
        ["RESTORE", "f", 0, payload, "FREQ", 5],
        ["RESTORE", "x", 0, payload, "IDLETIME", -1],
        ["RESTORE", "x", 0, payload, "FREQ", 256],
        ["RESTORE", "x", 0, payload, "FREQ", -1],
        ["RESTORE", "x", 0, payload, "IDLETIME", 1, "FREQ", 1],
        ["RESTORE", "x", 0, payload, "FREQ", 1, "IDLETIME", 1],
        ["RESTORE", "x", 0, payload, "IDLETIME"],
        ["RESTORE", "x", 0, payload, "IDLETIME", "x"],
        ["RESTORE", "x", 0, payload, "FOO"],
        ["RESTORE", "x", -1, payload],
        ["RESTORE", "x", "abc", payload],
        ["RESTORE", "t", "abc", payload],
        ["RESTORE", "x", 0, b"bad"],
        ["RESTORE", "x", 0, payload[:-1] + bytes([payload[-1] ^ 1])],
        ["RESTORE", "x", 0, payload[:-10] + b"\xff\x7f" + payload[-8:]],
        ["RESTORE", "t", 0, b"bad"],
        ["RESTORE", "t", 0, b"bad", "REPLACE"],
        ["RESTORE", "x", 0],
        ["EXISTS", "x"],
    ]
    run_script_kept(pair, script)


NEW_COMMANDS = ["getset", "getrange", "substr", "setrange", "incrbyfloat", "type",
                "setbit", "getbit", "bitcount", "bitpos", "bitop", "lcs", "rename", "renamenx", "copy", "randomkey",
                "dump", "restore", "object", "keys", "multi", "exec", "discard", "watch", "unwatch"]


def test_command_info_of_new_commands(pair):
    """Name, arity, flags, key positions and ACL categories as Redis 7
    reports them (and those of a container's subcommands), for clients that
    route by key or check a command."""
    ours, theirs = pair
    got, want = ours("COMMAND", "INFO", *NEW_COMMANDS), theirs("COMMAND", "INFO", *NEW_COMMANDS)
    for name, mine, redis in zip(NEW_COMMANDS, got, want):
        assert mine is not None, name
        assert mine[:7] == redis[:7], name
        assert sorted(sub[:7] for sub in mine[9]) == sorted(sub[:7] for sub in redis[9]), name
