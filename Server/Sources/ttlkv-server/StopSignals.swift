/*
 SIGTERM and SIGINT start the same graceful shutdown as SHUTDOWN.

 They are caught before the server listens. A signal sent as soon as the
 server answers must neither kill it (the default action, until the signal
 is set aside) nor go unnoticed (a signal set to be ignored is dropped until
 libdispatch has registered its source and taken the signal over, which it
 does asynchronously). So the server starts only once both sources are
 registered, and a signal that comes while it starts shuts it down as soon
 as it is up.
 */
import Dispatch
import Synchronization
import TTLKVServer
#if canImport(Glibc)
import Glibc
#endif

// Sendable: the sources are set up in init and afterwards only resumed and
// cancelled, which libdispatch allows from any thread; the rest is in a Mutex.
final class StopSignals: @unchecked Sendable {
    private let sources: [any DispatchSourceSignal]
    /// Whether a signal came, and the server to stop, once there is one.
    private let state = Mutex<(requested: Bool, server: RedisServer?)>((false, nil))

    /// Catches SIGTERM and SIGINT; returns once both are caught.
    static func catchSignals() async -> StopSignals {
        let signals = StopSignals()
        for source in signals.sources {
            await withCheckedContinuation { registered in
                source.setRegistrationHandler { registered.resume() }
                source.resume()
            }
        }
        return signals
    }

    private init() {
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGTERM, SIGINT] {
            signal(number, SIG_IGN)
            sources.append(DispatchSource.makeSignalSource(signal: number, queue: .global()))
        }
        self.sources = sources
        for source in sources {
            source.setEventHandler { [weak self] in self?.requestStop() }
        }
    }

    /// Stops `server` on the first signal, at once if one came already.
    func stop(_ server: RedisServer) {
        let requested = state.withLock { state in
            state.server = server
            return state.requested
        }
        if requested { server.shutdown() }
    }

    /// Stops catching the signals.
    func cancel() {
        sources.forEach { $0.cancel() }
    }

    private func requestStop() {
        let server = state.withLock { state in
            state.requested = true
            return state.server
        }
        server?.shutdown()
    }
}
