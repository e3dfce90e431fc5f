"""The snapshot loaded at start: while a big file loads, clients get Redis's
LOADING error for the commands Redis refuses then (PING included) and
answers for the others, INFO shows the load's progress; SHUTDOWN and
SIGTERM during the load stop the server without touching the file; once
loaded, every key is served. Side by side with redis-server 7 loading the
same file."""
import shutil
import signal
import subprocess
import time

import pytest

import resp
import servers
from snapshots import dump, info, read, wait_for

KEYS = 2_000_000
LOADING = resp.Error(b"LOADING Redis is loading the dataset in memory")


@pytest.fixture(scope="module")
def big_dump(tmp_path_factory):
    """A dump of KEYS strings, written by redis-server's DEBUG POPULATE."""
    folder = tmp_path_factory.mktemp("big")
    server = servers.redis_server("--dir", folder, "--enable-debug-command", "yes")
    c = resp.Client(server.port, timeout=300)
    try:
        assert c("DEBUG", "POPULATE", KEYS, "key", 32) == "OK"
        assert c("SAVE") == "OK"
    finally:
        server.stop()
    return dump(folder)


def start_loading(kind, big_dump, folder, *args):
    """A server started on a copy of the big dump, returned while it loads."""
    shutil.copy(big_dump, dump(folder))
    if kind == "ttlkv":
        return servers.ttlkv_server("--dir", folder, *args, ready=None)
    # Redis answers clients while loading once per 2 MiB read by default:
    # about as many chances as the probes below need. Every KiB, as Redis's
    # own tests set it, leaves no doubt.
    return servers.redis_server("--dir", folder, "--loading-process-events-interval-bytes", "1024",
                                *args, ready=None)


PROBES = [
    ("PING",), ("ECHO", "x"), ("GET", "key:1"), ("SET", "k", "v"), ("MGET", "key:1"), ("DBSIZE",),
    ("SCAN", 0), ("EXISTS", "key:1"), ("TTL", "key:1"), ("INCR", "n"), ("DEL", "key:1"), ("FLUSHALL",),
    ("SAVE",), ("BGSAVE",), ("LASTSAVE",), ("TIME",), ("SELECT", 0), ("CLIENT", "ID"), ("CONFIG", "GET", "save"),
    ("COMMAND", "COUNT"), ("AUTH", "x"), ("SHUTDOWN", "ABORT"), ("HELLO", 2), ("INFO", "persistence"),
]


def probe(c):
    """For each probe: whether the server answered LOADING."""
    return {" ".join(map(str, p)): c(*p) == LOADING for p in PROBES}


def test_clients_get_loading_while_a_big_snapshot_loads_as_redis(big_dump, tmp_path):
    refused = {}
    for kind in ["redis", "ttlkv"]:
        folder = tmp_path / kind
        folder.mkdir()
        server = start_loading(kind, big_dump, folder)
        try:
            c = resp.Client(server.port)
            assert info(c)["loading"] == "1", f"{kind} loaded {KEYS} keys before a client could ask"
            refused[kind] = probe(c)
            fields = info(c)
            assert fields["loading"] == "1", f"{kind} finished loading during the probes: make the file bigger"
            if kind == "ttlkv":
                assert int(fields["loading_start_time"]) <= time.time() + 1
                assert fields["loading_total_bytes"] == str(len(read(big_dump)))
                assert 0 <= int(fields["loading_loaded_bytes"]) <= len(read(big_dump))
                assert 0 <= float(fields["loading_loaded_perc"]) <= 100
                assert int(fields["loading_eta_seconds"]) >= 0
            wait_for(lambda: c("PING") == "PONG", timeout=300, step=0.1, what=f"{kind} to load")
            assert c("DBSIZE") == KEYS
            fields = info(c)
            assert fields["loading"] == "0" and fields["rdb_last_load_keys_loaded"] == str(KEYS)
            assert c("GET", "key:123") == b"value:123".ljust(32, b"\x00")
            assert "loading_total_bytes" not in fields
        finally:
            server.stop(signal.SIGKILL)
    assert refused["ttlkv"] == refused["redis"]
    assert refused["ttlkv"]["PING"] and not refused["ttlkv"]["INFO persistence"]


@pytest.mark.parametrize("stop", ["SHUTDOWN NOSAVE", "SHUTDOWN", "SIGTERM"])
def test_stopping_during_the_load_leaves_the_file(stop, big_dump, tmp_path):
    """SHUTDOWN (with or without NOSAVE) and SIGTERM during the load stop
    the server at once and save nothing, as Redis: a save then would write a
    half-loaded store over the snapshot."""
    server = start_loading("ttlkv", big_dump, tmp_path, "--save", "3600 1")
    c = resp.Client(server.port)
    assert info(c)["loading"] == "1"
    started = time.time()
    if stop == "SIGTERM":
        server.proc.send_signal(signal.SIGTERM)
    else:
        try:
            c(*stop.split())
        except (ConnectionError, OSError):
            pass
    assert server.proc.wait(timeout=30) == 0
    assert time.time() - started < 15
    assert read(dump(tmp_path)) == read(big_dump)


def test_a_snapshot_too_big_for_maxkeys_stops_the_start(big_dump, tmp_path):
    shutil.copy(big_dump, dump(tmp_path))
    result = subprocess.run([servers.TTLKV_SERVER, "--port", str(servers.free_port()), "--dir", str(tmp_path),
                             "--maxkeys", "1000"], capture_output=True, timeout=300)
    assert result.returncode != 0
    assert b"snapshot" in result.stderr.lower(), result.stderr
    assert read(dump(tmp_path)) == read(big_dump)
