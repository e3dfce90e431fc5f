"""Scale-out: two ttlkv-servers behind twemproxy (Debian's nutcracker) with
ketama distribution, the configuration docs/server.md documents. Through the
proxy: 10,000 keys with TTLs, both backends holding a share; GET, MGET, TTL,
EXPIRE, PERSIST and DEL; then one backend stops, the proxy ejects it, and
the other keeps serving."""
import os
import tempfile
import time

import pytest
import redis

import servers

CONFIG = """ttlkv:
  listen: 127.0.0.1:{listen}
  hash: fnv1a_64
  distribution: ketama
  redis: true
  auto_eject_hosts: true
  server_failure_limit: 1
  server_retry_timeout: 30000
  timeout: 1000
  servers:
   - 127.0.0.1:{first}:1 ttlkv-1
   - 127.0.0.1:{second}:1 ttlkv-2
"""


@pytest.fixture
def cluster():
    backends = [servers.ttlkv_server("--capacity", 65536) for _ in range(2)]
    listen = servers.free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write(CONFIG.format(listen=listen, first=backends[0].port, second=backends[1].port))
    proxy = servers.nutcracker(f.name, listen)
    yield proxy, backends
    proxy.stop()
    for backend in backends:
        backend.stop()
    os.unlink(f.name)


def test_keys_spread_expire_and_survive_a_backend(cluster):
    proxy, backends = cluster
    # twemproxy refuses HELLO and CLIENT SETINFO, which redis-py sends on
    # connect unless told otherwise (docs/server.md, "Behind a proxy").
    r = redis.Redis(port=proxy.port, decode_responses=True, socket_timeout=5, protocol=2, driver_info=None)
    direct = [redis.Redis(port=b.port, decode_responses=True) for b in backends]

    pipe = r.pipeline(transaction=False)
    for i in range(10_000):
        pipe.set(f"key:{i}", f"value:{i}", ex=600)
    assert all(pipe.execute())

    shares = [d.dbsize() for d in direct]
    assert sum(shares) == 10_000
    assert all(2_500 < share < 7_500 for share in shares), shares

    assert r.get("key:42") == "value:42"
    assert r.mget([f"key:{i}" for i in range(0, 1000, 10)]) == [f"value:{i}" for i in range(0, 1000, 10)]
    assert 590 <= r.ttl("key:7") <= 600
    assert r.expire("key:7", 1000) is True
    assert 990 <= r.ttl("key:7") <= 1000
    assert r.persist("key:7") is True
    assert r.ttl("key:7") == -1
    assert r.delete("key:1", "key:2", "key:3", "missing") == 3
    assert r.mget("key:1", "key:4") == [None, "value:4"]
    r.set("short", "v", px=200)
    time.sleep(0.4)
    assert r.get("short") is None

    # Which keys live on which backend, read from the backends themselves.
    on_first = [f"key:{i}" for i in range(100, 400) if direct[0].exists(f"key:{i}")]
    on_second = [f"key:{i}" for i in range(100, 400) if direct[1].exists(f"key:{i}")]
    assert on_first and on_second

    assert backends[1].stop() == 0
    # The next request for a key of the stopped backend fails, and the proxy
    # ejects it (server_failure_limit 1); after that its keys go to the other.
    deadline = time.time() + 10
    while True:
        try:
            r.set(on_second[0], "moved")
            break
        except redis.RedisError:
            assert time.time() < deadline, "the proxy never ejected the stopped backend"
            time.sleep(0.1)
    assert r.get(on_second[0]) == "moved"
    assert direct[0].get(on_second[0]) == "moved"
    # The surviving backend's keys were served throughout and still are.
    assert r.mget(on_first) == [k.replace("key", "value") for k in on_first]
    for key in on_second[1:50]:
        assert r.set(key, "again") is True and r.get(key) == "again"
    r.close()
    for d in direct:
        d.close()
