/*
 Snapshots for the server: Redis's RDB persistence, without fork.

 One save at a time. SAVE writes in the caller's thread (the clients of its
 event loop wait, as all of Redis's do); BGSAVE and the save rules write on
 a thread of their own while every event loop serves on. A save asked for
 while one runs gets Redis's "Background save already in progress". A save
 walks the live store (Store.writeSnapshot): each key goes in with the
 value and deadline the walk finds, so a key changed during the save is in
 it with its old or its new state, never a mix; there is no point-in-time
 cut as fork gives Redis.

 Changes. Every write command adds the keys it names to its event loop's
 counter (Command.swift; a plain store, no lock). The changes since the
 last save are the sum now less the sum when that save began, so writes
 made during a save still count once it is done, as Redis's dirty counter.

 The gate: what may run now, one atomic word read per command. While the
 snapshot loads at start, commands without Redis's `loading` flag get
 LOADING. After a failed background save, with save rules and
 stop-writes-on-bgsave-error, writes and PING get MISCONF until a save
 succeeds. Once a shutdown's final save has begun, a write is neither run
 nor answered, and its connection closes after the replies before it, as
 every connection does when the server exits: no write is acknowledged and
 then lost. (If that save fails, the server goes on; those clients
 reconnect.)

 The rules are checked ten times a second on one event loop (Redis's cron
 at hz 10) with Redis's conditions: enough changes, more seconds than the
 rule's since the last successful save, and after a failed background save
 not within 5 seconds of its start.

 The slot. SAVE, FLUSHALL and the shutdown take turns (`slot`); FLUSHALL and
 the shutdown first cancel a running background save (its progress report
 throws) and wait for it, and no other save starts meanwhile, so that a
 save of the keys being flushed cannot land after the flush, nor one
 overwrite the final save. The shutdown cancels the load at start the same
 way, and then saves nothing: a half-loaded store must not replace the file.
 */
import Dispatch
import Logging
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

final class Persistence: Sendable {
    /// Why a save cannot start now.
    enum SaveRefusal: Error {
        /// Another save runs (or FLUSHALL or a shutdown holds the slot).
        case inProgress
        /// The server is shutting down.
        case closing

        var reply: String {
            switch self {
            case .inProgress: "ERR Background save already in progress"
            case .closing: "ERR Server is shutting down"
            }
        }
    }

    /// Why a command may not run now.
    enum Refusal: Equatable {
        /// Answer this error.
        case error(String)
        /// Neither run nor answer it, and close the connection once the
        /// replies before it are out (as at exit): a write while the final
        /// snapshot is saved, which would be acknowledged and then lost.
        case hangUp
    }

    /// Thrown from a progress report to stop a background save or the load.
    private struct Cancelled: Error {}

    /// Bits of the gate.
    private enum Gate {
        static let loading = 1
        static let saveFailed = 2
        static let finalSave = 4
    }

    private struct RunningSave {
        let background: Bool
        /// Unix milliseconds.
        let started: Int64
        /// The change count when it began.
        let changes: Int
        var processed = 0
        var total: Int
        var cancelled = false
    }

    private struct Loading {
        /// Unix milliseconds.
        let started: Int64
        let totalBytes: Int
        var loadedBytes = 0
        var cancelled = false
    }

    private struct State {
        var running: RunningSave?
        /// Set from start until the load is done; left set if it failed or
        /// was cancelled (the server then exits without saving).
        var loading: Loading?
        /// FLUSHALL or the shutdown holds the slot: no other save starts.
        var reserved = false
        /// The shutdown is under way: no save starts but its own.
        var closing = false
        /// Unix seconds of the last successful save (the start until then).
        var lastSave: Int64
        /// The change count when the last successful save began.
        var savedChanges = 0
        var lastBackgroundSaveFailed = false
        var lastBackgroundSaveSeconds: Int64 = -1
        /// Unix seconds: a failed one is retried by the rules 5 s after.
        var lastBackgroundSaveStart: Int64 = 0
        var saves = 0
        var lastLoad = (keys: 0, expired: 0)
    }

