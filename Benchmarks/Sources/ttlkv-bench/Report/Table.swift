import Foundation

/// A table of the report: rendered as aligned text on standard output and
/// as an HTML table in index.html, from the same cells.
struct Table: Codable {
    var caption: String?
    var header: [String]
    var rows: [[String]]
    /// How many leading columns are labels (left-aligned).
    var labelColumns = 1

    /// Aligned text, one line per row; columns two spaces apart.
    var text: String {
        let widths = header.indices.map { column in
            ([header] + rows).map { $0.indices.contains(column) ? $0[column].count : 0 }.max() ?? 0
        }
        var out = caption.map { "\($0)\n" } ?? ""
        for row in [header] + rows {
            out += line(row, widths: widths) + "\n"
        }
        return out
    }

    /// One row in columns of `widths`.
    func line(_ row: [String], widths: [Int]) -> String {
        row.enumerated().map { column, cell in
            column < labelColumns ? pad(cell, widths[column], right: false) : pad(cell, widths[column])
        }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }
}

/// One scenario's part of the report.
struct Section: Codable {
    var title: String
    var detail: String
    var tables: [Table]
    var notes: [String]
    /// SVG charts for the HTML report (not in the text output).
    var charts: [Chart] = []

    private enum CodingKeys: String, CodingKey {
        case title, detail, tables, notes
    }

    /// The section's HTML id: its title in lower case, dashes for the rest.
    var id: String { slug(title) }

    /// The section as text: a heading, its tables and its notes.
    var text: String {
        var out = "\n== \(title) ==\n"
        if !detail.isEmpty { out += detail + "\n" }
        for table in tables { out += "\n" + table.text }
        if !notes.isEmpty { out += "\n" + notes.joined(separator: "\n") + "\n" }
        return out
    }
}

/// A chart of a section: its SVG, and its kind, which names its file
/// (`<section id>-<kind>.svg`).
struct Chart {
    var kind: String
    var svg: String
}

/// `s` padded with spaces to `width`, on the left unless `right` is false.
func pad(_ s: String, _ width: Int, right: Bool = true) -> String {
    s.count >= width ? s : right ? String(repeating: " ", count: width - s.count) + s : s + String(repeating: " ", count: width - s.count)
}

/// Nanoseconds as microseconds with 3 significant figures or so.
func micros(_ ns: Double) -> String {
    let us = ns / 1000
    return us >= 1000 ? String(format: "%.0f", us) : us >= 100 ? String(format: "%.1f", us) : String(format: "%.2f", us)
}

/// Operations per second in millions.
func millions(_ x: Double) -> String { String(format: "%.2f M", x / 1e6) }

/// A ratio as "1.05x".
func times(_ x: Double) -> String { String(format: x >= 100 ? "%.0fx" : x >= 10 ? "%.1fx" : "%.2fx", x) }

/// A range of ratios as "0.98-1.10x".
func timesRange(_ low: Double, _ high: Double) -> String {
    let f = { (x: Double) in String(format: x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : "%.2f", x) }
    return "\(f(low))-\(f(high))x"
}
