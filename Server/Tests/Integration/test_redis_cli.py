"""redis-cli against ttlkv-server, its output compared with the output of the
same invocation against redis-server 7: one-shot commands through every
command of the issue, RESP3 (-3), --scan, --pipe mass insertion, -r
repetition, and AUTH with -a."""
import subprocess
import time

import pytest

import servers

# One redis-cli invocation per line; the output of each must be the same on
# both servers. Values that depend on time or identity are left out here and
# checked by test_commands.py.
SCRIPT = [
    ["PING"], ["PING", "hi"], ["ECHO", "x y"], ["SELECT", "0"], ["SELECT", "x"],
    ["SET", "k", "v"], ["GET", "k"], ["GET", "nope"], ["SET", "k", "w", "NX"], ["SET", "k", "w", "XX", "GET"],
    ["SET", "k", "v", "KEEPTTL", "KEEPTTL", "NX", "NX", "GET", "GET"], ["SET", "k", "v", "EX", "10", "KEEPTTL"],
    ["SET", "k", "v", "KEEPTTL", "PX", "10"], ["SET", "k", "v", "EX", "5", "EX", "5"], ["GETEX", "k", "PERSIST", "PERSIST"],
    ["GETEX", "k", "PERSIST", "EX", "5"], ["GETEX", "k", "PX", "5000", "PERSIST"], ["GET", "k"],
    ["SET", "k", "v", "EX", "0"], ["SET", "k", "v", "PX", "1", "EX", "2"], ["SET", "k", "v", "BOGUS"],
    ["SETEX", "e", "100", "v"], ["TTL", "e"], ["PSETEX", "e", "0", "v"], ["SETNX", "k", "z"], ["SETNX", "n1", "z"],
    ["GETEX", "k"], ["GETEX", "k", "PERSIST"], ["GETEX", "k", "EX", "abc"], ["GETDEL", "n1"], ["GETDEL", "n1"],
    ["MSET", "a", "1", "b", "2"], ["MGET", "a", "b", "c"], ["MSETNX", "a", "9", "c", "9"], ["MSET", "a"],
    ["DEL", "a", "c"], ["UNLINK", "b"], ["EXISTS", "k", "k", "a"], ["TOUCH", "k", "a"],
    ["EXPIRE", "k", "100"], ["TTL", "k"], ["EXPIRE", "k", "10", "NX"], ["EXPIRE", "k", "10", "XX", "NX"],
    ["EXPIRE", "k", "10", "GT", "LT"], ["EXPIRE", "k", "10", "FOO"], ["PEXPIRE", "k", "abc"],
    ["EXPIREAT", "k", "9223372036854775807"], ["PERSIST", "k"], ["PERSIST", "k"], ["TTL", "k"], ["PTTL", "nope"],
    ["EXPIRETIME", "k"], ["PEXPIRETIME", "nope"],
    ["INCR", "n"], ["INCRBY", "n", "10"], ["DECR", "n"], ["DECRBY", "n", "5"], ["INCRBY", "n", "x"],
    ["INCR", "k"], ["SET", "big", "9223372036854775807"], ["INCR", "big"], ["DECRBY", "n", "-9223372036854775808"],
    ["APPEND", "s", "ab"], ["APPEND", "s", "cd"], ["STRLEN", "s"], ["STRLEN", "nope"],
    ["DBSIZE"], ["SCAN", "x"], ["SCAN", "0", "COUNT", "0"], ["SCAN", "0", "MATCH"],
    ["CLIENT", "SETNAME", "cli"], ["CLIENT", "GETNAME"], ["CLIENT", "SETNAME", "a b"], ["CLIENT", "BOGUS"],
    ["CLIENT", "ID", "x"], ["AUTH", "x"], ["AUTH", "u", "p"], ["HELLO", "4"], ["HELLO", "x"],
    ["SHUTDOWN", "ABORT"], ["SHUTDOWN", "BOGUS"], ["FLUSHDB", "BOGUS"], ["NOSUCH", "a", "b"], ["GET"],
    ["SHUTDOWN", "NOSAVE", "SAVE"], ["SHUTDOWN", "ABORT", "NOW"], ["HELLO", "2", "SETNAME"], ["HELLO", "-1"],
    ["SET", "k", "v", "EX", "9223372036854776"], ["SET", "k", "v", "PXAT", "-5"], ["SETEX", "k", "9223372036854776", "v"],
    ["GETEX", "k", "PX", "0"], ["GETEX", "k", "EXAT", "-1"], ["EXPIRE", "k", "10", "XX", "GT"], ["EXPIRE", "k", "1.5"],
    ["EXPIRE", "k", "-9223372036854776"], ["INCRBY", "k", "9223372036854775808"], ["MSETNX", "k", "v", "k"],
    ["SCAN", "0", "COUNT", "-1"], ["SCAN", "0", "MATCH", "a", "MATCH", "b", "COUNT", "100000"], ["SCAN", "18446744073709551616"],
    # An expiry that overflows is refused before NX/XX decide anything; GETEX
    # and absolute times look at the key first, as in Redis.
    ["SET", "nope", "v", "XX", "PX", "9223372036854775807"], ["SET", "nope", "v", "NX", "PX", "9223372036854775807"],
    ["SET", "nope", "v", "XX", "EX", "9223372036854775"], ["SET", "nope", "v", "XX", "GET", "PX", "9223372036854775807"],
    ["SET", "nope", "v", "XX", "PXAT", "9223372036854775807"], ["GETEX", "nope", "PX", "9223372036854775807"],
    ["FLUSHALL"], ["DBSIZE"],
    # Any cursor strtoul reads is accepted (test_commands.py tries more).
    ["SCAN", "18446744073709551615"], ["SCAN", "-1"], ["SCAN", "+"], ["SCAN", " 1"],
]


