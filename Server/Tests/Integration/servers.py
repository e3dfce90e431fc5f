"""Servers for the integration tests: ttlkv-server, redis-server (the oracle)
and nutcracker (twemproxy), each started on a free loopback port and stopped
by the test that started it."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TTLKV_SERVER = os.environ.get("TTLKV_SERVER", os.path.join(ROOT, ".build", "debug", "ttlkv-server"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A server process listening on 127.0.0.1:port."""

    def __init__(self, argv, port, ready=None, log=None, cwd=None, scratch=None):
        self.port = port
        self.argv = argv
        self.log = log or open(os.devnull, "wb")
        # A folder of the test harness's own, removed once the process stops.
        self.scratch = scratch
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, cwd=cwd)
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None:
                self.remove_scratch()
                raise RuntimeError(f"{argv[0]} exited with {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                    if ready is None:
                        break
                    s.sendall(b"*1\r\n$4\r\nPING\r\n")
                    if s.recv(64).startswith((b"+PONG", b"-NOAUTH")):
                        break
            except OSError:
                pass
            if time.time() > deadline:
                self.proc.kill()
                self.remove_scratch()
                raise RuntimeError(f"{argv[0]} did not start on port {port}")
            time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def rss(self, field="VmRSS"):
        """Resident bytes from /proc (field VmHWM: the peak so far)."""
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self, sig=signal.SIGTERM, timeout=20):
        """Stops the process; returns its exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"{self.argv[0]} ignored {sig!r} for {timeout} s")
            finally:
                self.remove_scratch()
        return self.proc.returncode

    def remove_scratch(self):
        if self.scratch:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None


def ttlkv_server(*args, port=None, cwd=None, ready=True, **kwargs):
    """ttlkv-server with Redis's defaults, so also its save rules: it saves
    dump.rdb in its working directory on SIGTERM and loads one found there
    at start. Unless `cwd` is given, that is a fresh folder of its own,
    removed when it stops, so that no test sees another's snapshot."""
    port = port or free_port()
    argv = [TTLKV_SERVER, "--port", str(port), *map(str, args)]
    scratch = None if cwd else tempfile.mkdtemp(prefix="ttlkv-server-")
    return Process(argv, port, ready=ready, cwd=cwd or scratch, scratch=scratch, **kwargs)


def redis_server(*args, port=None, cwd=None, ready=True, **kwargs):
    """redis-server without save rules unless `args` give some (a later
    --save adds to the empty first one), in `cwd` or a fresh folder."""
    port = port or free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            *map(str, args)]
    scratch = None if cwd else tempfile.mkdtemp(prefix="redis-server-")
    return Process(argv, port, ready=ready, cwd=cwd or scratch, scratch=scratch, **kwargs)


def nutcracker(config_path, port, log=None):
    stats = free_port()
    return Process(["nutcracker", "-c", config_path, "-s", str(stats), "-a", "127.0.0.1", "-v", "6"], port, log=log)