    /// The snapshot file.
    let path: String
    private let rules: [SaveRule]
    private let refusesWritesAfterFailure: Bool
    private let keyspace: Keyspace
    private let statistics: ServerStatistics
    private let logger: Logger
    private let gate: Atomic<Int>
    private let state: Mutex<State>
    /// Held by SAVE, FLUSHALL and the shutdown; true once the shutdown is
    /// ready (a second asks nothing more).
    private let slot = Mutex<Bool>(false)
    /// Runs the background saves and the load at start, one at a time;
    /// `queue.sync {}` waits for the one running.
    private let queue = DispatchQueue(label: "ttlkv-server.persistence")
    /// Seconds after a failed background save began before the rules try
    /// again (Redis's CONFIG_BGSAVE_RETRY_DELAY).
    private static let retryDelay: Int64 = 5

    static let loadingReply = "LOADING Redis is loading the dataset in memory"
    static let misconfReply = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to "
        + "disk. Commands that may modify the data set are disabled, because this instance is configured to report errors "
        + "during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for "
        + "details about the RDB error."

    /// Persistence for `keyspace`; if `loading`, the gate refuses what Redis
    /// refuses while loading until ``start(on:onLoadFailure:)`` has loaded
    /// the snapshot.
    init(configuration: ServerConfiguration, keyspace: Keyspace, statistics: ServerStatistics, loading: Bool,
         logger: Logger) {
        path = configuration.snapshotPath
        rules = configuration.saveRules
        refusesWritesAfterFailure = configuration.stopWritesOnSaveError && !configuration.saveRules.isEmpty
        self.keyspace = keyspace
        self.statistics = statistics
        self.logger = logger
        let now = WallClock.milliseconds()
        var initial = State(lastSave: now / 1000)
        if loading { initial.loading = Loading(started: now, totalBytes: Self.size(of: configuration.snapshotPath)) }
        state = Mutex(initial)
        gate = Atomic(loading ? Gate.loading : 0)
    }

    // MARK: The gate

    /// Why `command` may not run now, or nil if it may.
    @inline(__always)
    func refusal(of command: Command) -> Refusal? {
        let gate = gate.load(ordering: .acquiring)
        return gate == 0 ? nil : refusal(of: command, gate: gate)
    }

    private func refusal(of command: Command, gate: Int) -> Refusal? {
        // Redis's order: MISCONF, then LOADING.
        if gate & Gate.saveFailed != 0 && (command.isWrite || command.name == "ping") { return .error(Self.misconfReply) }
        if gate & Gate.finalSave != 0 && command.isWrite { return .hangUp }
        if gate & Gate.loading != 0 && !command.allowedWhileLoading { return .error(Self.loadingReply) }
        return nil
    }

    // MARK: Saving

    /// Unix seconds of the last successful save (LASTSAVE).
    var lastSaveTime: Int64 { state.withLock { $0.lastSave } }

    /// SAVE: writes the snapshot in the caller's thread. Throws a
    /// ``Refusal``, or why the write failed (logged; the previous file stays).
    func save() throws {
        try slot.withLock { _ in try saveInForeground() }
    }

    /// BGSAVE: starts a save on the persistence thread and returns.
    func startBackgroundSave() throws(SaveRefusal) {
        try begin(background: true, reserved: false)
        logger.notice("Background saving started")
        queue.async { self.finish(Result { try self.write() }) }
    }

    /// FLUSHALL: as Redis's, stops a background save (it would write the
    /// keys being flushed), runs `flush`, and with save rules saves the
    /// empty store at once, so that a crash does not bring the keys back.
    func flushAll(_ flush: () throws -> Void) rethrows {
        try slot.withLock { prepared in
            takeSlot()
            defer { state.withLock { $0.reserved = false } }
            try flush()
            if !rules.isEmpty && !prepared { try? saveInForeground(reserved: true) }
        }
    }

    /// With the slot held.
    private func saveInForeground(reserved: Bool = false) throws {
        try begin(background: false, reserved: reserved)
        let outcome = Result { try write() }
        finish(outcome)
        _ = try outcome.get()
    }

    private func begin(background: Bool, reserved: Bool) throws(SaveRefusal) {
        let changes = statistics.changes
        let keys = keyspace.count
        let now = WallClock.milliseconds()
        try state.withLock { state throws(SaveRefusal) in
            guard !state.closing || reserved else { throw .closing }
            guard state.running == nil && (!state.reserved || reserved) else { throw .inProgress }
            state.running = RunningSave(background: background, started: now, changes: changes, total: keys)
            state.saves += 1
            if background { state.lastBackgroundSaveStart = now / 1000 }
        }
    }

    private func write() throws -> Keyspace.SnapshotCount {
        try keyspace.writeSnapshot(to: path) { progress in
            try self.state.withLock { state in
                state.running?.processed = progress.keys
                if state.running?.cancelled == true { throw Cancelled() }
            }
        }
    }

