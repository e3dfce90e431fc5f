import Foundation
import Histogram
import Testing
@testable import ttlkv_bench

@Suite struct ProtocolTests {
    @Test func histogramsCrossThePipeIntact() throws {
        var histogram = makeHistogram()
        var random = FastRandom(seed: 7)
        for _ in 0..<100_000 { _ = histogram.record(100 + random.next(below: 10_000_000)) }
        _ = histogram.record(30_000_000_000)
        let wire = try JSONDecoder().decode(WireHistogram.self, from: JSONEncoder().encode(WireHistogram(histogram)))
        let back = wire.histogram
        #expect(back.totalCount == histogram.totalCount)
        #expect(back.max == histogram.max)
        for percentile in [0.0, 50, 90, 99, 99.9, 99.99] {
            #expect(back.valueAtPercentile(percentile) == histogram.valueAtPercentile(percentile))
        }
        // The largest value comes back as its bucket (3 significant digits).
        #expect(histogram.valuesAreEquivalent(back.valueAtPercentile(100), histogram.valueAtPercentile(100)))
        // Only the non-zero buckets travel.
        #expect(wire.buckets.count == 2 * histogram.recordedValues().map { _ in 1 }.count)
    }

    @Test func commandsAndRepliesRoundTrip() throws {
        let command = ChildCommand.churnSlice(until: 123_456_789, label: "slice 1")
        guard case .churnSlice(let until, let label) = try JSONDecoder().decode(ChildCommand.self, from: JSONEncoder().encode(command))
        else { Issue.record("wrong command"); return }
        #expect(until == 123_456_789 && label == "slice 1")
        let reply = try JSONDecoder().decode(ChildReply<Done>.self, from: JSONEncoder().encode(ChildReply<Done>(error: "broken")))
        #expect(reply.value == nil && reply.error == "broken")
    }

    @Test func linesSplitAcrossReadsAreJoined() throws {
        let pipe = Pipe()
        let reader = LineReader(pipe.fileHandleForReading.fileDescriptor)
        pipe.fileHandleForWriting.write(Data("a\nbc".utf8))
        #expect(reader.readLine() == Data("a".utf8))
        pipe.fileHandleForWriting.write(Data("d\n\n".utf8))
        #expect(reader.readLine() == Data("bcd".utf8))
        #expect(reader.readLine() == Data())
        try pipe.fileHandleForWriting.close()
        #expect(reader.readLine() == nil)
    }

    @Test func tablesAlignLabelsLeftAndNumbersRight() {
        let table = Table(header: ["op", "ck"], rows: [["get", "1.5"], ["delete", "10.25"]])
        #expect(table.text == "op         ck\nget       1.5\ndelete  10.25\n")
    }
}
