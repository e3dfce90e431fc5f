"""Absolute deadlines (issue 21): a Unix time a client gives (EXPIREAT,
PEXPIREAT, SET/GETEX EXAT and PXAT, RESTORE ABSTTL) comes back exactly from
EXPIRETIME and PEXPIRETIME, and every expire time Redis 7 accepts is
accepted. The same assertions run against redis-server 7, except the one
deliberate difference: a deadline more than 100 years ahead is kept as 100
years ahead (the store's longest TTL), where Redis keeps it as given."""
import time

import pytest
import resp

HUNDRED_YEARS_MS = 3_155_760_000_000


@pytest.fixture
def c(either):
    client = resp.Client(either.port)
    assert client("FLUSHALL") == "OK"
    yield client
    client.close()


def test_pexpireat_comes_back_exactly(c):
    now = int(time.time() * 1000)
    for offset in [1_000, 100_007, 86_400_001, 3_333_333_333, 5 * 365 * 86_400_000 + 123]:
        assert c("SET", "k", "v") == "OK"
        assert c("PEXPIREAT", "k", now + offset) == 1
        assert c("PEXPIRETIME", "k") == now + offset, offset
        assert c("EXPIRETIME", "k") == (now + offset + 500) // 1000


def test_expireat_comes_back_exactly(c):
    now = int(time.time())
    for offset in [2, 101, 86_401, 10 * 365 * 86_400]:
        assert c("SET", "k", "v") == "OK"
        assert c("EXPIREAT", "k", now + offset) == 1
        assert c("EXPIRETIME", "k") == now + offset
        assert c("PEXPIRETIME", "k") == (now + offset) * 1000


def test_set_and_getex_absolute_options_come_back_exactly(c):
    now = int(time.time() * 1000)
    assert c("SET", "a", "v", "PXAT", now + 12_345) == "OK"
    assert c("PEXPIRETIME", "a") == now + 12_345
    assert c("SET", "b", "v", "EXAT", now // 1000 + 77) == "OK"
    assert c("EXPIRETIME", "b") == now // 1000 + 77
    assert c("SET", "c", "v", "NX", "PXAT", now + 54_321) == "OK"
    assert c("PEXPIRETIME", "c") == now + 54_321
    assert c("GETEX", "c", "PXAT", now + 99_999) == b"v"
    assert c("PEXPIRETIME", "c") == now + 99_999
    assert c("GETEX", "c", "EXAT", now // 1000 + 500) == b"v"
    assert c("EXPIRETIME", "c") == now // 1000 + 500
    # A relative TTL becomes a deadline that is read back the same way
    # every time: EXPIRETIME does not drift with the clock.
    assert c("SET", "d", "v", "PX", 60_000) == "OK"
    first = c("PEXPIRETIME", "d")
    assert abs(first - (time.time() * 1000 + 60_000)) < 1_000
    time.sleep(0.02)
    assert c("PEXPIRETIME", "d") == first


def test_far_deadlines_are_accepted(c):
    now_ms = int(time.time() * 1000)
    far = [
        ("PEXPIREAT", now_ms + 200 * 365 * 86_400_000),
        ("PEXPIREAT", 9223372036854775807),
        ("EXPIREAT", 9223372036854775),
        ("PEXPIRE", 9223372036854775807 - now_ms - 10_000),
        ("EXPIRE", 9223372036854),
    ]
    for name, when in far:
        assert c("SET", "k", "v") == "OK"
        assert c(name, "k", when) == 1, name
        assert c("TTL", "k") > 99 * 365 * 86_400
        assert c("PEXPIRETIME", "k") >= now_ms + HUNDRED_YEARS_MS - 1_000
    for option, when in [("PXAT", 9223372036854775807), ("EXAT", 9223372036854775), ("EX", 9223372036854)]:
        assert c("SET", "k", "v", option, when) == "OK", option
        assert c("TTL", "k") > 99 * 365 * 86_400
    assert c("GETEX", "k", "PXAT", 9223372036854775807) == b"v"
    assert c("SETEX", "s", 9223372036854, "v") == "OK"
    assert c("TTL", "s") > 99 * 365 * 86_400
    # What Redis refuses stays refused.
    assert c("EXPIREAT", "k", 9223372036854776) == resp.Error(b"ERR invalid expire time in 'expireat' command")
    assert c("SET", "k", "v", "PX", 9223372036854775807) == resp.Error(b"ERR invalid expire time in 'set' command")
    assert c("PEXPIRE", "k", 9223372036854775807) == resp.Error(b"ERR invalid expire time in 'pexpire' command")
    # A time far in the past removes the key.
    assert c("PEXPIREAT", "k", -9223372036854775808) == 1
    assert c("EXISTS", "k") == 0
