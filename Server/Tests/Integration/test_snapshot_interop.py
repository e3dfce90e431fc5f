"""Snapshots move between ttlkv-server and redis-server 7 in both
directions: redis-check-rdb accepts every file ttlkv-server writes (by
SAVE, BGSAVE, a save rule, SHUTDOWN), redis-server started on one serves
the same keys, values and TTLs (within a second), ttlkv-server started on a
dump redis-server wrote serves the same, and round trips both ways keep
everything."""
import os
import shutil
import signal
import time

import pytest

import resp
import servers
from snapshots import (DATASETS, assert_redis_accepts, assert_same_contents, contents, dataset, dump,
                       expected_contents, info, wait_for, wait_for_bgsave, write)

# Values up to 1 MiB need a bulk limit above it on neither server (both
# default to 512 MiB).


def ttlkv(folder, *args):
    return servers.ttlkv_server("--dir", folder, "--save", "", *args)


def redis(folder, *args):
    return servers.redis_server("--dir", folder, *args)


def save_by(how, server, c, folder):
    """Makes ttlkv-server write its snapshot `how`; returns once it is written."""
    if how == "SAVE":
        assert c("SAVE") == "OK"
    elif how == "BGSAVE":
        assert c("BGSAVE") == "Background saving started"
        assert wait_for_bgsave(c)["rdb_last_bgsave_status"] == "ok"
    elif how == "SHUTDOWN SAVE":
        try:
            c("SHUTDOWN", "SAVE")
        except (ConnectionError, OSError):
            pass
        assert server.proc.wait(timeout=60) == 0
    else:
        raise ValueError(how)
    assert os.path.exists(dump(folder))


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("how", ["SAVE", "BGSAVE", "SHUTDOWN SAVE"])
def test_redis_check_rdb_accepts_every_snapshot(name, how, tmp_path):
    entries = dataset(name)
    server = ttlkv(tmp_path)
    c = resp.Client(server.port)
    try:
        write(c, entries)
        save_by(how, server, c, tmp_path)
    finally:
        server.stop(signal.SIGKILL)
    assert_redis_accepts(dump(tmp_path), len(entries))


def test_a_save_rule_writes_a_file_redis_check_rdb_accepts(tmp_path):
    server = servers.ttlkv_server("--dir", tmp_path, "--save", "1 1")
    c = resp.Client(server.port)
    try:
        entries = dataset("ttls") + dataset("integers")
        write(c, entries)
        wait_for(lambda: info(c)["rdb_changes_since_last_save"] == "0", timeout=15, what="the rule's save")
        assert_redis_accepts(dump(tmp_path), len(entries))
    finally:
        server.stop(signal.SIGKILL)


@pytest.mark.parametrize("name", DATASETS)
def test_redis_server_serves_a_ttlkv_snapshot(name, tmp_path):
    entries = dataset(name)
    ours = ttlkv(tmp_path)
    c = resp.Client(ours.port)
    try:
        write(c, entries)
        expected = contents(c)
        assert_same_contents(expected_contents(entries), expected)
        assert c("SAVE") == "OK"
    finally:
        ours.stop(signal.SIGKILL)
    theirs = redis(tmp_path)
    try:
        assert_same_contents(expected, contents(resp.Client(theirs.port)))
    finally:
        theirs.stop()


@pytest.mark.parametrize("name", DATASETS)
def test_ttlkv_server_serves_a_redis_dump(name, tmp_path):
    entries = dataset(name)
    theirs = redis(tmp_path)
    c = resp.Client(theirs.port)
    try:
        write(c, entries)
        expected = contents(c)
        assert c("SAVE") == "OK"
    finally:
        theirs.stop()
    ours = ttlkv(tmp_path)
    try:
        c = resp.Client(ours.port)
        assert_same_contents(expected, contents(c))
        fields = info(c)
        assert fields["rdb_last_load_keys_loaded"] == str(len(entries))
        assert fields["rdb_last_load_keys_expired"] == "0"
    finally:
        ours.stop(signal.SIGKILL)


