import ArgumentParser
import Foundation

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every standard scenario on the ck store and the native store, in interleaved rounds (what `make bench` runs).",
        discussion: """
        Each store lives in its own child process, preloaded once; the driver alternates short measured rounds \
        between them and reports, per metric, each store's median over the rounds and the range of their ratio. \
        A difference is called only when every round's ratio lies on the same side of 1. Before each scenario \
        the driver waits for a quiet machine (after a process frees several GiB this VM stalls for seconds).
        """)

    @OptionGroup var options: BenchOptions

    func validate() throws {
        guard options.rounds >= 3 else { throw ValidationError("compare needs at least 3 --rounds") }
    }

    func run() throws {
        let report = try Interleaver(settings: options.settings).run()
        print(report.text)
        if let output = options.output {
            try writeOutputs(report, histograms: [report.preload] + report.phases + report.storm.windows + report.eviction.comparisons + [report.churn.summary],
                             to: output)
            print("wrote \(output)/index.html, results.json, SVG charts and .hgrm files")
        }
    }
}
