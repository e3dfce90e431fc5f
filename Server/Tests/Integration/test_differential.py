"""Differential test: redis-server 7 is the oracle. The same random command
sequences (seeded, so a failure can be replayed) go to redis-server and to
ttlkv-server, and every reply is compared: exactly, except time-valued
replies (TTL, PTTL, EXPIRETIME, PEXPIRETIME), which must agree within a
tolerance.

TTLs are short (60 ms to a few seconds) and the sequence sleeps now and
then, so keys expire while it runs. Two things are kept away from the
instant a key expires, where two servers with two clocks could both be
right and still disagree: before a command touches a key that either
server says will expire within GUARD_MS (a second for a whole SCAN pass),
the test waits until it has expired on both; and EXPIRE ... GT/LT is given a deadline clearly apart from the
key's current one. Deliberate differences (docs/server.md) are not generated:
SELECT of another database, DBSIZE while expired keys wait for removal,
INFO, TIME, CLIENT ID; OBJECT ENCODING's raw or embstr where Redis's
follows the value's history is accepted for our int or embstr. RANDOMKEY must name a key of its
own server's, or be nil on both; DUMP payloads of both servers are restored
on both. TTLs over 100 years are, and a time-valued reply of
Redis's beyond 100 years must be ours kept at 100 years."""
import os
import random
import time

import pytest

import resp

GUARD_MS = 100
# A full SCAN pass takes several round trips on each server: a wider margin.
SCAN_GUARD_MS = 1000
TTL_TOLERANCE_MS = 50
SEEDS = [int(s) for s in os.environ.get("DIFF_SEEDS", "1,2,3").split(",")]
STEPS = int(os.environ.get("DIFF_STEPS", "800"))

KEYS = [b"k%d" % i for i in range(8)]
VALUES = [b"v", b"", b"12", b"-3", b"abc", b"9223372036854775806", b"hello world", b"0"]
TTL_MS = [60, 150, 400, 2500, 100000]
TTL_S = [1, 3, 100]
# Beyond the store's 100 years, which ttlkv keeps as 100 years.
FAR_S = 9_000_000_000
HUNDRED_YEARS_MS = 3_155_760_000_000
FLOATS = [b"1.5", b"-0.25", b"3", b"1e3", b"x", b"inf", b"0.1"]


