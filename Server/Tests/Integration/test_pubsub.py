"""Pub/sub side by side with redis-server 7: the same scripted sessions
(several clients, RESP2 and RESP3) run against both servers, and every
reply and every message each client receives must be the same bytes, in
the same order. Where Redis's order is a hash table's (UNSUBSCRIBE with no
argument, PUBSUB CHANNELS), the group is compared as a sorted list.

Covered: SUBSCRIBE, UNSUBSCRIBE, PSUBSCRIBE, PUNSUBSCRIBE with and without
arguments, repeated and unknown names; PUBLISH counts (channel and pattern
subscribers, one client through two patterns counted twice); RESP2
subscriber mode (only the subscribe family, PING and QUIT, Redis's error
text for the rest, PING's array reply) and its end when the last
subscription goes; RESP3 pushes on a normal connection, interleaved with
ordinary replies, a message to oneself before the PUBLISH reply; HELLO 2
turning a RESP3 subscriber into subscriber mode; PUBSUB CHANNELS / NUMSUB /
NUMPAT and their errors (not HELP: Redis's lists the sharded subcommands,
which this server does not have); Redis's glob patterns on channels."""
import random

import pytest

import resp
import servers

TIMEOUT = 5


def run_script(port, script, clients=3):
    """Runs script, a list of steps (client, command, replies to read,
    sort?), on fresh clients; returns what each step read."""
    connections = [resp.Client(port, timeout=TIMEOUT) for _ in range(clients)]
    transcript = []
    try:
        for client, command, count, *flags in script:
            connection = connections[client]
            if command:
                connection.send(*command)
            got = [connection.reply() for _ in range(count)]
            if "sorted" in flags:
                got = sorted(got, key=repr)
            if command and command[:2] == ("PUBSUB", "CHANNELS"):
                got = [sorted(got[0])]
            transcript.append((client, command, got))
    finally:
        for connection in connections:
            connection.close()
    return transcript


SUBSCRIBER_MODE = [
    # client 0 (RESP2) subscribes; client 2 publishes.
    (0, ("SUBSCRIBE", "news", "sport", "news"), 3),
    (2, ("PUBLISH", "news", "hello"), 1),
    (0, None, 1),
    (2, ("PUBLISH", "nobody", "x"), 1),
    (0, ("GET", "k"), 1),
    (0, ("SET", "k", "v"), 1),
    (0, ("PING",), 1),
    (0, ("PING", "there"), 1),
    (0, ("SUBSCRIBE",), 1),
    (0, ("NOSUCHCOMMAND", "a"), 1),
    (0, ("PUBSUB", "NUMPAT"), 1),
    (0, ("PSUBSCRIBE", "sp*", "n?ws", "[ns]*"), 3),
    (2, ("PUBLISH", "news", "both"), 1),
    (0, None, 3, "sorted"),
    (2, ("PUBLISH", "sport", "goal"), 1),
    (0, None, 3, "sorted"),
    (2, ("PUBSUB", "NUMSUB", "news", "sport", "none"), 1),
    (2, ("PUBSUB", "NUMSUB"), 1),
    (2, ("PUBSUB", "NUMPAT"), 1),
    (2, ("PUBSUB", "CHANNELS"), 1),
    (2, ("PUBSUB", "CHANNELS", "s*"), 1),
    (2, ("PUBSUB", "CHANNELS", "x*"), 1),
    (0, ("UNSUBSCRIBE", "news", "never"), 2),
    (0, ("UNSUBSCRIBE",), 1),
    (0, ("UNSUBSCRIBE",), 1),
    (0, ("PUNSUBSCRIBE", "n?ws"), 1),
    (0, ("PUNSUBSCRIBE",), 2, "sorted"),
    (0, ("PUNSUBSCRIBE",), 1),
    # Out of subscriber mode: every command again.
    (0, ("PING",), 1),
    (0, ("GET", "k"), 1),
    (2, ("PUBLISH", "news", "late"), 1),
    (1, ("PSUBSCRIBE", "*"), 1),
    # Redis's matcher: no pattern but the empty one matches the empty name.
    (2, ("PUBLISH", "", "empty channel"), 1),
    (2, ("PUBLISH", "bin\x00ary\r\n", "\x00\r\n$3"), 1),
    (1, None, 1),
    (1, ("QUIT",), 1),
]

RESP3 = [
    (0, ("HELLO", "3"), 1),
    (0, ("SUBSCRIBE", "a"), 1),
    (0, ("GET", "k"), 1),
    (0, ("SET", "k", "v"), 1),
    (0, ("PING",), 1),
    (1, ("PUBLISH", "a", "from 1"), 1),
    (0, None, 1),
    (0, ("GET", "k"), 1),
    # A message to oneself comes before the PUBLISH reply.
    (0, ("PUBLISH", "a", "to myself"), 2),
    (0, ("PSUBSCRIBE", "a*"), 1),
    (0, ("PUBLISH", "a", "twice"), 3),
    (0, ("PUBSUB", "NUMSUB", "a"), 1),
    (0, ("UNSUBSCRIBE",), 1),
    (0, ("PUNSUBSCRIBE",), 1),
    (0, ("UNSUBSCRIBE",), 1),
    (0, ("PUNSUBSCRIBE", "zz"), 1),
    # HELLO 2 with a subscription left: subscriber mode.
    (0, ("SUBSCRIBE", "b"), 1),
    (0, ("HELLO", "2"), 1),
    (0, ("GET", "k"), 1),
    (0, ("HELLO", "3"), 1),
    (1, ("PUBLISH", "b", "resp2 now"), 1),
    (0, None, 1),
    (0, ("UNSUBSCRIBE", "b"), 1),
    (0, ("GET", "k"), 1),
]

