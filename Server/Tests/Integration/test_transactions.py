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
