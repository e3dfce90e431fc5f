#if canImport(Glibc)
import Glibc
#endif
import Synchronization
import Testing
@testable import TTLKV

/// The native store's system clock on a simulated machine: monotonic time
/// moves when a test says (and, to play a preemption, by a fixed step after
/// every precise monotonic read), the coarse clock ticks every 4 ms, and boot
/// time adds the time spent suspended.
final class SimulatedMachine: Sendable {
    let monotonic = Atomic<UInt64>(1_000 * 1_000_000_000 + 1_300_000)
    let suspended = Atomic<UInt64>(0)
    let preemption: UInt64

    init(preemptedAfterMonotonicReadsFor preemption: UInt64 = 0) {
        self.preemption = preemption
    }

    /// Boot time in nanoseconds, as the kernel would report it now.
    var bootNanoseconds: UInt64 {
        monotonic.load(ordering: .relaxed) + suspended.load(ordering: .relaxed)
    }

    func advance(milliseconds: UInt64) {
        monotonic.add(milliseconds * 1_000_000, ordering: .relaxed)
    }

    func suspend(seconds: UInt64) {
        suspended.add(seconds * 1_000_000_000, ordering: .relaxed)
    }

    func read(_ id: clockid_t) -> UInt64 {
        let now = monotonic.load(ordering: .relaxed)
        switch id {
        case CLOCK_BOOTTIME:
            return now + suspended.load(ordering: .relaxed)
        case CLOCK_MONOTONIC_COARSE:
            return now - now % 4_000_000
        default:
            monotonic.add(preemption, ordering: .relaxed)
            return now
        }
    }

    func clock() -> BootClock {
        BootClock(read: { self.read($0) })
    }
}

@Suite struct BootClockTests {
    /// A deadline is computed from the precise boot time: right after a
    /// resume it must include the time slept, or a key written then would
    /// expire as soon as the coarse clock's offset catches up (a 60 s key
    /// gone within a second of a one-hour suspend).
    @Test func deadlineBaseCountsASuspendAtOnce() {
        let machine = SimulatedMachine()
        let clock = machine.clock()
        _ = clock.milliseconds
        machine.advance(milliseconds: 300)
        machine.suspend(seconds: 3_600)
        let boot = machine.bootNanoseconds
        let base = clock.millisecondsRoundedUp
        #expect(base >= boot / 1_000_000 && base <= boot / 1_000_000 + 1)
    }

    /// The expiry clock never runs ahead of boot time (a key would be seen
    /// expired early) and catches up with a suspend within a second.
    @Test func expiryClockLagsButNeverLeads() {
        let machine = SimulatedMachine()
        let clock = machine.clock()
        var caughtUpAfter: UInt64?
        for step in 0..<2_000 as Range<UInt64> {
            if step == 50 { machine.suspend(seconds: 3_600) }
            let now = clock.milliseconds
            let boot = machine.bootNanoseconds / 1_000_000
            #expect(now <= boot)
            if step >= 50, caughtUpAfter == nil, boot - now <= 4 { caughtUpAfter = (step - 50) * 5 }
            machine.advance(milliseconds: 5)
        }
        #expect(caughtUpAfter != nil && caughtUpAfter! <= 1_000)
    }

    /// A thread preempted between the two reads of a refresh must not leave
    /// the offset too large: every later reading would run ahead of boot
    /// time, and keys would be seen expired early.
    @Test func preemptedRefreshNeverRunsTheClockAhead() {
        let machine = SimulatedMachine(preemptedAfterMonotonicReadsFor: 5_000_000)
        let clock = machine.clock()
        for _ in 0..<1_000 {
            machine.advance(milliseconds: 1)
            let now = clock.milliseconds
            #expect(now <= machine.bootNanoseconds / 1_000_000)
            let base = clock.millisecondsRoundedUp
            #expect(now <= base)
        }
    }

    /// The expiry worker's reading is the precise boot time rounded down:
    /// never ahead of it (a key would go early), never behind the coarse
    /// reading, and at most a millisecond behind boot time (a key due in
    /// the last kernel tick would otherwise wait a whole worker round).
    @Test func theWorkersClockIsPreciseAndNeverLeads() {
        let machine = SimulatedMachine()
        let clock = machine.clock()
        for _ in 0..<1_000 {
            machine.advance(milliseconds: 1)
            let precise = clock.preciseMilliseconds, boot = machine.bootNanoseconds / 1_000_000
            #expect(precise <= boot && precise + 1 >= boot)
            #expect(precise >= clock.milliseconds)
        }
    }

    /// Both stores tell the time (``ManagedStore/now``, the worker's time)
    /// from the precise boot clock, not the coarse one that lags it.
    @Test(arguments: StoreKind.allCases)
    func aStoresNowIsThePreciseClock(kind: StoreKind) throws {
        let store = try kind.make(StoreConfiguration(capacity: 64))
        var behind = 0
        for _ in 0..<200 {
            let boot = BootClock.systemNanoseconds(CLOCK_BOOTTIME) / 1_000_000
            if store.now.milliseconds < boot { behind += 1 }
            usleep(100)
        }
        #expect(behind == 0, "store.now was behind the boot clock read before it \(behind) of 200 times")
    }
}
