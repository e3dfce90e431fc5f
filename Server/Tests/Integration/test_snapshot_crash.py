"""Crash safety and damaged files: a kill -9 at several moments of a BGSAVE
leaves the previous snapshot whole and loadable (or, once the save has
finished, the new one); a snapshot with a corrupted byte anywhere, or cut
short, stops the start with a clear error, as Redis refuses to start on
it, and is left as it was."""
import os
import signal
import subprocess
import time

import pytest

import resp
import servers
from snapshots import assert_redis_accepts, check_rdb, dataset, dump, fill, read, wait_for_bgsave, write

KEYS = 300_000


def test_kill_during_bgsave_leaves_the_previous_snapshot(tmp_path):
    server = servers.ttlkv_server("--dir", tmp_path, "--save", "")
    c = resp.Client(server.port)
    fill(c, KEYS)
    started = time.time()
    assert c("BGSAVE") == "Background saving started"
    wait_for_bgsave(c)
    duration = time.time() - started
    server.stop(signal.SIGKILL)
    previous = read(dump(tmp_path))
    generation = 0
    interrupted = 0
    for fraction in [0.0, 0.05, 0.2, 0.4, 0.6, 0.8, 0.95, 1.2]:
        server = servers.ttlkv_server("--dir", tmp_path, "--save", "")
        c = resp.Client(server.port)
        assert c("GET", "generation") == (b"%d" % generation if generation else None)
        assert c("SET", "generation", generation + 1) == "OK"
        assert c("BGSAVE") == "Background saving started"
        time.sleep(fraction * duration)
        server.stop(signal.SIGKILL)
        now = read(dump(tmp_path))
        if now == previous:
            interrupted += 1
        else:
            # The save had finished: the new snapshot, whole.
            generation += 1
            previous = now
        assert_redis_accepts(dump(tmp_path), KEYS + (1 if generation else 0))
        # What a kill leaves besides the snapshot: at most its temporary file.
        assert all(name == "dump.rdb" or (name.startswith("temp-") and name.endswith("-dump.rdb"))
                   for name in os.listdir(tmp_path)), os.listdir(tmp_path)
    assert interrupted >= 3, "the kills came too late to interrupt a save"
    server = servers.ttlkv_server("--dir", tmp_path, "--save", "")
    try:
        c = resp.Client(server.port)
        assert c("DBSIZE") == KEYS + (1 if generation else 0)
        assert c("GET", "key:%011d" % 12345).startswith(b"12345:")
    finally:
        server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def small_dump(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    server = servers.ttlkv_server("--dir", folder, "--save", "")
    c = resp.Client(server.port)
    write(c, dataset("ttls")[:40] + dataset("integers") + dataset("binary keys"))
    assert c("SAVE") == "OK"
    server.stop(signal.SIGKILL)
    return read(dump(folder))


def refused_start(kind, folder):
    """Starts a server on the snapshot in `folder`; returns its exit code and
    error output once it gives up (a server that starts fails the test)."""
    # A free port can be taken (by a client's ephemeral port) before the
    # server binds it: the server then stops for that, not for the file.
    for _ in range(5):
        if kind == "ttlkv":
            argv = [servers.TTLKV_SERVER, "--port", str(servers.free_port()), "--dir", folder]
        else:
            argv = ["redis-server", "--port", str(servers.free_port()), "--dir", folder, "--save", ""]
        try:
            result = subprocess.run(argv, capture_output=True, timeout=30)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{kind} started on a damaged snapshot")
        output = (result.stdout + result.stderr).decode(errors="replace")
        if "Address already in use" not in output:
            break
    return result.returncode, output


def positions(size):
    """Bytes in every part of the file: the magic, the version, the first
    records, the middle, the end marker, the checksum."""
    return sorted({0, 3, 5, 8, 9, 10, 16, 40, size // 4, size // 2, 3 * size // 4,
                   size - 10, size - 9, size - 8, size - 4, size - 1})


@pytest.mark.parametrize("kind", ["ttlkv", "redis"])
def test_a_corrupted_byte_anywhere_stops_the_start(kind, small_dump, tmp_path):
    """Redis reads the version digits with atoi, so that "REDIS001 " passes
    as version 1 (no checksum): it is not held to the header's bytes."""
    for position in positions(len(small_dump)):
        if kind == "redis" and position < 9:
            continue
        damaged = bytearray(small_dump)
        damaged[position] ^= 0x10
        folder = tmp_path / str(position)
        folder.mkdir()
        with open(dump(folder), "wb") as f:
            f.write(damaged)
        code, output = refused_start(kind, folder)
        assert code != 0, (position, output)
        if kind == "ttlkv":
            assert "snapshot" in output.lower() and "SnapshotError" in output, (position, output)
        assert read(dump(folder)) == bytes(damaged), position
        assert os.listdir(folder) == ["dump.rdb"]


@pytest.mark.parametrize("kind", ["ttlkv", "redis"])
def test_a_truncated_snapshot_stops_the_start(kind, small_dump, tmp_path):
    for length in [0, 5, 9, 30, len(small_dump) // 2, len(small_dump) - 9, len(small_dump) - 1]:
        folder = tmp_path / str(length)
        folder.mkdir()
        with open(dump(folder), "wb") as f:
            f.write(small_dump[:length])
        code, output = refused_start(kind, folder)
        assert code != 0, (length, output)
        if kind == "ttlkv":
            assert "SnapshotError" in output, (length, output)
        assert read(dump(folder)) == small_dump[:length]


def test_the_error_names_the_file_and_the_damage(small_dump, tmp_path):
    damaged = bytearray(small_dump)
    damaged[len(damaged) // 2] ^= 0x01
    with open(dump(tmp_path), "wb") as f:
        f.write(damaged)
    code, output = refused_start("ttlkv", tmp_path)
    assert code != 0
    assert dump(str(tmp_path)) in output and "checksum" in output, output


def test_an_unreadable_snapshot_path_stops_the_start(tmp_path):
    os.mkdir(dump(tmp_path))   # a folder where the file should be
    code, output = refused_start("ttlkv", tmp_path)
    assert code != 0 and "SnapshotError" in output, output
