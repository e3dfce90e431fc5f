"""Proves that ttlkv.h is usable from another language: Python's ctypes.

Usage: python3 Tests/Python/test_ctypes.py build/libttlkv.so
"""
import ctypes
import subprocess
import sys
import unittest

LIB_PATH = sys.argv.pop(1) if len(sys.argv) > 1 else "build/libttlkv.so"

OK, NOT_FOUND, BUFFER_TOO_SMALL, INVALID_ARGUMENT, KEY_TOO_LARGE = range(5)
NO_EXPIRY = 2**64 - 1

CLOCK_FN = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p)


class Options(ctypes.Structure):
    """Mirror of struct ttlkv_options."""
    _fields_ = [
        ("size", ctypes.c_uint32),
        ("shards", ctypes.c_uint32),
        ("capacity", ctypes.c_uint64),
        ("max_key_size", ctypes.c_uint32),
        ("max_value_size", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("max_entries", ctypes.c_uint64),
        ("seed", ctypes.c_uint64),
        ("clock", CLOCK_FN),
        ("clock_context", ctypes.c_void_p),
    ]


def load(path):
    lib = ctypes.CDLL(path)
    p, size, u64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64
    lib.ttlkv_options_init_sized.argtypes = [ctypes.POINTER(Options), size]
    lib.ttlkv_open.argtypes = [ctypes.POINTER(Options), ctypes.POINTER(p)]
    lib.ttlkv_close.argtypes = [p]
    lib.ttlkv_put.argtypes = [p, ctypes.c_char_p, size, ctypes.c_char_p, size, u64]
    lib.ttlkv_get.argtypes = [p, ctypes.c_char_p, size, p, size, ctypes.POINTER(size)]
    lib.ttlkv_delete.argtypes = [p, ctypes.c_char_p, size]
    lib.ttlkv_ttl.argtypes = [p, ctypes.c_char_p, size, ctypes.POINTER(u64)]
    lib.ttlkv_count.argtypes = [p]
    lib.ttlkv_count.restype = u64
    lib.ttlkv_status_string.argtypes = [ctypes.c_int]
    lib.ttlkv_status_string.restype = ctypes.c_char_p
    return lib


class CtypesTest(unittest.TestCase):
    def setUp(self):
        self.lib = load(LIB_PATH)
        self.now = 1000
        self.clock = CLOCK_FN(lambda _context: self.now)  # kept alive by self
        options = Options()
        self.lib.ttlkv_options_init_sized(ctypes.byref(options), ctypes.sizeof(options))
        options.max_key_size = 16
        options.clock = self.clock
        self.store = ctypes.c_void_p()
        self.assertEqual(self.lib.ttlkv_open(ctypes.byref(options), ctypes.byref(self.store)), OK)

    def tearDown(self):
        self.lib.ttlkv_close(self.store)

    def get(self, key):
        buf = ctypes.create_string_buffer(64)
        n = ctypes.c_size_t()
        status = self.lib.ttlkv_get(self.store, key, len(key), buf, 64, ctypes.byref(n))
        return status, buf.raw[: n.value] if status == OK else None

    def test_put_get_delete(self):
        self.assertEqual(self.lib.ttlkv_put(self.store, b"k\x00bin", 5, b"value", 5, 0), OK)
        self.assertEqual(self.get(b"k\x00bin"), (OK, b"value"))
        self.assertEqual(self.lib.ttlkv_count(self.store), 1)
        self.assertEqual(self.lib.ttlkv_delete(self.store, b"k\x00bin", 5), OK)
        self.assertEqual(self.get(b"k\x00bin"), (NOT_FOUND, None))

    def test_expiry_with_injected_clock(self):
        self.assertEqual(self.lib.ttlkv_put(self.store, b"t", 1, b"soon", 4, 50), OK)
        left = ctypes.c_uint64()
        self.assertEqual(self.lib.ttlkv_ttl(self.store, b"t", 1, ctypes.byref(left)), OK)
        self.assertEqual(left.value, 50)
        self.now += 50
        self.assertEqual(self.get(b"t"), (NOT_FOUND, None))
        self.assertEqual(self.lib.ttlkv_put(self.store, b"p", 1, b"kept", 4, 0), OK)
        self.assertEqual(self.lib.ttlkv_ttl(self.store, b"p", 1, ctypes.byref(left)), OK)
        self.assertEqual(left.value, NO_EXPIRY)

    def test_error_statuses(self):
        n = ctypes.c_size_t()
        self.assertEqual(self.lib.ttlkv_put(self.store, b"x" * 17, 17, b"v", 1, 0), KEY_TOO_LARGE)
        self.lib.ttlkv_put(self.store, b"big", 3, b"0123456789", 10, 0)
        tiny = ctypes.create_string_buffer(4)
        self.assertEqual(self.lib.ttlkv_get(self.store, b"big", 3, tiny, 4, ctypes.byref(n)),
                         BUFFER_TOO_SMALL)
        self.assertEqual(n.value, 10)
        self.assertEqual(self.lib.ttlkv_get(self.store, b"big", 3, tiny, 4, None), INVALID_ARGUMENT)
        self.assertEqual(self.lib.ttlkv_status_string(KEY_TOO_LARGE),
                         b"key larger than the store's maximum key size")


class ExportsTest(unittest.TestCase):
    def test_only_public_symbols_and_no_seed_reader(self):
        # Built with -fvisibility=hidden: nothing but the API leaves the
        # library, neither internal ttlkv__ helpers nor variables.
        out = subprocess.run(["nm", "-D", "--defined-only", LIB_PATH], capture_output=True, text=True, check=True)
        names = [line.split()[-1] for line in out.stdout.splitlines()]
        self.assertIn("ttlkv_open", names)
        self.assertTrue(all(n.startswith("ttlkv_") and not n.startswith("ttlkv__") for n in names), names)
        # The hash seed goes in through ttlkv_options and never comes out.
        self.assertFalse([n for n in names if "seed" in n])


class OptionsSizeTest(unittest.TestCase):
    """An older caller's smaller ttlkv_options is never written past, and a
    size the library does not know is refused rather than misread."""

    def test_init_writes_no_more_than_the_size_given(self):
        lib = load(LIB_PATH)
        buf = (ctypes.c_ubyte * 64)(*([0xAB] * 64))
        lib.ttlkv_options_init_sized(ctypes.cast(buf, ctypes.POINTER(Options)), 8)
        self.assertEqual(bytes(buf[8:]), b"\xab" * 56)
        self.assertEqual(int.from_bytes(bytes(buf[:4]), "little"), 8)

    def test_open_refuses_a_truncated_size(self):
        lib = load(LIB_PATH)
        options = Options()
        lib.ttlkv_options_init_sized(ctypes.byref(options), ctypes.sizeof(options))
        options.size = 8
        store = ctypes.c_void_p()
        self.assertEqual(lib.ttlkv_open(ctypes.byref(options), ctypes.byref(store)), INVALID_ARGUMENT)


class OptionsWithBudget(ctypes.Structure):
    """struct ttlkv_options as of the byte budget: max_bytes appended."""
    _fields_ = Options._fields_ + [("max_bytes", ctypes.c_uint64)]


STATS_FIELDS = ("entries", "bytes", "expired", "deferred_frees", "table_slots", "table_grows",
                "shards", "schedule_records", "table_rebuilds", "tombstones", "deferred_bytes",
                "evicted", "used_bytes", "max_bytes", "evicted_records")


class Stats(ctypes.Structure):
    """struct ttlkv_stats as of the byte budget."""
    _fields_ = [(name, ctypes.c_uint64) for name in STATS_FIELDS]


class BudgetAbiTest(unittest.TestCase):
    """The byte budget's fields were appended: a caller compiled before them
    gets no budget and is never written past; one compiled after gets it."""

    def open(self, options_type, max_bytes=None):
        lib = load(LIB_PATH)
        lib.ttlkv_options_init_sized.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        lib.ttlkv_open.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
        lib.ttlkv_stats_get_sized.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t]
        options = options_type()
        lib.ttlkv_options_init_sized(ctypes.byref(options), ctypes.sizeof(options))
        if max_bytes is not None:
            options.max_bytes = max_bytes
        store = ctypes.c_void_p()
        self.assertEqual(lib.ttlkv_open(ctypes.byref(options), ctypes.byref(store)), OK)
        self.addCleanup(lib.ttlkv_close, store)
        for i in range(5000):
            key = b"key%d" % i
            self.assertEqual(lib.ttlkv_put(store, key, len(key), b"v" * 100, 100, 0), OK)
        stats = Stats()
        self.assertEqual(lib.ttlkv_stats_get_sized(store, ctypes.byref(stats),
                                                   ctypes.sizeof(stats)), OK)
        return lib, store, stats

    def test_old_options_get_no_budget(self):
        _, _, stats = self.open(Options)
        self.assertEqual((stats.max_bytes, stats.evicted, stats.entries), (0, 0, 5000))
        self.assertGreater(stats.used_bytes, 5000 * 100)

    def test_new_options_get_their_budget(self):
        _, _, stats = self.open(OptionsWithBudget, 256 * 1024)
        self.assertEqual(stats.max_bytes, 256 * 1024)
        self.assertGreater(stats.evicted, 0)
        self.assertLessEqual(stats.used_bytes, 256 * 1024)
        self.assertEqual(stats.entries + stats.evicted, 5000)

    def test_old_stats_are_not_written_past(self):
        lib, store, _ = self.open(OptionsWithBudget, 256 * 1024)
        old_size = 11 * 8   # up to deferred_bytes, as published before the budget
        buf = (ctypes.c_ubyte * 160)(*([0xAB] * 160))
        self.assertEqual(lib.ttlkv_stats_get_sized(store, buf, old_size), OK)
        self.assertEqual(bytes(buf[old_size:]), b"\xab" * (160 - old_size))

    def test_the_new_status_has_its_string(self):
        lib = load(LIB_PATH)
        self.assertEqual(lib.ttlkv_status_string(13),
                         b"larger than its shard's share of the store's byte budget")
        self.assertEqual(lib.ttlkv_status_string(14), b"unknown status")


if __name__ == "__main__":
    unittest.main(verbosity=1)