def mixed():
    entries = []
    for name in DATASETS:
        entries += dataset(name)
    return entries


def test_round_trip_ttlkv_redis_ttlkv(tmp_path):
    entries = mixed()
    first = ttlkv(tmp_path)
    c = resp.Client(first.port)
    write(c, entries)
    before = contents(c)
    assert c("SAVE") == "OK"
    first.stop(signal.SIGKILL)
    middle = redis(tmp_path)
    c = resp.Client(middle.port)
    assert c("SAVE") == "OK"   # Redis writes it anew, its own way
    middle.stop()
    last = ttlkv(tmp_path)
    try:
        assert_same_contents(before, contents(resp.Client(last.port)), ttl_tolerance_ms=2000)
    finally:
        last.stop(signal.SIGKILL)


def test_round_trip_redis_ttlkv_redis(tmp_path):
    entries = mixed()
    first = redis(tmp_path)
    c = resp.Client(first.port)
    write(c, entries)
    before = contents(c)
    assert c("SAVE") == "OK"
    first.stop()
    middle = ttlkv(tmp_path)
    c = resp.Client(middle.port)
    assert c("SAVE") == "OK"
    middle.stop(signal.SIGKILL)
    last = redis(tmp_path)
    try:
        assert_same_contents(before, contents(resp.Client(last.port)), ttl_tolerance_ms=2000)
    finally:
        last.stop()


def test_a_redis_dump_with_other_types_loads_its_strings(tmp_path):
    """Lists, hashes, sets and sorted sets are skipped (with a warning in the
    log), strings load; what was skipped is not written back."""
    theirs = redis(tmp_path)
    c = resp.Client(theirs.port)
    assert c("SET", "s", "v") == "OK"
    assert c("RPUSH", "l", "a", "b") == 2
    assert c("HSET", "h", "f", "v") == 1
    assert c("SADD", "set", "m") == 1
    assert c("ZADD", "z", 1, "m") == 1
    assert c("SAVE") == "OK"
    theirs.stop()
    log = tmp_path / "ttlkv.log"
    with open(log, "wb") as f:
        ours = servers.ttlkv_server("--dir", tmp_path, "--save", "", log=f)
        try:
            c = resp.Client(ours.port)
            assert c("DBSIZE") == 1 and c("GET", "s") == b"v"
            assert info(c)["rdb_last_load_keys_loaded"] == "1"
        finally:
            ours.stop()
    text = log.read_text()
    assert "skipped" in text and "list" in text and "hash" in text, text


def test_keys_expired_in_the_file_are_not_loaded_as_redis(tmp_path):
    """Keys whose deadline passed while the servers were down are dropped at
    load and counted in rdb_last_load_keys_expired, by both servers."""
    ours = ttlkv(tmp_path)
    c = resp.Client(ours.port)
    written = time.monotonic()
    write(c, [(b"short:%d" % i, b"x", 1500) for i in range(20)] + [(b"long:%d" % i, b"y", 600_000) for i in range(5)]
          + [(b"forever", b"z", None)])
    assert c("SAVE") == "OK"
    assert time.monotonic() - written < 1.5, "the short keys expired before the save: nothing to drop"
    ours.stop(signal.SIGKILL)
    time.sleep(max(0.0, written + 1.6 - time.monotonic()))
    shutil.copy(dump(tmp_path), tmp_path / "copy.rdb")
    for kind in ["ttlkv", "redis"]:
        shutil.copy(tmp_path / "copy.rdb", dump(tmp_path))
        server = ttlkv(tmp_path) if kind == "ttlkv" else redis(tmp_path)
        try:
            c = resp.Client(server.port)
            assert c("DBSIZE") == 6, kind
            fields = info(c)
            assert (fields["rdb_last_load_keys_loaded"], fields["rdb_last_load_keys_expired"]) == ("6", "20"), kind
        finally:
            server.stop(signal.SIGKILL)
