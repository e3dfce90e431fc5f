"""SAVE, BGSAVE, LASTSAVE, INFO persistence, the save options and rules,
MISCONF, SHUTDOWN SAVE/NOSAVE and FLUSHALL's save, side by side with
redis-server 7 wherever Redis's behaviour is the promise, each server in a
folder of its own."""
import os
import signal
import subprocess
import threading
import time

import pytest

import resp
import servers
from snapshots import assert_redis_accepts, check_rdb, dump, fill, info, wait_for, wait_for_bgsave

KINDS = ["ttlkv", "redis"]


def start(kind, *args, cwd=None, **kwargs):
    make = servers.ttlkv_server if kind == "ttlkv" else servers.redis_server
    return make(*args, cwd=cwd, **kwargs)


def stop(server, kind, sig=signal.SIGTERM):
    code = server.stop(sig)
    if kind == "ttlkv" and sig == signal.SIGTERM:
        assert code == 0


def wait_exit(server, timeout=30):
    return server.proc.wait(timeout=timeout)


@pytest.mark.parametrize("kind", KINDS)
def test_save_bgsave_and_lastsave_answer_as_redis(kind, tmp_path):
    before = int(time.time())
    server = start(kind, "--dir", tmp_path)
    c = resp.Client(server.port)
    try:
        first = c("LASTSAVE")
        assert before - 1 <= first <= time.time() + 1
        assert c("SET", "k", "v") == "OK"
        assert info(c)["rdb_changes_since_last_save"] == "1"
        assert c("SAVE") == "OK"
        fields = info(c)
        assert fields["rdb_changes_since_last_save"] == "0"
        assert fields["rdb_saves"] == "1"
        assert fields["rdb_last_bgsave_status"] == "ok"
        assert c("LASTSAVE") >= first
        assert os.path.exists(dump(tmp_path))
        assert c("BGSAVE") == "Background saving started"
        fields = wait_for_bgsave(c)
        assert fields["rdb_saves"] == "2" and fields["rdb_last_bgsave_status"] == "ok"
        assert int(fields["rdb_last_bgsave_time_sec"]) >= 0
        assert fields["rdb_current_bgsave_time_sec"] == "-1"
        # SCHEDULE starts one at once when none runs (there is no AOF
        # rewrite to wait for).
        assert c("BGSAVE", "SCHEDULE") == "Background saving started"
        wait_for_bgsave(c)
        assert c("BGSAVE", "NOW") == resp.Error(b"ERR syntax error")
        assert c("BGSAVE", "SCHEDULE", "x") == resp.Error(b"ERR syntax error")
        assert c("SAVE", "x") == resp.Error(b"ERR wrong number of arguments for 'save' command")
        assert c("LASTSAVE", "x") == resp.Error(b"ERR wrong number of arguments for 'lastsave' command")
        assert_redis_accepts(dump(tmp_path), 1)
    finally:
        stop(server, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_a_save_while_a_background_save_runs_gets_redis_error(kind, tmp_path):
    server = start(kind, "--dir", tmp_path)
    c = resp.Client(server.port)
    try:
        fill(c, 200_000)
        replies = c.pipeline([("BGSAVE",), ("BGSAVE",), ("BGSAVE", "SCHEDULE"), ("SAVE",)])
        running = resp.Error(b"ERR Background save already in progress")
        assert replies == ["Background saving started", running, running, running]
        fields = wait_for_bgsave(c)
        assert fields["rdb_last_bgsave_status"] == "ok" and fields["rdb_saves"] == "1"
        assert_redis_accepts(dump(tmp_path), 200_000)
    finally:
        stop(server, kind)


def test_the_server_keeps_serving_during_a_background_save(tmp_path):
    """Without fork: the background save walks the store while clients read
    and write; INFO shows its progress."""
    server = servers.ttlkv_server("--dir", tmp_path)
    c, other = resp.Client(server.port), resp.Client(server.port)
    try:
        fill(c, 300_000)
        assert c("BGSAVE") == "Background saving started"
        served_during = 0
        seen_progress = False
        while info(c)["rdb_bgsave_in_progress"] == "1":
            assert other("SET", "during", served_during) == "OK"
            assert other("GET", "key:%011d" % 7).startswith(b"7:")
            fields = info(c)
            if fields["rdb_bgsave_in_progress"] == "1":
                served_during += 1
                assert fields["current_save_keys_total"] == "300000"
                assert int(fields["rdb_current_bgsave_time_sec"]) >= 0
                seen_progress |= 0 < int(fields["current_save_keys_processed"]) < 300_000
        assert served_during > 0
        assert seen_progress
        fields = info(c)
        assert fields["rdb_last_bgsave_status"] == "ok"
        # Writes made during the save still count as changes since it.
        assert int(fields["rdb_changes_since_last_save"]) >= served_during
        code, output = check_rdb(dump(tmp_path))
        assert code == 0 and "RDB looks OK" in output, output
    finally:
        stop(server, "ttlkv")


def test_info_persistence_shows_redis_fields_in_redis_order(tmp_path):
    sections = {}
    for kind in KINDS:
        (tmp_path / kind).mkdir()
        server = start(kind, "--dir", tmp_path / kind)
        c = resp.Client(server.port)
        try:
            sections[kind] = info(c)
            default = c("INFO").decode()
            assert "# Persistence\r\n" in default
            assert default.index("# Memory") < default.index("# Persistence") < default.index("# Stats")
        finally:
            stop(server, kind)
    ours, theirs = sections["ttlkv"], sections["redis"]
    for name in ["loading", "async_loading", "current_save_keys_processed", "current_save_keys_total",
                 "rdb_changes_since_last_save", "rdb_bgsave_in_progress", "rdb_last_save_time",
                 "rdb_last_bgsave_status", "rdb_last_bgsave_time_sec", "rdb_current_bgsave_time_sec",
                 "rdb_saves", "rdb_last_load_keys_expired", "rdb_last_load_keys_loaded", "aof_enabled"]:
        assert name in ours
    # Every field ttlkv-server shows, Redis shows, in the same order, with
    # the same value on a fresh server (the save time aside).
    assert [f for f in theirs if f in ours] == list(ours)
    assert {f: v for f, v in ours.items() if f != "rdb_last_save_time"} == \
        {f: theirs[f] for f in ours if f != "rdb_last_save_time"}


@pytest.mark.parametrize("kind", KINDS)
def test_config_get_reports_the_persistence_settings(kind, tmp_path):
    server = start(kind, "--dir", tmp_path, "--dbfilename", "cache.rdb", "--save", "900 1 60 500")
    c = resp.Client(server.port)
    try:
        assert c("CONFIG", "GET", "save") == [b"save", b"900 1 60 500"]
        assert c("CONFIG", "GET", "dbfilename") == [b"dbfilename", b"cache.rdb"]
        assert c("CONFIG", "GET", "dir") == [b"dir", os.path.realpath(tmp_path).encode()]
        assert c("CONFIG", "GET", "stop-writes-on-bgsave-error") == [b"stop-writes-on-bgsave-error", b"yes"]
        assert c("CONFIG", "GET", "appendonly") == [b"appendonly", b"no"]
        assert c("SAVE") == "OK"
        assert os.listdir(tmp_path) == ["cache.rdb"]
    finally:
        stop(server, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_the_default_save_rules_are_redis_7s(kind, tmp_path):
    if kind == "ttlkv":
        server = servers.ttlkv_server(cwd=tmp_path)
    else:
        # The harness gives redis-server --save "": start it plainly.
        port = servers.free_port()
        server = servers.Process(["redis-server", "--port", str(port), "--bind", "127.0.0.1"], port, ready=True,
                                 cwd=tmp_path)
    c = resp.Client(server.port)
    try:
        assert c("CONFIG", "GET", "save") == [b"save", b"3600 1 300 100 60 10000"]
        assert c("CONFIG", "GET", "dir") == [b"dir", os.path.realpath(tmp_path).encode()]
    finally:
        stop(server, kind)
    # ...so SIGTERM saved, in the working directory.
    assert os.path.exists(dump(tmp_path))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("option", [("--dir", "/nonexistent/folder"), ("--dbfilename", "a/b.rdb"),
                                    ("--save", "60"), ("--save", "x 1"), ("--save", "60 -1"),
                                    ("--stop-writes-on-bgsave-error", "maybe")])
def test_bad_persistence_options_stop_the_start(kind, option, tmp_path):
    binary = servers.TTLKV_SERVER if kind == "ttlkv" else "redis-server"
    result = subprocess.run([binary, "--port", str(servers.free_port()), *option], capture_output=True,
                            timeout=30, cwd=tmp_path)
    assert result.returncode != 0
    if kind == "ttlkv":
        assert option[0].encode() in result.stderr or option[1].encode() in result.stderr, result.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_save_rules_fire(kind, tmp_path):
    """`--save "1 3"`: three changes and more than a second since the last
    save start a background save; two changes do not."""
    server = start(kind, "--dir", tmp_path, "--save", "1 3")
    c = resp.Client(server.port)
    try:
        assert c.pipeline([("SET", "a", 1), ("SET", "b", 2)]) == ["OK", "OK"]
        time.sleep(2.5)
        assert not os.path.exists(dump(tmp_path))
        assert info(c)["rdb_changes_since_last_save"] == "2"
        before = c("LASTSAVE")
        assert c("SET", "c", 3) == "OK"
        wait_for(lambda: os.path.exists(dump(tmp_path)), timeout=10, what="the rule's save")
        fields = wait_for(lambda: (lambda f: f if f["rdb_changes_since_last_save"] == "0" else None)(info(c)),
                          timeout=10, what="the changes to be saved")
        assert fields["rdb_last_bgsave_status"] == "ok" and fields["rdb_saves"] == "1"
        assert c("LASTSAVE") >= before
        assert_redis_accepts(dump(tmp_path), 3)
    finally:
        stop(server, kind)


def test_changes_count_writes_not_reads_nor_refusals(tmp_path):
    """What rdb_changes_since_last_save counts (what the save rules see): a
    write command adds the keys it names; reads and refused writes add
    nothing."""
    server = servers.ttlkv_server("--dir", tmp_path, "--save", "")
    c = resp.Client(server.port)
    try:
        def changes():
            return int(info(c)["rdb_changes_since_last_save"])
        assert c("SET", "a", 1) == "OK" and changes() == 1
        assert c("GET", "a") == b"1" and c("EXISTS", "a") == 1 and changes() == 1
        assert c("MSET", "x", 1, "y", 2, "z", 3) == "OK" and changes() == 4
        assert c("INCR", "a") == 2 and changes() == 5
        assert c("SET", "a", "v", "EX", "notanumber") == resp.Error(b"ERR value is not an integer or out of range")
        assert changes() == 5
        assert c("INCR", "x") == 2 and c("APPEND", "x", "0") == 2 and changes() == 7
        assert c("SAVE") == "OK" and changes() == 0
    finally:
        stop(server, "ttlkv")


MISCONF = (b"MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. "
           b"Commands that may modify the data set are disabled, because this instance is configured to report "
           b"errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the "
           b"Redis logs for details about the RDB error.")


@pytest.mark.parametrize("kind", KINDS)
def test_a_failed_background_save_refuses_writes_as_redis(kind, tmp_path):
    """With save rules and stop-writes-on-bgsave-error yes (the defaults), a
    failed BGSAVE sets rdb_last_bgsave_status:err and writes (and PING) get
    MISCONF until a save succeeds; reads go on; SAVE and SHUTDOWN fail."""
    folder = tmp_path / "data"
    folder.mkdir()
    server = start(kind, "--dir", folder, "--save", "3600 1")
    c = resp.Client(server.port)
    try:
        assert c("SET", "k", "v") == "OK"
        folder.rmdir()   # saving now fails: the temporary file cannot be made
        assert c("BGSAVE") == "Background saving started"
        assert wait_for_bgsave(c)["rdb_last_bgsave_status"] == "err"
        assert c("SET", "k", "w") == resp.Error(MISCONF)
        assert c("INCR", "n") == resp.Error(MISCONF)
        assert c("PING") == resp.Error(MISCONF)
        assert c("GET", "k") == b"v"
        assert c("SAVE") == resp.Error(b"ERR")
        assert c("SHUTDOWN") == resp.Error(b"ERR Errors trying to SHUTDOWN. Check logs.")
        assert c("GET", "k") == b"v"
        if kind == "ttlkv":
            # ttlkv-server saves to the path, not to its working directory:
            # the folder made again, a save succeeds and writes are back.
            folder.mkdir()
            assert c("BGSAVE") == "Background saving started"
            assert wait_for_bgsave(c)["rdb_last_bgsave_status"] == "ok"
            assert c("SET", "k", "w") == "OK"
            assert c("PING") == "PONG"
    finally:
        stop(server, kind, signal.SIGKILL)


@pytest.mark.parametrize("kind", KINDS)
def test_stop_writes_on_bgsave_error_no_keeps_writes(kind, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    server = start(kind, "--dir", folder, "--save", "3600 1", "--stop-writes-on-bgsave-error", "no")
    c = resp.Client(server.port)
    try:
        folder.rmdir()
        assert c("BGSAVE") == "Background saving started"
        assert wait_for_bgsave(c)["rdb_last_bgsave_status"] == "err"
        assert c("SET", "k", "w") == "OK"
        assert c("PING") == "PONG"
    finally:
        stop(server, kind, signal.SIGKILL)


def send_shutdown(c, *args):
    """SHUTDOWN's outcome: None when the server closed the connection (it
    exits), else the error reply."""
    try:
        reply = c("SHUTDOWN", *args)
    except (ConnectionError, OSError):
        return None
    return reply


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rules,arguments,saves", [
    ("", (), False), ("", ("SAVE",), True), ("3600 1", (), True), ("3600 1", ("NOSAVE",), False),
    ("3600 1", ("NOW", "FORCE"), True),
])
def test_shutdown_saves_as_redis(kind, rules, arguments, saves, tmp_path):
    server = start(kind, "--dir", tmp_path, "--save", rules)
    c = resp.Client(server.port)
    assert c("SET", "k", "v") == "OK"
    assert send_shutdown(c, *arguments) is None
    assert wait_exit(server) == 0
    assert os.path.exists(dump(tmp_path)) == saves
    if saves:
        assert_redis_accepts(dump(tmp_path), 1)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rules", ["", "3600 1"])
def test_sigterm_saves_when_there_are_save_rules(kind, rules, tmp_path):
    server = start(kind, "--dir", tmp_path, "--save", rules)
    c = resp.Client(server.port)
    assert c("SET", "k", "v") == "OK"
    assert server.stop() == 0
    assert os.path.exists(dump(tmp_path)) == bool(rules)
    if rules:
        assert_redis_accepts(dump(tmp_path), 1)
        again = start(kind, "--dir", tmp_path)
        try:
            assert resp.Client(again.port)("GET", "k") == b"v"
        finally:
            stop(again, kind, signal.SIGKILL)


@pytest.mark.parametrize("kind", KINDS)
def test_shutdown_force_exits_though_the_save_fails(kind, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    server = start(kind, "--dir", folder, "--save", "3600 1")
    c = resp.Client(server.port)
    folder.rmdir()
    assert send_shutdown(c) == resp.Error(b"ERR Errors trying to SHUTDOWN. Check logs.")
    assert send_shutdown(c, "FORCE") is None
    assert wait_exit(server) == 0


def test_sigterm_that_cannot_save_keeps_the_server_running(tmp_path):
    """As Redis: a SIGTERM whose final save fails is logged, and the server
    goes on serving (a SHUTDOWN NOSAVE or a later SIGTERM stops it)."""
    folder = tmp_path / "data"
    folder.mkdir()
    server = servers.ttlkv_server("--dir", folder, "--save", "3600 1")
    c = resp.Client(server.port)
    folder.rmdir()
    server.proc.send_signal(signal.SIGTERM)
    time.sleep(1.5)
    assert server.proc.poll() is None
    assert c("GET", "k") is None
    folder.mkdir()
    assert server.stop() == 0
    assert os.path.exists(dump(folder))


def test_every_write_acknowledged_before_shutdown_is_in_the_snapshot(tmp_path):
    """Clients increment their counters as fast as they can while another
    sends SHUTDOWN: the snapshot holds every increment a client was told of
    (a write that comes once the final save has begun is refused)."""
    server = servers.ttlkv_server("--dir", tmp_path)
    writers = 4
    acknowledged = [0] * writers

    def write(index):
        c = resp.Client(server.port)
        try:
            while True:
                replies = c.pipeline([("INCR", f"counter:{index}")] * 50)
                for reply in replies:
                    if isinstance(reply, int):
                        acknowledged[index] = max(acknowledged[index], reply)
        except (ConnectionError, OSError):
            pass

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    assert send_shutdown(resp.Client(server.port)) is None
    for t in threads:
        t.join(30)
    assert wait_exit(server) == 0
    assert all(a > 0 for a in acknowledged)
    again = servers.ttlkv_server(cwd=tmp_path)
    try:
        c = resp.Client(again.port)
        for i in range(writers):
            assert int(c("GET", f"counter:{i}")) >= acknowledged[i]
    finally:
        again.stop(signal.SIGKILL)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rules", ["", "3600 1"])
def test_flushall_saves_when_there_are_save_rules(kind, rules, tmp_path):
    """As Redis: with save rules, FLUSHALL saves the emptied store at once,
    so that a crash right after it does not bring the keys back."""
    server = start(kind, "--dir", tmp_path, "--save", rules)
    c = resp.Client(server.port)
    fill(c, 100)
    assert c("SAVE") == "OK"
    assert c("FLUSHALL") == "OK"
    server.stop(signal.SIGKILL)
    assert_redis_accepts(dump(tmp_path), 0 if rules else 100)
    again = start(kind, "--dir", tmp_path, "--save", rules)
    try:
        assert resp.Client(again.port)("DBSIZE") == (0 if rules else 100)
    finally:
        stop(again, kind, signal.SIGKILL)