ERRORS = [
    (0, ("PUBLISH", "a"), 1),
    (0, ("PUBLISH", "a", "b", "c"), 1),
    (0, ("PSUBSCRIBE",), 1),
    (0, ("PUBSUB",), 1),
    (0, ("PUBSUB", "NOPE"), 1),
    (0, ("PUBSUB", "NUMPAT", "x"), 1),
    (0, ("PUBSUB", "CHANNELS", "a", "b"), 1),
    (0, ("UNSUBSCRIBE",), 1),
    (0, ("PUNSUBSCRIBE", "x", "y"), 2),
]


@pytest.mark.parametrize("name,script", [("subscriber-mode", SUBSCRIBER_MODE), ("resp3", RESP3), ("errors", ERRORS)])
def test_sessions_match_redis(ttlkv, oracle, name, script):
    ours = run_script(ttlkv.port, script)
    theirs = run_script(oracle.port, script)
    for (client, command, got), (_, _, expected) in zip(ours, theirs):
        if command and command[0] == "HELLO":
            # Its reply names the server's version: the type must agree.
            assert type(got[0]) is type(expected[0])
            continue
        assert got == expected, f"{name}: client {client}, {command}: ttlkv {got!r}, redis {expected!r}"


PATTERNS = ["*", "a*", "*b", "a?c", "a[bc]d", "a[^b]d", "a[b-d]e", "a[d-b]e", "a\\*b", "a[\\]]b", "[a",
            "a[", "*a*a*a*b", "?", "??", "h*llo", "h[ae]llo", "[^x]*", "\\?", "a*[", "\\"]
CHANNELS = ["", "a", "ab", "abc", "acd", "abd", "ace", "a*b", "a]b", "[a", "a[", "aaaab", "aaaaa", "hello",
            "hallo", "hxllo", "x", "?", "\\", "abcde", "a" * 300 + "b"]


def test_glob_patterns_count_like_redis(ttlkv, oracle):
    """Every pattern subscribed by its own client; each PUBLISH's count (how
    many patterns matched) must be Redis's, and so must the pmessages."""
    counts = {}
    for server in (ttlkv, oracle):
        subscribers = [resp.Client(server.port, timeout=TIMEOUT) for _ in PATTERNS]
        publisher = resp.Client(server.port, timeout=TIMEOUT)
        try:
            for subscriber, pattern in zip(subscribers, PATTERNS):
                assert subscriber("PSUBSCRIBE", pattern) == [b"psubscribe", pattern.encode(), 1]
            got = []
            for channel in CHANNELS:
                got.append(publisher("PUBLISH", channel, "m"))
            received = [sync(subscriber) for subscriber in subscribers]
            counts[server] = (got, received)
        finally:
            for client in subscribers + [publisher]:
                client.close()
    assert counts[ttlkv] == counts[oracle]


def test_random_subscriptions_match_redis(ttlkv, oracle):
    """Seeded random SUBSCRIBE/UNSUBSCRIBE/PSUBSCRIBE/PUNSUBSCRIBE/PUBLISH
    by five clients; every reply, message and PUBSUB answer compared."""
    rng = random.Random(7)
    names = ["c1", "c2", "c3", "c*", "c?", "d1"]
    script = []
    for _ in range(400):
        client = rng.randrange(4)
        action = rng.random()
        if action < 0.25:
            chosen = rng.sample(names, rng.randint(1, 3))
            script.append((client, ("SUBSCRIBE", *chosen), len(chosen)))
        elif action < 0.4:
            chosen = rng.sample(names, rng.randint(1, 2))
            script.append((client, ("UNSUBSCRIBE", *chosen), len(chosen)))
        elif action < 0.55:
            chosen = rng.sample(names, rng.randint(1, 2))
            script.append((client, ("PSUBSCRIBE", *chosen), len(chosen)))
        elif action < 0.65:
            chosen = rng.sample(names, rng.randint(1, 2))
            script.append((client, ("PUNSUBSCRIBE", *chosen), len(chosen)))
        elif action < 0.9:
            # Client 4 only publishes; the messages are drained below.
            script.append((4, ("PUBLISH", rng.choice(names[:3] + ["d1", "e"]), "m%d" % len(script)), 1))
        else:
            script.append((4, ("PUBSUB", "NUMSUB", *names), 1))
            script.append((4, ("PUBSUB", "NUMPAT"), 1))
            script.append((4, ("PUBSUB", "CHANNELS"), 1))
    ours = drain_run(ttlkv.port, script)
    theirs = drain_run(oracle.port, script)
    assert ours == theirs


def drain_run(port, script):
    """Runs script like run_script, but reads every subscriber's messages
    as they come: after each step, each client reads whatever its earlier
    steps and the publishes made the server send, up to a PING it sends."""
    connections = [resp.Client(port, timeout=TIMEOUT) for _ in range(5)]
    transcript = []
    try:
        for client, command, count in script:
            connections[client].send(*command)
            if command[0] == "PUBLISH":
                got = [connections[client].reply()]
                for other in range(4):
                    transcript.append((other, sync(connections[other])))
            else:
                got = [connections[client].reply() for _ in range(count)]
                if command[0] == "PUBSUB" and command[1] == "CHANNELS":
                    got = [sorted(got[0])]
            transcript.append((client, command, got))
    finally:
        for connection in connections:
            connection.close()
    return transcript


def sync(connection):
    """Everything the server sent connection before the reply to a PING."""
    connection.send("PING", "sync")
    got = []
    while True:
        item = connection.reply()
        if item in (b"sync", [b"pong", b"sync"]):
            return sorted(got, key=repr)
        got.append(item)
