"""Subscribers for the pub/sub tests and the benchmark: one that reads as
fast as a socket can (and parses afterwards), one that never reads."""
import socket
import threading
import time

import resp


class Reader(threading.Thread):
    """A subscriber that reads as fast as it can and keeps every byte, with
    the time each chunk arrived, for parsing afterwards; or, with
    keep=False, only counts them (a long benchmark's gigabytes)."""

    def __init__(self, port, *subscribe, keep=True):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.sendall(resp.encode(*subscribe))
        self.chunks = []
        self.keep = keep
        self.received = 0
        self.closed = False
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                data = self.sock.recv(1 << 20)
            except OSError:
                break
            if not data:
                self.closed = True
                break
            self.received += len(data)
            if self.keep:
                self.chunks.append((time.time(), data))

    def finish(self):
        self.stop = True
        self.sock.shutdown(socket.SHUT_RDWR)
        self.join(5)
        self.sock.close()

    def messages(self):
        """(arrival time, [parts]) of every array or push received."""
        data = b"".join(d for _, d in self.chunks)
        ends = []
        total = 0
        for t, d in self.chunks:
            total += len(d)
            ends.append((total, t))
        out = []
        pos = 0
        chunk = 0
        while pos < len(data):
            assert data[pos:pos + 1] in (b"*", b">"), data[pos:pos + 40]
            eol = data.index(b"\r\n", pos)
            count = int(data[pos + 1:eol])
            pos = eol + 2
            parts = []
            for _ in range(count):
                eol = data.index(b"\r\n", pos)
                kind = data[pos:pos + 1]
                if kind == b":":
                    parts.append(int(data[pos + 1:eol]))
                    pos = eol + 2
                else:
                    n = int(data[pos + 1:eol])
                    parts.append(data[eol + 2:eol + 2 + n])
                    pos = eol + 2 + n + 2
            while ends[chunk][0] < pos:
                chunk += 1
            out.append((ends[chunk][1], parts))
        return out


class Sleeper:
    """A subscriber that never reads."""

    def __init__(self, port, *subscribe):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.sendall(resp.encode(*subscribe))

    def close(self):
        self.sock.close()