    private func finish(_ outcome: Result<Keyspace.SnapshotCount, any Error>) {
        let now = WallClock.milliseconds()
        let running = state.withLock { state -> RunningSave? in
            guard let running = state.running else { return nil }
            state.running = nil
            if running.background { state.lastBackgroundSaveSeconds = (now - running.started) / 1000 }
            switch outcome {
            case .success:
                state.lastSave = now / 1000
                state.savedChanges = running.changes
                state.lastBackgroundSaveFailed = false
            case .failure(let error) where error is Cancelled:
                break
            case .failure:
                if running.background { state.lastBackgroundSaveFailed = true }
            }
            if state.lastBackgroundSaveFailed && refusesWritesAfterFailure {
                gate.bitwiseOr(Gate.saveFailed, ordering: .releasing)
            } else {
                gate.bitwiseAnd(~Gate.saveFailed, ordering: .releasing)
            }
            return running
        }
        guard let running else { return }
        let kind = running.background ? "Background saving" : "DB save"
        switch outcome {
        case .success(let count):
            logger.notice("\(kind) done", metadata: ["path": "\(path)", "keys": "\(count.keys)", "bytes": "\(count.bytes)",
                                                     "milliseconds": "\(now - running.started)"])
        case .failure(let error) where error is Cancelled:
            logger.notice("\(kind) stopped", metadata: ["path": "\(path)"])
        case .failure(let error):
            logger.error("\(kind) failed: \(error)", metadata: ["path": "\(path)"])
        }
    }

    // MARK: Rules and the load at start

    /// Checks the save rules ten times a second on `loop`, and loads the
    /// snapshot if the server started with one; `onLoadFailure` is called
    /// (on the persistence thread) if it cannot be loaded.
    func start(on loop: any EventLoop, onLoadFailure: @escaping @Sendable (any Error) -> Void) {
        if !rules.isEmpty {
            loop.scheduleRepeatedTask(initialDelay: .milliseconds(100), delay: .milliseconds(100)) { _ in self.applyRules() }
        }
        if state.withLock({ $0.loading != nil }) {
            queue.async { self.load(onFailure: onLoadFailure) }
        }
    }

    private func applyRules() {
        let changes = statistics.changes
        let now = WallClock.milliseconds() / 1000
        let due = state.withLock { state -> SaveRule? in
            guard !state.closing, !state.reserved, state.loading == nil, state.running == nil else { return nil }
            guard !state.lastBackgroundSaveFailed || now - state.lastBackgroundSaveStart > Self.retryDelay else { return nil }
            let elapsed = Int(now - state.lastSave)
            return rules.first { $0.isDue(elapsed: elapsed, changes: changes - state.savedChanges) }
        }
        guard let due else { return }
        logger.notice("\(due.changes) changes in \(due.seconds) seconds: saving")
        try? startBackgroundSave()
    }

    private func load(onFailure: @Sendable (any Error) -> Void) {
        logger.notice("loading the snapshot", metadata: ["path": "\(path)"])
        let started = ContinuousClock.now
        do {
            let done = try keyspace.loadSnapshot(from: path) { progress in
                try self.state.withLock { state in
                    state.loading?.loadedBytes = progress.bytes
                    state.lastLoad = (progress.keys, progress.expired)
                    if state.loading?.cancelled == true { throw Cancelled() }
                }
            }
            state.withLock { state in
                state.loading = nil
                state.lastLoad = (done.keys, done.expired)
            }
            gate.bitwiseAnd(~Gate.loading, ordering: .releasing)
            logger.notice("snapshot loaded", metadata: ["path": "\(path)", "keys": "\(done.keys)",
                                                        "expired": "\(done.expired)", "time": "\(ContinuousClock.now - started)"])
            if !done.skipped.isEmpty {
                let counts = done.skipped.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
                logger.warning("the snapshot holds values a store of strings cannot hold: skipped \(counts)",
                               metadata: ["path": "\(path)"])
            }
        } catch is Cancelled {
            logger.notice("loading the snapshot stopped by the shutdown", metadata: ["path": "\(path)"])
        } catch {
            let advice = "Not starting: repair or move the file (redis-check-rdb tells what is wrong), "
                + "or start with another --dir or --dbfilename."
            logger.critical("cannot load the snapshot \(path): \(error). \(advice)")
            onFailure(error)
        }
    }