class Generator:
    def __init__(self, rng, oracle):
        self.rng = rng
        self.oracle = oracle

    def key(self):
        return self.rng.choice(KEYS)

    def value(self):
        return self.rng.choice(VALUES)

    def expiry_option(self, absolute_ok=True):
        r = self.rng
        kind = r.choice(["EX", "PX", "EXAT", "PXAT"] if absolute_ok else ["EX", "PX"])
        now = time.time()
        if kind == "EX":
            return [b"EX", r.choice(TTL_S + [FAR_S])]
        if kind == "PX":
            return [b"PX", r.choice(TTL_MS)]
        if kind == "EXAT":
            return [b"EXAT", int(now) + r.choice([-10, 3, 100])]
        return [b"PXAT", int(now * 1000) + r.choice([-1000, 300, 5000, 100000])]

    def expire(self):
        r = self.rng
        name = r.choice([b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT"])
        key = self.key()
        now_ms = time.time() * 1000
        if name == b"EXPIRE":
            amount = r.choice(TTL_S + [-1, 0, FAR_S])
            deadline = now_ms + amount * 1000
        elif name == b"PEXPIRE":
            amount = r.choice(TTL_MS + [-5])
            deadline = now_ms + amount
        elif name == b"EXPIREAT":
            amount = int(now_ms / 1000) + r.choice([-5, 2, 100])
            deadline = amount * 1000
        else:
            amount = int(now_ms) + r.choice([-100, 500, 100000])
            deadline = amount
        flags = r.choice([[], [], [b"NX"], [b"XX"], [b"GT"], [b"LT"], [b"NX", b"XX"], [b"GT", b"LT"], [b"BOGUS"]])
        if b"GT" in flags or b"LT" in flags:
            current = self.oracle("PTTL", key)
            if current > 0 and abs(now_ms + current - deadline) < 150:
                return None  # too close to call: skip
        return [name, key, amount, *flags]

    def command(self):
        r = self.rng
        k, v = self.key(), self.value()
        choice = r.randrange(56)
        if choice < 3:
            return [b"GET", k]
        if choice < 6:
            opts = []
            if r.random() < 0.3:
                opts.append(r.choice([b"NX", b"XX"]))
            if r.random() < 0.3:
                opts.append(b"GET")
            if r.random() < 0.5:
                opts += self.expiry_option()
            elif r.random() < 0.2:
                opts.append(b"KEEPTTL")
            r.shuffle(opts)
            return [b"SET", k, v, *opts]
        if choice == 6:
            return [b"SETEX", k, r.choice(TTL_S + [0]), v]
        if choice == 7:
            return [b"PSETEX", k, r.choice(TTL_MS + [-1]), v]
        if choice == 8:
            return [b"SETNX", k, v]
        if choice == 9:
            opts = r.choice([[], [b"PERSIST"], self.expiry_option(), [b"PERSIST", b"EX", 5]])
            return [b"GETEX", k, *opts]
        if choice == 10:
            return [b"GETDEL", k]
        if choice == 11:
            return [b"MGET", *r.sample(KEYS, r.randint(1, 4))]
        if choice == 12:
            keys = r.sample(KEYS, r.randint(1, 3))
            return [b"MSET", *[x for key in keys for x in (key, self.value())]]
        if choice == 13:
            keys = r.sample(KEYS, r.randint(1, 3))
            return [b"MSETNX", *[x for key in keys for x in (key, self.value())]]
        if choice == 14:
            return [r.choice([b"DEL", b"UNLINK"]), *r.sample(KEYS, r.randint(1, 3))]
        if choice == 15:
            return [r.choice([b"EXISTS", b"TOUCH"]), *[self.key() for _ in range(r.randint(1, 3))]]
        if choice < 20:
            return self.expire()
        if choice < 23:
            return [r.choice([b"TTL", b"PTTL", b"EXPIRETIME", b"PEXPIRETIME"]), k]
        if choice == 23:
            return [b"PERSIST", k]
        if choice < 27:
            name = r.choice([b"INCR", b"DECR", b"INCRBY", b"DECRBY"])
            if name in (b"INCRBY", b"DECRBY"):
                return [name, k, r.choice([b"5", b"-7", b"x", b"9223372036854775807"])]
            return [name, k]
        if choice == 27:
            return [b"APPEND", k, v]
        if choice == 28:
            return [b"STRLEN", k]
        if choice == 29:
            return r.choice([[b"PING"], [b"ECHO", v], [b"GET"], [b"NOSUCH", k], [b"SET", k], [b"SELECT", 0]])
        if choice == 30:
            return [b"SCAN-ALL", r.choice([b"*", b"k[0-3]", b"k?", b"x*"])]
        if choice < 33:
            return [b"SLEEP", r.choice([10, 40, 90])]
        if choice < 40:
            return self.string_edit(k, v)
        if choice < 46:
            return self.bits(k)
        if choice < 52:
            return self.keyspace(k)
        return self.transaction()

    PSEUDO = (b"SLEEP", b"SCAN-ALL", b"KEYS", b"DUMP-RESTORE", b"ROUND-TRIP", b"RANDOMKEY", b"TX")

    def transaction(self):
        """MULTI, a few commands, EXEC or DISCARD; sometimes a WATCH first,
        and a write of the watched key between WATCH and EXEC."""
        r = self.rng
        body = []
        while len(body) < r.randint(1, 4):
            command = self.command()
            if command is not None and command[0] not in self.PSEUDO:
                body.append(command)
        watched = self.key() if r.random() < 0.4 else None
        before = [[b"WATCH", watched]] + ([[b"SET", watched, b"w"]] if r.random() < 0.5 else []) if watched else []
        return [b"TX", before, body, r.choice([b"EXEC", b"EXEC", b"EXEC", b"DISCARD"])]

    def keyspace(self, k):
        r = self.rng
        other = self.key()
        return r.choice([
            [b"RENAME", k, other],
            [b"RENAMENX", k, other],
            [b"COPY", k, other] + r.choice([[], [b"REPLACE"]]),
            [r.choice([b"DUMP-RESTORE", b"ROUND-TRIP"]), k, other, r.choice([0, 0, 5000, 100])]
            + r.choice([[], [b"REPLACE"], [b"REPLACE", b"ABSTTL"]]),
            [b"KEYS", r.choice([b"*", b"k[0-3]", b"k?", b"x*"])],
            [b"OBJECT", b"ENCODING", k],
            [b"RANDOMKEY"],
        ])

    def bits(self, k):
        r = self.rng
        unit = r.choice([[], [], [b"BIT"], [b"BYTE"]])
        start, end = r.choice([0, 1, -1, 5, -20]), r.choice([0, 2, -1, 40, -3])
        return r.choice([
            [b"SETBIT", k, r.choice([0, 7, 9, 63, 100]), r.randint(0, 1)],
            [b"GETBIT", k, r.choice([0, 1, 7, 9, 1000])],
            [b"BITCOUNT", k] + ([start, end] + unit if r.random() < 0.7 else []),
            [b"BITPOS", k, r.randint(0, 1)] + r.choice([[], [start], [start, end], [start, end] + unit]),
            [b"BITOP", r.choice([b"AND", b"OR", b"XOR"]), k, *r.sample(KEYS, r.randint(1, 3))],
            [b"BITOP", b"NOT", k, self.key()],
        ])

    def string_edit(self, k, v):
        r = self.rng
        offset = r.choice([0, 1, 3, 7, -2, 20])
        return r.choice([
            [b"GETSET", k, v],
            [r.choice([b"GETRANGE", b"SUBSTR"]), k, offset, r.choice([0, 2, -1, -3, 100])],
            [b"SETRANGE", k, abs(offset), r.choice([v, b"", b"xyz"])],
            [b"INCRBYFLOAT", k, r.choice(FLOATS)],
            [b"TYPE", k],
            [b"LCS", k, self.key(), *r.choice([[], [b"LEN"], [b"IDX"], [b"IDX", b"MINMATCHLEN", 2, b"WITHMATCHLEN"]])],
        ])


def keys_of(command):
    name = command[0]
    if name in (b"MSET", b"MSETNX"):
        return command[1::2]
    if name in (b"MGET", b"DEL", b"UNLINK", b"EXISTS", b"TOUCH"):
        return command[1:]
    if name == b"BITOP":
        return command[2:]
    if name in (b"LCS", b"RENAME", b"RENAMENX", b"COPY", b"DUMP-RESTORE", b"ROUND-TRIP"):
        return command[1:3]
    if name == b"OBJECT":
        return command[2:3]
    if name in (b"SCAN-ALL", b"KEYS", b"RANDOMKEY"):
        return KEYS
    if name == b"TX":
        return [key for command in command[1] + command[2] for key in keys_of(command)]
    if name in (b"PING", b"ECHO", b"NOSUCH", b"SELECT", b"SLEEP") or len(command) < 2:
        return []
    return [command[1]]


def run_transaction(client, tx):
    """[b"TX", before, body, end]: the replies of before, MULTI, the body
    and EXEC or DISCARD."""
    _, before, body, end = tx
    return [client(*c) for c in before] + client.pipeline([[b"MULTI"], *body, [end]])


def wait_out_expiries(servers_, keys, guard=GUARD_MS):
    """Waits until no key is within guard ms of expiring on either server
    (ttlkv reads its clock coarsely: a key can outlive its deadline there
    by up to 4 ms, so the oracle alone cannot say it is gone)."""
    for _ in range(20):
        soon = [t for t in (s("PTTL", k) for k in keys for s in servers_) if 0 <= t < guard]
        if not soon:
            return
        time.sleep((max(soon) + 25) / 1000)


def scan_all(client, pattern):
    cursor, keys = b"0", set()
    while True:
        cursor, batch = client("SCAN", cursor, "MATCH", pattern, "COUNT", 5)
        keys.update(batch)
        if cursor == b"0":
            return sorted(keys)


def agree(command, got, want):
    if got == want:
        return True
    name = command[0]
    if name == b"OBJECT" and (want, got) in ((b"raw", b"embstr"), (b"raw", b"int"), (b"embstr", b"int")):
        # Redis's encoding follows the value's history, which the store does
        # not keep (docs/server.md): raw for a value APPEND, SETRANGE, SETBIT
        # or BITOP made, embstr for a large integer a RESTORE made. Ours is
        # what a SET of the value gives; never a weaker one than Redis's.
        return True
    if isinstance(got, int) and isinstance(want, int) and got >= 0 and want >= 0:
        if beyond_hundred_years(name, want):
            return kept_at_hundred_years(name, got)
        if name in (b"TTL", b"EXPIRETIME"):
            return abs(got - want) <= 1
        if name in (b"PTTL", b"PEXPIRETIME"):
            return abs(got - want) <= TTL_TOLERANCE_MS
    return False


def in_milliseconds(name, value):
    return value * 1000 if name in (b"TTL", b"EXPIRETIME") else value


def beyond_hundred_years(name, value):
    if name in (b"TTL", b"PTTL"):
        return in_milliseconds(name, value) > HUNDRED_YEARS_MS
    if name in (b"EXPIRETIME", b"PEXPIRETIME"):
        return in_milliseconds(name, value) > time.time() * 1000 + HUNDRED_YEARS_MS
    return False


def kept_at_hundred_years(name, value):
    """A far deadline of Redis's: ours kept as 100 years ahead (docs/server.md)."""
    ms = in_milliseconds(name, value)
    if name in (b"EXPIRETIME", b"PEXPIRETIME"):
        ms -= time.time() * 1000
    return HUNDRED_YEARS_MS - 5_000 <= ms <= HUNDRED_YEARS_MS + 1_000


# Issue 21's commands: every run must draw each (a transaction's body counts).
ISSUE_21 = {b"KEYS", b"RENAME", b"RENAMENX", b"COPY", b"RANDOMKEY", b"TYPE", b"GETSET", b"GETRANGE", b"SUBSTR",
            b"SETRANGE", b"SETBIT", b"GETBIT", b"BITCOUNT", b"BITPOS", b"BITOP", b"LCS", b"INCRBYFLOAT", b"OBJECT",
            b"DUMP-RESTORE", b"ROUND-TRIP", b"TX"}


def names_of(command):
    return {command[0]} | ({c[0] for c in command[2]} if command[0] == b"TX" else set())


@pytest.mark.parametrize("seed", SEEDS)
def test_random_sequences_agree_with_redis(ttlkv, oracle, seed):
    ours, theirs = resp.Client(ttlkv.port), resp.Client(oracle.port)
    for client in (ours, theirs):
        assert client("FLUSHALL") == "OK"
    rng = random.Random(seed)
    generator = Generator(rng, theirs)
    history = []
    compared = 0
    drawn = set()
    for _ in range(STEPS):
        command = generator.command()
        if command is None:
            continue
        drawn |= names_of(command)
        if command[0] == b"SLEEP":
            time.sleep(command[1] / 1000)
            continue
        wait_out_expiries((theirs, ours), keys_of(command), SCAN_GUARD_MS if command[0] == b"SCAN-ALL" else GUARD_MS)
        if command[0] == b"SCAN-ALL":
            got, want = scan_all(ours, command[1]), scan_all(theirs, command[1])
        elif command[0] == b"KEYS":
            got, want = sorted(ours(*command)), sorted(theirs(*command))
        elif command[0] == b"TX":
            got, want = run_transaction(ours, command), run_transaction(theirs, command)
            assert len(got) == len(want)
            for sent, mine, redis in zip(command[1] + [[b"MULTI"]] + command[2] + [[command[3]]], got, want):
                if sent[0] in (b"EXEC",) and isinstance(mine, list) and isinstance(redis, list) and len(mine) == len(redis):
                    assert all(agree(c, m, w) for c, m, w in zip(command[2], mine, redis)), (
                        f"seed {seed}: {command!r}\n ttlkv: {got!r}\n redis: {want!r}")
                else:
                    assert agree(sent, mine, redis), f"seed {seed}: {command!r}\n ttlkv: {got!r}\n redis: {want!r}"
            history.append((command, want))
            compared += 1
            continue
        elif command[0] in (b"DUMP-RESTORE", b"ROUND-TRIP"):
            # The key's payload, Redis's (DUMP-RESTORE) or ttlkv's (ROUND-TRIP;
            # they differ where Redis compresses or encodes an integer),
            # restored by both; ABSTTL makes the TTL a time long past.
            payload = (theirs if command[0] == b"DUMP-RESTORE" else ours)("DUMP", command[1]) or b"none"
            restore = [b"RESTORE", command[2], command[3], payload, *command[4:]]
            got, want = ours(*restore), theirs(*restore)
        elif command[0] == b"RANDOMKEY":
            # Random on both: a key of its own server's, or nil on both.
            got, want = ours("RANDOMKEY"), theirs("RANDOMKEY")
            assert (got is None) == (want is None), f"seed {seed}: RANDOMKEY ttlkv {got!r}, redis {want!r}"
            assert got is None or ours("EXISTS", got) == 1, f"seed {seed}: RANDOMKEY {got!r} does not exist"
            compared += 1
            continue
        else:
            got, want = ours(*command), theirs(*command)
        history.append((command, want))
        assert agree(command, got, want), (
            f"seed {seed}, step {len(history)}: {command!r}\n ttlkv: {got!r}\n redis: {want!r}\n"
            f"last commands: {history[-12:]!r}")
        compared += 1
    assert compared > STEPS * 0.8
    assert ISSUE_21 <= drawn, f"seed {seed} never drew {ISSUE_21 - drawn}"
    ours.close()
    theirs.close()
