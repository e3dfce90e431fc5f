import CTTLKV
import Testing

/// Proves that Swift links the C core and can use `ttlkv.h` directly.
@Suite struct CTTLKVLinkTests {
    @Test func roundTripThroughTheCAPI() throws {
        var store: OpaquePointer?
        #expect(ttlkv_open(nil, &store) == TTLKV_OK)
        defer { ttlkv_close(store) }

        let key = Array("greeting".utf8)
        let value = Array("hello from C".utf8)
        #expect(ttlkv_put(store, key, key.count, value, value.count, 0) == TTLKV_OK)

        var buffer = [UInt8](repeating: 0, count: 64)
        var length = 0
        #expect(ttlkv_get(store, key, key.count, &buffer, buffer.count, &length) == TTLKV_OK)
        #expect(Array(buffer[..<length]) == value)
        #expect(ttlkv_count(store) == 1)
        #expect(String(cString: ttlkv_status_string(TTLKV_NOT_FOUND)) == "key not found")
    }
}
