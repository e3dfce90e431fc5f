import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import servers  # noqa: E402


@pytest.fixture(scope="module")
def ttlkv():
    server = servers.ttlkv_server("--capacity", 65536)
    yield server
    assert server.stop() == 0, "ttlkv-server did not exit cleanly on SIGTERM"


@pytest.fixture(scope="module")
def oracle():
    server = servers.redis_server()
    yield server
    server.stop()


@pytest.fixture(scope="module", params=["ttlkv", "redis"])
def either(request):
    """The same test against ttlkv-server and against redis-server 7."""
    server = servers.ttlkv_server("--capacity", 65536) if request.param == "ttlkv" else servers.redis_server()
    yield server
    code = server.stop()
    if request.param == "ttlkv":
        assert code == 0
