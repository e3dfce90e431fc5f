"""Starting and stopping: graceful shutdown on SIGTERM and SHUTDOWN (replies
to what was received go out, the process exits 0), protected mode, the
idle timeout, TCP keepalive and the client limit, as a user meets them."""
import os
import signal
import socket
import subprocess
import time

import pytest

import resp
import servers


def test_sigterm_answers_what_it_received_and_exits_cleanly():
    server = servers.ttlkv_server()
    c = resp.Client(server.port)
    n = 20_000
    c.sock.sendall(b"".join(resp.encode("INCR", "counter") for _ in range(n)))
    time.sleep(0.05)
    server.proc.send_signal(signal.SIGTERM)
    replies = []
    try:
        while True:
            replies.append(c.reply())
    except (ConnectionError, OSError):
        pass
    assert server.proc.wait(timeout=20) == 0
    # Every reply that came is whole and in order: 1, 2, 3, ...
    assert replies == list(range(1, len(replies) + 1))
    assert len(replies) > 0


def test_sigterm_right_after_the_server_listens(tmp_path):
    """A SIGTERM sent as soon as the server accepts a connection stops it
    gracefully: it neither kills it (exit -15) nor goes unnoticed (a hang).
    Before, 16 of 20 tries did one or the other."""
    outcomes = []
    for _ in range(10):
        port = servers.free_port()
        # Its own folder: with Redis's default save rules it saves on SIGTERM.
        proc = subprocess.Popen([servers.TTLKV_SERVER, "--port", str(port)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, cwd=tmp_path)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.001)
        proc.send_signal(signal.SIGTERM)
        try:
            outcomes.append(proc.wait(timeout=15))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            outcomes.append("hang")
    assert outcomes == [0] * 10


def read_slowly(sock, total, chunk=256 * 1024, pause=0.02):
    """Reads until EOF or `total` bytes, `chunk` at a time with pauses: a
    client slower than the server."""
    received = bytearray()
    while len(received) < total:
        data = sock.recv(chunk)
        if not data:
            break
        received.extend(data)
        time.sleep(pause)
    return bytes(received)