def cli(port, *args, stdin=None):
    return subprocess.run(["redis-cli", "-p", str(port), *args], input=stdin, capture_output=True, timeout=60).stdout


@pytest.fixture(scope="module")
def pair(ttlkv, oracle):
    return ttlkv.port, oracle.port


def test_script_gives_the_same_output(pair):
    mismatches = []
    for command in SCRIPT:
        got, want = (cli(port, *command) for port in pair)
        if got != want:
            mismatches.append((command, got, want))
    assert mismatches == []


def test_resp3_mode(pair):
    for port in pair:
        cli(port, "SET", "r3", "v")
    outputs = [cli(port, "-3", "MGET", "r3", "nope") for port in pair]
    assert outputs[0] == outputs[1] == b"v\n\n"


def test_scan_and_pipe(pair):
    # --pipe mass insertion: 20,000 SETs as one raw RESP stream.
    stream = b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\nv\r\n" % (len(k), k)
                      for k in (b"bulk:%d" % i for i in range(20_000)))
    for port in pair:
        out = cli(port, "--pipe", stdin=stream)
        assert b"errors: 0, replies: 20000" in out
    keys = [sorted(cli(port, "--scan", "--pattern", "bulk:1*").split()) for port in pair]
    assert keys[0] == keys[1]
    assert len(keys[0]) == 11_111


def test_repeat(pair):
    for port in pair:
        cli(port, "DEL", "counter")
        cli(port, "-r", "100", "INCR", "counter")
    assert cli(pair[0], "GET", "counter") == cli(pair[1], "GET", "counter") == b"100\n"


def test_password():
    """The same invocations against both servers with a password: output and
    error output alike."""
    ours, theirs = servers.ttlkv_server("--requirepass", "s3cret"), servers.redis_server("--requirepass", "s3cret")
    invocations = [
        ["GET", "x"],
        ["--no-auth-warning", "-a", "wrong", "PING"],
        ["--no-auth-warning", "-a", "s3cret", "PING"],
        ["--no-auth-warning", "--user", "default", "--pass", "s3cret", "-3", "PING"],
        ["--no-auth-warning", "--user", "nobody", "--pass", "s3cret", "PING"],
        ["HELLO", "3"], ["AUTH", "wrong"], ["QUIT"],
    ]
    try:
        for args in invocations:
            got, want = (subprocess.run(["redis-cli", "-p", str(s.port), *args], capture_output=True, timeout=60)
                         for s in (ours, theirs))
            assert (got.stdout, got.stderr) == (want.stdout, want.stderr), args
    finally:
        theirs.stop()
        assert ours.stop() == 0
