// The long churn's schedule. Its keys expire on the wall clock, also while
// the other store has its turn, so its slices cannot be cut freely like
// other rounds: they follow a fixed timetable (each store every other
// slice, slice k ending at t0 + (k + 1) x slice), and every key's TTL is
// two whole periods of it (four slices). A key inserted some way into one
// of its store's slices then expires the same way into that store's slice
// two turns later: expiry runs in the store's own time, the other store's
// slices find its expiry worker idle, and the live count stays at
// rate x two slices, the table's contents being replaced every two of the
// store's slices.

/// When each store churns, and for how long its keys live.
struct ChurnSchedule: Equatable {
    /// Seconds per slice.
    var sliceSeconds: Double
    /// TTL of every key: two periods of two slices.
    var ttlMilliseconds: Int
    /// Slices per store: two to fill the table, two per replacement.
    var slicesPerStore: Int
    /// Per window after the fill, which of a store's slices it merges.
    var windows: [Range<Int>]
    /// Per window, the replacements it covers (the fill is replacement 0).
    var replaced: [ClosedRange<Int>]

    /// The schedule that keeps `liveKeys` live at `rate` new keys per
    /// second and replaces them `replacements` times after the fill, in
    /// at most `maxWindows` windows of whole replacements.
    init(liveKeys: Int, rate: Double, replacements: Int, maxWindows: Int = 10) {
        sliceSeconds = Double(liveKeys) / (2 * rate)
        ttlMilliseconds = Int((4 * sliceSeconds * 1000).rounded())
        slicesPerStore = 2 * (replacements + 1)
        let count = min(maxWindows, replacements)
        let bounds = (0...count).map { $0 * replacements / count }
        windows = (0..<count).map { (2 + 2 * bounds[$0])..<(2 + 2 * bounds[$0 + 1]) }
        replaced = (0..<count).map { (bounds[$0] + 1)...bounds[$0 + 1] }
    }

    /// When (ns after t0) slice `k` of the whole timetable ends.
    func end(ofSlice k: Int) -> UInt64 {
        UInt64(Double(k + 1) * sliceSeconds * 1e9)
    }
}
