"""Invariants of the eviction-policy simulator (standard library only).

    python3 -m pytest -q Benchmarks/Eviction/test_sim.py
"""

import random
from collections import OrderedDict

import pytest

import sim


def zipf_keys(n_keys, count, alpha, rng):
    weights = [1.0 / (r + 1) ** alpha for r in range(n_keys)]
    return rng.choices(range(n_keys), weights=weights, k=count)


@pytest.mark.parametrize("main_order", ["fifo", "hash"])
@pytest.mark.parametrize("shards", [1, 8])
def test_object_budget_is_never_exceeded(shards, main_order):
    rng = random.Random(1)
    p = sim.Policy(500, shards=shards, k=4, main_order=main_order)
    for i, key in enumerate(zipf_keys(5000, 40_000, 0.9, rng)):
        if not p.get(key):
            assert p.set(key)
        if i % 997 == 0:
            assert p.check() <= 500
        assert all(u <= s for u, s in zip(p.used, p.share))
    assert p.check() == 500          # full, and the books balance
    assert p.max_examined <= 4


@pytest.mark.parametrize("main_order", ["fifo", "hash"])
@pytest.mark.parametrize("shards", [1, 8])
def test_byte_budget_with_sets_deletes_and_overwrites(shards, main_order):
    rng = random.Random(2)
    budget = 200_000
    p = sim.Policy(budget, shards=shards, k=8, main_order=main_order)
    sizes = {}
    for key in zipf_keys(3000, 30_000, 0.8, rng):
        r = rng.random()
        if r < 0.05:
            p.delete(key)
        elif r < 0.15:
            # an overwrite with a new size (maybe larger): copy-on-write
            sizes[key] = rng.randint(40, 4000)
            p.set(key, sizes[key])
        elif not p.get(key):
            sizes.setdefault(key, rng.randint(40, 4000))
            assert p.set(key, sizes[key])
        assert all(u <= s for u, s in zip(p.used, p.share))
    assert p.check() <= budget
    assert p.evicted > 1000          # the budget was under pressure


def test_a_set_that_can_never_fit_is_refused_and_changes_nothing():
    p = sim.Policy(1000, shards=4)   # a 250-unit share per shard
    for key in range(20):
        p.set(key, 10)
    before = dict((k, list(r)) for k, r in p.table.items())
    assert not p.set(99, 251)        # a new key bigger than its shard's share
    assert not p.set(3, 251)         # an overwrite bigger than the share
    assert p.rejected == 2
    assert {k: list(r) for k, r in p.table.items()} == before
    p.check()


@pytest.mark.parametrize("main_order", ["fifo", "hash"])
def test_a_scan_of_one_hit_keys_does_not_flush_the_hot_set(main_order):
    hot = list(range(200))
    p = sim.Policy(400, shards=1, k=16, main_order=main_order)
    lru = OrderedDict()

    def lru_get(key):
        if key in lru:
            lru.move_to_end(key)
            return True
        lru[key] = True
        if len(lru) > 400:
            lru.popitem(last=False)
        return False

    rng = random.Random(3)
    for _ in range(10):              # the hot set is warm and has been hit
        for key in hot:
            if not p.get(key):
                p.set(key)
            lru_get(key)
    hits = lru_hits = 0
    scan_key = 10_000
    for _ in range(5000):            # two one-hit keys per hot GET
        for _ in range(2):
            p.get(scan_key) or p.set(scan_key)
            lru_get(scan_key)
            scan_key += 1
        key = rng.choice(hot)
        if p.get(key):
            hits += 1
        else:
            p.set(key)
        lru_hits += lru_get(key)
    assert lru_hits / 5000 < 0.6     # the scan flushes LRU ...
    assert hits / 5000 > 0.95        # ... and not this policy


def test_same_seed_same_result():
    def once():
        rng = random.Random(4)
        keys = zipf_keys(4000, 20_000, 1.0, rng)
        p = sim.Policy(300, shards=4, seed=7)
        misses, gets = sim.run(p, keys)
        return misses, p.evicted, p.forced, sorted(p.table)
    assert once() == once()


def test_an_overwrite_keeps_queue_position_and_frequency():
    p = sim.Policy(100, shards=1)
    for key in range(10):
        p.set(key)
    for _ in range(3):
        p.get(5)
    rec = p.table[5]
    position = list(p.shards[0].small).index(rec)
    p.set(5, 1)                      # SET of a present key
    assert p.table[5] is rec and rec[sim.FREQ] == 3
    assert list(p.shards[0].small).index(rec) == position


def test_an_overwrite_that_grows_never_evicts_its_own_key():
    p = sim.Policy(10, shards=1, k=1)
    for key in range(10):
        p.set(key)
    assert p.set(0, 5)               # the oldest, unmarked: first in line
    assert 0 in p.table and p.table[0][sim.SIZE] == 5
    p.check()


def test_a_key_evicted_from_small_and_set_again_goes_to_main():
    p = sim.Policy(100, shards=1)
    for key in range(120):           # 0..19 are evicted from small to the
        p.set(key)                   # ghost, which holds ~0.9 x 100
    assert 0 not in p.table
    p.set(0)
    assert p.table[0][sim.QUEUE] == sim.MAIN and p.ghost_admits == 1
    # the ghost entry was consumed: a second round trip starts over
    assert not p.shards[0].ghost.take(sim.key_hash(0, 0))


def test_a_deleted_key_set_again_goes_to_main():
    p = sim.Policy(100, shards=1)
    for key in range(50):
        p.set(key)
    assert p.delete(7) and 7 not in p.table
    p.set(7)
    assert p.table[7][sim.QUEUE] == sim.MAIN
    p.check()
