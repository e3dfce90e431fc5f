"""A well-behaved client that keeps being served while a test abuses the
server (test_abuse.py, test_adversarial.py)."""
import threading
import time

import resp


class Bystander(threading.Thread):
    """A well-behaved client doing SET/GET round trips while abuse runs;
    records how many it completed and the slowest one."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.client = resp.Client(port)
        self.stop = threading.Event()
        self.done = 0
        self.slowest = 0.0
        self.errors = []

    def run(self):
        i = 0
        while not self.stop.is_set():
            start = time.time()
            key = b"bystander:%d" % (i % 100)
            try:
                assert self.client("SET", key, i) == "OK"
                assert self.client("GET", key) == str(i).encode()
            except Exception as e:  # recorded, asserted by the test
                self.errors.append(repr(e))
                return
            self.slowest = max(self.slowest, time.time() - start)
            self.done += 1
            i += 1
            time.sleep(0.002)

    def finish(self):
        self.stop.set()
        self.join(10)
        self.client.close()
        assert self.errors == []
        assert self.done > 0
