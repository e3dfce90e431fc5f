"""Multi-key atomicity under concurrent clients, against ttlkv-server and
redis-server 7 with the same assertions: RENAMENX moving tokens between
keys never loses or duplicates one."""
import random
import threading

import pytest
import resp


def run_clients(port, count, work):
    """Runs work(client, index) on `count` connections at once; re-raises
    the first failure."""
    errors = []

    def body(index):
        client = resp.Client(port, timeout=60)
        try:
            work(client, index)
        except Exception as e:  # re-raised below
            errors.append(e)
        finally:
            client.close()

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@pytest.fixture
def c(either):
    client = resp.Client(either.port)
    assert client("FLUSHALL") == "OK"
    yield client
    client.close()


def test_renames_never_lose_or_duplicate_a_token(either, c):
    """8 clients pipeline RENAMENX moves of 3 tokens among 6 keys (never
    onto a token): a rename that read its source and then wrote its target
    as two steps could copy a token another client had just moved away, or
    move one onto a token that arrived meanwhile."""
    slots = [f"slot:{i}" for i in range(6)]
    for i in range(3):
        assert c("SET", slots[i], f"token{i}") == "OK"

    def work(client, index):
        rng = random.Random(index)
        for _ in range(40):
            batch = [["RENAMENX", *rng.sample(slots, 2)] for _ in range(100)]
            for reply in client.pipeline(batch):
                assert reply in (0, 1) or reply == resp.Error(b"ERR no such key"), reply

    run_clients(either.port, 8, work)
    values = [c("GET", slot) for slot in slots]
    assert sorted(v for v in values if v is not None) == [b"token%d" % i for i in range(3)]


def test_rate_limiter_is_exact_under_50_clients(either, c):
    """The rate-limiter pattern (MULTI; INCR k; EXPIRE k 60 NX; EXEC) from
    50 clients, over 40 windows (keys) that they all hit at about the same
    time: in each window the counts are exactly 1..50, and the one EXEC
    whose EXPIRE set the TTL is the one whose INCR created the key. Were the
    two commands of an EXEC interleaved with another client's, a client
    could create the key and find its EXPIRE beaten by another's."""
    windows = 40
    results = []
    lock = threading.Lock()

    def work(client, index):
        mine = []
        for window in range(windows):
            key = f"rate:{window}"
            replies = client.pipeline([["MULTI"], ["INCR", key], ["EXPIRE", key, 60, "NX"], ["EXEC"]])
            assert replies[:3] == ["OK", "QUEUED", "QUEUED"], replies
            mine.append((window, *replies[3]))
        with lock:
            results.extend(mine)

    run_clients(either.port, 50, work)
    for window in range(windows):
        mine = [(count, expire) for w, count, expire in results if w == window]
        assert sorted(count for count, _ in mine) == list(range(1, 51)), window
        assert [count for count, expire in mine if expire == 1] == [1], window
        assert 0 < c("TTL", f"rate:{window}") <= 60


def test_watch_makes_check_and_set_lose_nothing(either, c):
    """20 clients increment one counter by WATCH, GET, MULTI, SET, EXEC,
    retrying when EXEC answers nil: every increment that succeeded is there
    (a write between a client's WATCH and its EXEC must fail the EXEC)."""
    assert c("SET", "cas", 0) == "OK"
    successes = []
    lock = threading.Lock()

    def work(client, index):
        done = 0
        while done < 25:
            assert client("WATCH", "cas") == "OK"
            value = int(client("GET", "cas"))
            replies = client.pipeline([["MULTI"], ["SET", "cas", value + 1], ["EXEC"]])
            if replies[2] is not None:
                assert replies[2] == ["OK"]
                done += 1
        with lock:
            successes.append(done)

    run_clients(either.port, 20, work)
    assert int(c("GET", "cas")) == sum(successes) == 500


def test_exec_never_interleaves_with_other_writers(either, c):
    """Transfers between accounts in MULTI (DECRBY one, INCRBY another) from
    8 clients, and auditors reading every account in MULTI (MGET): no other
    client's write may come between the commands of an EXEC, so an audit
    always sees the same total."""
    accounts = [f"acct:{i}" for i in range(6)]
    assert c("MSET", *[x for a in accounts for x in (a, 1000)]) == "OK"

    def work(client, index):
        rng = random.Random(index)
        for _ in range(150):
            if index < 8:
                source, target = rng.sample(accounts, 2)
                amount = rng.randint(1, 50)
                replies = client.pipeline([["MULTI"], ["DECRBY", source, amount], ["INCRBY", target, amount], ["EXEC"]])
                assert len(replies[3]) == 2
            else:
                replies = client.pipeline([["MULTI"], ["MGET", *accounts], ["EXEC"]])
                assert sum(int(v) for v in replies[2][0]) == 6000

    run_clients(either.port, 12, work)
    assert sum(int(v) for v in c("MGET", *accounts)) == 6000