    // MARK: Shutdown

    /// Gets the server ready to exit (SHUTDOWN, SIGTERM): stops a background
    /// save or the load, then saves if `save` says so (nil: if there are save
    /// rules), except while loading. False if that save failed and not
    /// `force` (the server must go on serving; the error is logged).
    /// Waits for a shutdown being prepared by another thread; once one is
    /// ready, returns true at once.
    func prepareShutdown(save: Bool?, force: Bool) -> Bool {
        slot.withLock { prepared in
            if prepared { return true }
            let loading = takeSlot(closing: true)
            guard !loading, save ?? !rules.isEmpty else {
                prepared = true
                return true
            }
            gate.bitwiseOr(Gate.finalSave, ordering: .releasing)
            logger.notice("saving the final snapshot before exiting", metadata: ["path": "\(path)"])
            do {
                try saveInForeground(reserved: true)
            } catch where !force {
                logger.error("cannot save the final snapshot, not exiting: \(error)")
                gate.bitwiseAnd(~Gate.finalSave, ordering: .releasing)
                state.withLock { state in
                    state.closing = false
                    state.reserved = false
                }
                return false
            } catch {
                logger.warning("cannot save the final snapshot, exiting anyway (FORCE): \(error)")
            }
            prepared = true
            return true
        }
    }

    /// With `slot` held: reserves the slot (and marks the shutdown if
    /// `closing`), cancels a background save or the load and waits for it.
    /// Returns whether the load at start had not finished.
    @discardableResult
    private func takeSlot(closing: Bool = false) -> Bool {
        let (loading, wait) = state.withLock { state -> (Bool, Bool) in
            state.reserved = true
            state.closing = state.closing || closing
            let background = state.running?.background == true
            if background { state.running!.cancelled = true }
            if closing { state.loading?.cancelled = true }
            return (state.loading != nil, background || (closing && state.loading != nil))
        }
        if wait { queue.sync {} }
        return loading
    }

    // MARK: INFO

    /// INFO persistence: Redis's fields that apply, in Redis's order, and
    /// the loading_ ones while the snapshot loads.
    func info() -> [(String, String)] {
        let changes = statistics.changes
        let now = WallClock.milliseconds()
        return state.withLock { state in
            let running = state.running
            let background = running?.background == true
            var fields = [
                ("loading", state.loading != nil ? "1" : "0"), ("async_loading", "0"),
                ("current_save_keys_processed", "\(running?.processed ?? 0)"),
                ("current_save_keys_total", "\(running?.total ?? 0)"),
                ("rdb_changes_since_last_save", "\(changes - state.savedChanges)"),
                ("rdb_bgsave_in_progress", background ? "1" : "0"),
                ("rdb_last_save_time", "\(state.lastSave)"),
                ("rdb_last_bgsave_status", state.lastBackgroundSaveFailed ? "err" : "ok"),
                ("rdb_last_bgsave_time_sec", "\(state.lastBackgroundSaveSeconds)"),
                ("rdb_current_bgsave_time_sec", background ? "\((now - running!.started) / 1000)" : "-1"),
                ("rdb_saves", "\(state.saves)"),
                ("rdb_last_load_keys_expired", "\(state.lastLoad.expired)"),
                ("rdb_last_load_keys_loaded", "\(state.lastLoad.keys)"),
                ("aof_enabled", "0"),
            ]
            if let loading = state.loading {
                let elapsed = Double(now - loading.started) / 1000
                let loaded = loading.loadedBytes, total = max(loading.totalBytes, 1)
                let remaining = total - loaded
                // Redis's estimate: the time so far, scaled by what is left.
                let eta = remaining > 0 && loaded > 0 ? Int(elapsed * Double(remaining) / Double(loaded + 1)) : 1
                fields += [
                    ("loading_start_time", "\(loading.started / 1000)"), ("loading_total_bytes", "\(loading.totalBytes)"),
                    ("loading_loaded_bytes", "\(loaded)"), ("loading_loaded_perc", percent(loaded, of: total)),
                    ("loading_eta_seconds", "\(eta)"),
                ]
            }
            return fields
        }
    }

    private func percent(_ part: Int, of whole: Int) -> String {
        let hundredths = part * 10_000 / whole
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }

    /// The size of the file at `path` (0 if it cannot be read).
    private static func size(of path: String) -> Int {
        var status = stat()
        return stat(path, &status) == 0 ? Int(status.st_size) : 0
    }
}
