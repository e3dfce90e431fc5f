"""A minimal RESP2/RESP3 client that keeps every reply exact, errors
included (redis-py rewrites error prefixes into exception classes), for the
differential and protocol-level tests."""
import socket


class Error(bytes):
    """An error reply: the bytes after '-'."""

    def __repr__(self):
        return f"Error({bytes(self)!r})"


def encode(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


class Push(list):
    """A RESP3 push message (`>`): pub/sub messages and confirmations."""


class Client:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def close(self):
        self.file.close()
        self.sock.close()

    def __call__(self, *args):
        self.sock.sendall(encode(*args))
        return self.reply()

    def pipeline(self, commands):
        self.sock.sendall(b"".join(encode(*c) for c in commands))
        return [self.reply() for _ in commands]

    def send(self, *args):
        """Sends a request without waiting for its reply."""
        self.sock.sendall(encode(*args))

    def reply(self):
        line = self.file.readline()
        if not line:
            raise ConnectionError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return Error(rest)
        if kind == b":":
            return int(rest)
        if kind in (b"$", b"="):
            n = int(rest)
            if n < 0:
                return None
            data = self.file.read(n + 2)[:-2]
            return data
        if kind == b"_":
            return None
        if kind == b">":
            return Push(self.reply() for _ in range(int(rest)))
        if kind in (b"*", b"%"):
            n = int(rest)
            if n < 0:
                return None
            items = [self.reply() for _ in range(n * (2 if kind == b"%" else 1))]
            return dict(zip(items[::2], items[1::2])) if kind == b"%" else items
        raise ValueError(f"unexpected reply line {line!r}")
