"""Abuse: thousands of connections, slow clients sending one byte at a time,
clients that never read their replies, oversized and malformed requests,
a pipelined flood. Through all of it a well-behaved client keeps being
served, the server's peak memory stays bounded, and nothing written is lost.
Peak memory is VmHWM from /proc: what the abuse would have cost shows there
even if it was freed before the check."""
import random
import socket
import threading
import time

import pytest

import resp
import servers
from bystander import Bystander

MIB = 1 << 20


def peak_rss(server):
    return server.rss("VmHWM")


@pytest.fixture
def server():
    s = servers.ttlkv_server("--capacity", 300_000, "--maxclients", 20_000)
    yield s
    assert s.stop() == 0


def test_thousands_of_connections(server):
    bystander = Bystander(server.port)
    bystander.start()
    socks = []
    for _ in range(3000):
        socks.append(socket.create_connection(("127.0.0.1", server.port)))
    for i, s in enumerate(socks):
        s.sendall(resp.encode("SET", b"conn:%d" % i, i))
    for s in socks:
        s.settimeout(10)
        assert s.recv(16) == b"+OK\r\n"
    info = dict(line.split(b":", 1) for line in resp.Client(server.port)("INFO", "clients").split(b"\r\n") if b":" in line)
    assert int(info[b"connected_clients"]) >= 3001
    for s in socks:
        s.close()
    bystander.finish()
    check = resp.Client(server.port)
    assert check("MGET", *[b"conn:%d" % i for i in range(0, 3000, 100)]) == [b"%d" % i for i in range(0, 3000, 100)]
    assert peak_rss(server) < 400 * MIB


def test_slow_clients_one_byte_at_a_time(server):
    bystander = Bystander(server.port)
    bystander.start()
    slow = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(50)]
    requests = [resp.encode("SET", b"slow:%d" % i, b"x" * 200) for i in range(len(slow))]
    for offset in range(max(map(len, requests))):
        for s, request in zip(slow, requests):
            if offset < len(request):
                s.send(request[offset:offset + 1])
        time.sleep(0.001)
    for s in slow:
        s.settimeout(10)
        assert s.recv(16) == b"+OK\r\n"
        s.close()
    bystander.finish()
    assert resp.Client(server.port)("EXISTS", *[b"slow:%d" % i for i in range(50)]) == 50


def test_clients_that_never_read(server):
    """Each of 20 clients pipelines 3,000 GETs of a 64 KiB value (190 MiB of
    replies each, 3.7 GiB in all) and reads nothing: the server stops
    reading from them instead of buffering, and serves the others."""
    setup = resp.Client(server.port)
    assert setup("SET", "big", b"b" * 65536) == "OK"
    before = peak_rss(server)
    bystander = Bystander(server.port)
    bystander.start()
    hogs = []
    flood = resp.encode("GET", "big") * 3000
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.setblocking(False)
        sent = 0
        end = time.time() + 2
        while sent < len(flood) and time.time() < end:
            try:
                sent += s.send(flood[sent:])
            except BlockingIOError:
                time.sleep(0.01)  # the server stopped reading: as it should
        hogs.append(s)
    time.sleep(1)
    assert bystander.done > 0
    bystander.finish()
    assert setup("PING") == "PONG"
    assert peak_rss(server) - before < 300 * MIB
    for s in hogs:
        s.close()


def test_oversized_and_malformed_requests(server):
    # A bulk over the limit is refused from its header, before any byte of it.
    c = resp.Client(server.port)
    c.sock.sendall(b"*2\r\n$3\r\nGET\r\n$600000000\r\n")
    assert c.reply() == resp.Error(b"ERR Protocol error: invalid bulk length")
    with pytest.raises((ConnectionError, OSError)):
        c("PING")
    # A bulk under the limit that never arrives costs what arrived, not its size.
    before = peak_rss(server)
    s = socket.create_connection(("127.0.0.1", server.port))
    s.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$500000000\r\n" + b"x" * 1000)
    time.sleep(0.3)
    assert peak_rss(server) - before < 50 * MIB
    s.close()
    # Garbage from 200 clients: each gets an error or nothing, the server lives.
    rng = random.Random(7)
    for _ in range(200):
        g = socket.create_connection(("127.0.0.1", server.port))
        g.sendall(b"*" + bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
        g.close()
    assert resp.Client(server.port)("PING") == "PONG"


def test_limits_when_configured_small():
    s = servers.ttlkv_server("--proto-max-bulk-len", 1 << 20, "--max-arguments", 100,
                             "--client-query-buffer-limit", 2 << 20)
    try:
        c = resp.Client(s.port)
        assert c("SET", "ok", b"v" * (1 << 20)) == "OK"
        assert c("APPEND", "ok", "more") == resp.Error(b"ERR string exceeds maximum allowed size (proto-max-bulk-len)")
        assert c("STRLEN", "ok") == 1 << 20
        # Only up to the oversized length: the server answers and closes
        # there, and a body still unread on its side would turn the close
        # into a reset that can overtake the reply.
        c.sock.sendall(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n" % ((1 << 20) + 1))
        assert c.reply() == resp.Error(b"ERR Protocol error: invalid bulk length")
        c = resp.Client(s.port)
        c.sock.sendall(b"*101\r\n")
        assert c.reply() == resp.Error(b"ERR Protocol error: invalid multibulk length")
        # One request whose arguments, all buffered before it can run, pass
        # the query buffer limit: the connection is closed.
        c = resp.Client(s.port)
        c.sock.sendall(b"*50\r\n" + (b"$1048576\r\n" + b"x" * 1048576 + b"\r\n") * 3)
        with pytest.raises((ConnectionError, OSError)):
            c.reply()
        assert resp.Client(s.port)("PING") == "PONG"
    finally:
        assert s.stop() == 0


def test_pipelined_flood_loses_nothing(server):
    """200,000 SETs written as fast as the socket takes them while replies
    are read on another thread; a bystander is served throughout; every key
    is there afterwards."""
    bystander = Bystander(server.port)
    bystander.start()
    n = 200_000
    stream = b"".join(resp.encode("SET", b"flood:%d" % i, b"v%d" % i) for i in range(n))
    s = socket.create_connection(("127.0.0.1", server.port))
    received = bytearray()

    def reader():
        while len(received) < 5 * n:
            data = s.recv(1 << 20)
            if not data:
                break
            received.extend(data)

    t = threading.Thread(target=reader)
    t.start()
    s.sendall(stream)
    t.join(60)
    assert bytes(received) == b"+OK\r\n" * n
    bystander.finish()
    c = resp.Client(server.port)
    assert c("DBSIZE") >= n
    for start in range(0, n, 20_000):
        keys = [b"flood:%d" % i for i in range(start, start + 20_000)]
        assert c("EXISTS", *keys) == len(keys)
    assert c("GET", "flood:123456") == b"v123456"
    s.close()
