import Testing
@testable import TTLKVServer

/// notify-keyspace-events read and written as Redis 7.0 does.
@Suite struct KeyspaceEventFlagsTests {
    @Test func lettersAndCanonicalForm() {
        #expect(KeyspaceEventFlags("")?.description == "")
        #expect(KeyspaceEventFlags("KEA")?.description == "AKE")
        #expect(KeyspaceEventFlags("g$lshzxetdKE")?.description == "AKE")
        #expect(KeyspaceEventFlags("xK")?.description == "xK")
        #expect(KeyspaceEventFlags("Kn")?.description == "nK")
        #expect(KeyspaceEventFlags("AKEmn")?.description == "AKEm")
        #expect(KeyspaceEventFlags("$Eg")?.description == "g$E")
        #expect(KeyspaceEventFlags("KQ") == nil)
        #expect(KeyspaceEventFlags("A")!.contains([.expired, .evicted]) && !KeyspaceEventFlags("A")!.contains(.keyMiss))
    }
}
