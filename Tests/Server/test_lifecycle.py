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


def test_protected_mode_refuses_open_addresses_without_password():
    result = subprocess.run([servers.TTLKV_SERVER, "--bind", "0.0.0.0", "--port", str(servers.free_port())],
                            capture_output=True, timeout=30)
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
