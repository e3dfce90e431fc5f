"""Fixed cases against redis-server 7, side by side: each script of
commands (edge cases: negative and huge offsets, padding, empty values,
missing keys, every argument error in Redis's order) goes to both servers,
and every reply must be the same, errors included. TTL rules are checked
with PTTL and PEXPIRETIME (within a tolerance, as two clocks tell them).
The random sequences of test_differential.py cover the same commands in
random orders; these pin the corners down."""
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


def run_script(pair, script):
    ours, theirs = pair
    for client in pair:
        assert client("FLUSHALL") == "OK"
    for command in script:
        command = [arg(a) for a in command]
        got, want = ours(*command), theirs(*command)
        if command[0].upper() in TIME_VALUED and isinstance(got, int) and isinstance(want, int) and got >= 0:
            assert abs(got - want) <= (1 if command[0].upper() in (b"TTL", b"EXPIRETIME") else TTL_TOLERANCE_MS), command
            continue
        assert got == want, f"{command!r}\n ttlkv: {got!r}\n redis: {want!r}"


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

TYPE = [
    ["SET", "k", "v"],
    ["TYPE", "k"],
    ["TYPE", "missing"],
    ["SET", "t", "v", "PX", 1],
    ["TYPE", "k", "extra"],
]


@pytest.mark.parametrize("script", [GETSET, GETRANGE, SETRANGE, INCRBYFLOAT, TYPE],
                         ids=["getset", "getrange", "setrange", "incrbyfloat", "type"])
def test_string_commands(pair, script):
    run_script(pair, script)


NEW_COMMANDS = ["getset", "getrange", "substr", "setrange", "incrbyfloat", "type"]


def test_command_info_of_new_commands(pair):
    """Name, arity, flags, key positions and ACL categories as Redis 7
    reports them, for clients that route by key or check a command."""
    ours, theirs = pair
    got, want = ours("COMMAND", "INFO", *NEW_COMMANDS), theirs("COMMAND", "INFO", *NEW_COMMANDS)
    for name, mine, redis in zip(NEW_COMMANDS, got, want):
        assert mine is not None, name
        assert mine[:7] == redis[:7], name
