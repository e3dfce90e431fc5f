"""
Synthetic request traces (numpy, seeded) and their libCacheSim files.

Keys are compact ints 0..n-1 in random order of popularity (a permutation),
so neither the hash nor the key order carries the popularity rank.

- zipf(alpha): independent requests over `universe` keys, P(rank r) ~ r^-alpha.
- scan_mix: a hot set requested uniformly, interleaved at random with keys
  requested exactly once (one-hit wonders): the shape that flushes LRU.
- web: a "real-ish" shape: Zipf 1.0 popularity whose keys age (every `birth`
  requests a new key enters at rank 0 and every key moves one rank down, so
  new content is hottest and cools), plus 25% one-hit wonders.
"""

import numpy as np

ORACLE = np.dtype([("t", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])


def _zipf_ranks(rng, n, alpha, count):
    w = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** alpha
    cdf = np.cumsum(w)
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(count)), n - 1)


def zipf(alpha, universe, requests, seed):
    rng = np.random.default_rng(seed)
    ranks = _zipf_ranks(rng, universe, alpha, requests)
    return rng.permutation(universe)[ranks]


def scan_mix(hot, requests, one_hit_fraction, seed):
    rng = np.random.default_rng(seed)
    is_scan = rng.random(requests) < one_hit_fraction
    n_scan = int(is_scan.sum())
    out = np.empty(requests, dtype=np.int64)
    out[~is_scan] = rng.integers(0, hot, requests - n_scan)
    out[is_scan] = hot + np.arange(n_scan)          # each used once
    return _compact(out, rng)


def web(universe, requests, birth, one_hit_fraction, seed):
    rng = np.random.default_rng(seed)
    ranks = _zipf_ranks(rng, universe, 1.0, requests)
    t = np.arange(requests) // birth
    out = (t - ranks).astype(np.int64)               # key born at time t - rank
    is_one = rng.random(requests) < one_hit_fraction
    base = out.max() + 1
    out[is_one] = base + np.arange(int(is_one.sum()))
    return _compact(out, rng)


def _compact(keys, rng):
    """Renames keys to 0..n-1 in a random order."""
    uniq, inv = np.unique(keys, return_inverse=True)
    return rng.permutation(len(uniq))[inv]


def sizes_for(n_keys, seed):
    """Per-key entry sizes in bytes: a lognormal body (median ~300 B)
    clipped to [40 B, 64 KiB], like small-object caches."""
    rng = np.random.default_rng(seed)
    s = np.exp(rng.normal(np.log(300.0), 1.2, n_keys))
    return np.clip(s, 40, 65536).astype(np.int64)


def write_oracle(path, keys, sizes=None):
    """libCacheSim's oracleGeneral binary format (24-byte records)."""
    rec = np.zeros(len(keys), dtype=ORACLE)
    rec["t"] = np.arange(len(keys)) // 1000
    rec["id"] = keys.astype(np.uint64) + 1    # id 0 is avoided
    rec["size"] = 1 if sizes is None else sizes[keys]
    rec["next"] = -1
    rec.tofile(path)


def hashes_for(n_keys, seed):
    """sim.key_hash for keys 0..n-1, vectorised (a list of Python ints)."""
    m = np.uint64
    with np.errstate(over="ignore"):
        s = m((seed * 0x2545F4914F6CDD1D) & (2**64 - 1))
        x = np.arange(n_keys, dtype=m) ^ s
        x = x + m(0x9E3779B97F4A7C15)
        x = (x ^ (x >> m(30))) * m(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> m(27))) * m(0x94D049BB133111EB)
        x = x ^ (x >> m(31))
    return x.tolist()