def test_sigterm_delivers_a_big_reply_to_a_slow_reader():
    """Replies already queued go out in full to a client that reads them
    within the grace (here 20 MB at about 12 MB/s)."""
    server = servers.ttlkv_server()
    value = bytes(range(256)) * (20 * 1024 * 1024 // 256)
    setup = resp.Client(server.port)
    assert setup("SET", "big", value) == "OK"
    setup.close()
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(resp.encode("GET", "big"))
    expected = b"$%d\r\n" % len(value) + value + b"\r\n"
    head = read_slowly(s, 1 << 20)
    server.proc.send_signal(signal.SIGTERM)
    received = head + read_slowly(s, len(expected) - len(head))
    assert len(received) == len(expected) and received == expected
    assert s.recv(1) == b""  # then the server closes
    assert server.proc.wait(timeout=20) == 0


def test_sigterm_ends_a_pipeline_of_big_replies_on_a_reply_boundary():
    """A slow reader with 200 GETs of 1 MiB pipelined (most not yet run, the
    server having stopped reading): what it gets before the close is whole
    replies, never a cut one, and no reset."""
    server = servers.ttlkv_server()
    value = b"v" * (1 << 20)
    assert resp.Client(server.port)("SET", "big", value) == "OK"
    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(resp.encode("GET", "big") * 200)
    head = read_slowly(s, 2 << 20)
    server.proc.send_signal(signal.SIGTERM)
    received = head + read_slowly(s, 1 << 40)
    one = b"$%d\r\n" % len(value) + value + b"\r\n"
    assert len(received) % len(one) == 0 and received == one * (len(received) // len(one))
    assert len(received) >= 2 * len(one)
    assert server.proc.wait(timeout=20) == 0


def test_sigterm_closes_clients_that_do_not_read_after_the_grace():
    server = servers.ttlkv_server()
    setup = resp.Client(server.port)
    assert setup("SET", "big", b"x" * (20 << 20)) == "OK"
    stuck = socket.create_connection(("127.0.0.1", server.port))
    stuck.sendall(resp.encode("GET", "big"))
    time.sleep(0.2)
    start = time.time()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=20) == 0
    # Within the 5 s grace and some slack, never much sooner than it.
    assert 4 < time.time() - start < 15
    stuck.close()


def test_shutdown_command_closes_everyone():
    server = servers.ttlkv_server()
    other = resp.Client(server.port)
    assert other("SET", "k", "v") == "OK"
    c = resp.Client(server.port)
    c.sock.sendall(resp.encode("SHUTDOWN", "NOSAVE"))
    assert c.file.read() == b""  # no reply, as Redis: the connection just closes
    assert server.proc.wait(timeout=20) == 0
    with pytest.raises((ConnectionError, OSError)):
        other("PING")


def test_shutdown_abort_is_refused():
    server = servers.ttlkv_server()
    try:
        assert resp.Client(server.port)("SHUTDOWN", "ABORT") == resp.Error(b"ERR No shutdown in progress.")
    finally:
        assert server.stop() == 0


def test_protected_mode_refuses_open_addresses_without_password(tmp_path):
    result = subprocess.run([servers.TTLKV_SERVER, "--bind", "0.0.0.0", "--port", str(servers.free_port())],
                            capture_output=True, timeout=30, cwd=tmp_path)
    assert result.returncode != 0
    assert b"without a password" in result.stderr
    # Loopback addresses need no password (IPv6 where the machine has it).
    addresses = ["127.0.0.1"] + (["::1"] if ipv6_loopback() else [])
    server = servers.ttlkv_server(*[x for a in addresses for x in ("--bind", a)])
    try:
        for address in addresses:
            with socket.create_connection((address, server.port)) as s:
                s.sendall(b"PING\r\n")
                assert s.recv(16) == b"+PONG\r\n"
    finally:
        assert server.stop() == 0


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_idle_clients_are_closed_after_the_timeout():
    server = servers.ttlkv_server("--timeout", 1)
    try:
        idle, busy = resp.Client(server.port), resp.Client(server.port)
        for _ in range(8):
            assert busy("PING") == "PONG"
            time.sleep(0.3)
        with pytest.raises((ConnectionError, OSError)):
            idle("PING")
    finally:
        assert server.stop() == 0


def test_client_limit():
    server = servers.ttlkv_server("--maxclients", 5)
    try:
        clients = [resp.Client(server.port) for _ in range(5)]
        assert all(c("PING") == "PONG" for c in clients)
        extra = resp.Client(server.port)
        assert extra.reply() == resp.Error(b"ERR max number of clients reached")
        clients[0].close()
        time.sleep(0.2)
        assert resp.Client(server.port)("PING") == "PONG"
    finally:
        assert server.stop() == 0


def keepalive_timer(server_port, client_port):
    """The kernel's timer on the server's end of a loopback connection, from
    /proc/net/tcp: (timer kind, seconds until it fires); kind 2 is keepalive,
    0 none."""
    local, remote = "0100007F:%04X" % server_port, "0100007F:%04X" % client_port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == local and fields[2] == remote:
                kind, when = fields[5].split(":")
                return int(kind, 16), int(when, 16) / os.sysconf("SC_CLK_TCK")
    raise AssertionError("connection not found in /proc/net/tcp")


@pytest.mark.parametrize("option, seconds", [(None, 300), (60, 60), (0, None)])
def test_tcp_keepalive(option, seconds):
    """Half-open clients must not hold a slot forever: as Redis's
    tcp-keepalive, probes start after 300 s idle by default."""
    server = servers.ttlkv_server(*(["--tcp-keepalive", option] if option is not None else []))
    try:
        c = resp.Client(server.port)
        assert c("CONFIG", "GET", "tcp-keepalive") == [b"tcp-keepalive", b"%d" % (seconds or 0)]
        time.sleep(0.1)
        kind, when = keepalive_timer(server.port, c.sock.getsockname()[1])
        if seconds is None:
            assert kind == 0
        else:
            assert kind == 2 and seconds - 10 < when <= seconds
    finally:
        assert server.stop() == 0
