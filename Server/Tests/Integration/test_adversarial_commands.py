"""The commands of issue 21 attacked as a careless or hostile user would:
values grown to the size limit by SETRANGE and SETBIT, LCS on strings too
big for its table, BITOP over a hundred thousand keys, a transaction of a
million commands, a queue past its limit, WATCH on many keys again and
again. Every memory bound is a number the server's peak resident size must
stay under, and a bystander is served throughout."""
import time

import resp
import servers
from bystander import Bystander
from test_adversarial import MIB, reset_peak, settle

LIMIT = 512 * MIB  # proto-max-bulk-len, the largest value


def test_values_grown_to_the_limit():
    """SETRANGE and SETBIT at the last byte a value may hold make values of
    exactly 512 MiB (one allocation each, not one per step), one byte past
    it is refused with the store unchanged, and reads at huge offsets stay
    cheap."""
    server = servers.ttlkv_server()
    try:
        c = resp.Client(server.port, timeout=300)
        bystander = Bystander(server.port)
        bystander.start()
        before = settle(server)
        reset_peak(server)
        assert c("SETRANGE", "r", LIMIT - 1, "x") == LIMIT
        assert c("SETBIT", "b", LIMIT * 8 - 1, 1) == 0
        assert c("SET", "t", "small", "EX", 1000) == "OK"
        assert c("SETRANGE", "r", LIMIT, "x") == resp.Error(b"ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        assert c("SETRANGE", "r", LIMIT - 1, "xy") == resp.Error(b"ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        assert c("SETBIT", "b", LIMIT * 8, 1) == resp.Error(b"ERR bit offset is not an integer or out of range")
        assert c("SETRANGE", "t", 2**62, "x") == resp.Error(b"ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        assert c("GET", "t") == b"small" and 0 < c("TTL", "t") <= 1000
        grown = server.rss("VmHWM") - before
        assert c("STRLEN", "r") == LIMIT and c("STRLEN", "b") == LIMIT
        assert c("GETRANGE", "r", LIMIT - 1, 2**63 - 1) == b"x"
        assert c("GETRANGE", "r", -(2**63), 0) == b"\x00"
        assert c("GETBIT", "b", LIMIT * 8 - 1) == 1
        assert c("BITCOUNT", "b") == 1
        assert c("BITPOS", "b", 1) == LIMIT * 8 - 1
        assert c("BITPOS", "r", 1, -1) == (LIMIT - 1) * 8 + 1  # 'x' = 0b01111000
        print(f"two 512 MiB values: peak RSS +{grown / MIB:.0f} MiB")
        # The two values, and little else: no copy per padding step.
        assert grown < 2 * LIMIT + 200 * MIB
        assert c("DEL", "r", "b") == 2
        bystander.finish()
    finally:
        assert server.stop() == 0


def test_lcs_is_bounded_as_redis_bounds_it():
    """LCS's table may not pass proto-max-bulk-len (here 64 MiB): two
    strings whose table would are refused at once, with Redis's error, LEN
    included; the largest allowed table costs about its own size."""
    server = servers.ttlkv_server("--proto-max-bulk-len", 64 * MIB)
    try:
        c = resp.Client(server.port, timeout=300)
        assert c("SET", "a", b"ab" * 2500) == "OK" and c("SET", "b", b"ba" * 2500) == "OK"
        error = resp.Error(b"ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
        start = time.time()
        assert c("LCS", "a", "b") == error
        assert c("LCS", "a", "b", "LEN") == error
        assert time.time() - start < 1
        # 3,000 x 3,000: a 36 MB table.
        assert c("SET", "a", b"ab" * 1500) == "OK" and c("SET", "b", b"ba" * 1500) == "OK"
        before = settle(server)
        reset_peak(server)
        assert c("LCS", "a", "b", "LEN") == 2999
        assert len(c("LCS", "a", "b")) == 2999
        grown = server.rss("VmHWM") - before
        print(f"LCS of 3,000 x 3,000 bytes: peak RSS +{grown / MIB:.0f} MiB")
        assert grown < 64 * MIB
    finally:
        assert server.stop() == 0


def test_bitop_over_a_hundred_thousand_keys():
    """BITOP OR over 100,000 one-byte keys, and over a million arguments
    (most of them missing keys): correct, and the work and memory follow
    the keys' total length, not their number times the longest."""
    server = servers.ttlkv_server("--capacity", 300_000)
    try:
        c = resp.Client(server.port, timeout=300)
        keys = [b"bit:%d" % i for i in range(100_000)]
        for start in range(0, len(keys), 10_000):
            assert c("MSET", *[x for i in range(start, start + 10_000) for x in (keys[i], bytes([1 << (i % 8)]))]) == "OK"
        assert c("SET", "long", b"\x00" * 1_000_000) == "OK"
        before = settle(server)
        reset_peak(server)
        assert c("BITOP", "OR", "dest", *keys) == 1
        assert c("GET", "dest") == b"\xff"
        assert c("BITOP", "AND", "dest", "long", *keys) == 1_000_000
        assert c("BITCOUNT", "dest") == 0
        missing = [b"missing:%d" % i for i in range(1_000_000)]
        assert c("BITOP", "XOR", "dest", *keys[:8], *missing) == 1
        assert c("GET", "dest") == b"\xff"
        grown = server.rss("VmHWM") - before
        print(f"BITOP over 100,000 and 1,000,008 keys: peak RSS +{grown / MIB:.0f} MiB")
        assert grown < 400 * MIB
    finally:
        assert server.stop() == 0


def test_a_transaction_of_a_million_commands():
    """MULTI, a million INCRs, EXEC: every one runs, in one step, and the
    queue costs tens of bytes a command."""
    server = servers.ttlkv_server()
    try:
        c = resp.Client(server.port, timeout=600)
        before = settle(server)
        reset_peak(server)
        assert c("MULTI") == "OK"
        batch = [("INCR", "counter")] * 10_000
        for _ in range(100):
            assert set(c.pipeline(batch)) == {"QUEUED"}
        start = time.time()
        replies = c("EXEC")
        took = time.time() - start
        assert replies == list(range(1, 1_000_001))
        assert c("GET", "counter") == b"1000000"
        grown = server.rss("VmHWM") - before
        print(f"a transaction of 1M INCRs: EXEC {took:.2f} s, peak RSS +{grown / MIB:.0f} MiB")
        assert grown < 500 * MIB
    finally:
        assert server.stop() == 0


def test_a_queue_past_its_limit():
    """With --client-query-buffer-limit 1mb, a transaction queuing 5 MB:
    the commands past the limit are refused, EXEC aborts and runs nothing,
    and the connection goes on."""
    server = servers.ttlkv_server("--client-query-buffer-limit", MIB)
    try:
        c = resp.Client(server.port, timeout=60)
        assert c("MULTI") == "OK"
        replies = c.pipeline([("SET", b"q:%d" % i, b"v" * 1000) for i in range(5000)])
        queued = replies.count("QUEUED")
        refused = [r for r in replies if r != "QUEUED"]
        assert 900 < queued < 1100
        assert set(refused) == {resp.Error(b"ERR MULTI queue full: its commands would pass client-query-buffer-limit")}
        assert c("EXEC") == resp.Error(b"EXECABORT Transaction discarded because of previous errors.")
        assert c("DBSIZE") == 0
        assert c("PING") == "PONG"
    finally:
        assert server.stop() == 0


def test_watching_many_keys_again_and_again():
    """WATCH of 10,000 keys, then UNWATCH, 100 times, and connections that
    leave while watching: nothing accumulates, and writes stay correct."""
    server = servers.ttlkv_server()
    try:
        c = resp.Client(server.port, timeout=60)
        keys = [b"w:%d" % i for i in range(10_000)]
        assert c("WATCH", *keys) == "OK"
        assert c("UNWATCH") == "OK"
        before = settle(server)
        for round_ in range(100):
            assert c("WATCH", *keys) == "OK"
            assert c("SET", keys[round_], round_) == "OK"
            assert c("MULTI") == "OK" and c("PING") == "QUEUED"
            assert c("EXEC") is None
            leaving = resp.Client(server.port)
            assert leaving("WATCH", *keys[:1000]) == "OK"
            leaving.close()
        assert c("WATCH", *keys) == "OK" and c("UNWATCH") == "OK"
        assert c("MULTI") == "OK" and c("SET", "after", 1) == "QUEUED"
        assert c("EXEC") == ["OK"]
        grown = settle(server) - before
        print(f"100 rounds of WATCH over 10,000 keys: RSS +{grown / MIB:.0f} MiB")
        assert grown < 32 * MIB
    finally:
        assert server.stop() == 0
