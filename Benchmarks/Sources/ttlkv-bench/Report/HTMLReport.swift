import Foundation

/// The report as one self-contained HTML page: the header, then per
/// scenario its tables, notes and charts (inline SVG). A script marks the
/// body with how many tables and charts were laid out with a size, so that
/// a headless browser's DOM dump shows the page rendered.
func htmlReport(_ report: CompareReport) -> String {
    let sections = report.sections
    var html = """
    <!DOCTYPE html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <title>TTLKV benchmark</title>
    <style>
    body { font-family: sans-serif; margin: 24px; color: #222; max-width: 1500px; }
    pre.header { background: #f6f6f6; padding: 12px; white-space: pre-wrap; }
    nav a { margin-right: 12px; }
    section { border-top: 1px solid #ccc; margin-top: 24px; }
    table { border-collapse: collapse; margin: 12px 24px 12px 0; display: inline-table; vertical-align: top; }
    caption { text-align: left; font-weight: bold; padding-bottom: 4px; }
    th, td { padding: 2px 10px; text-align: right; font-variant-numeric: tabular-nums; }
    th { border-bottom: 1px solid #999; }
    td.label, th.label { text-align: left; }
    td.store0 { background: #dcebf7; }
    td.store1 { background: #fde4cc; }
    .charts { display: flex; flex-wrap: wrap; gap: 8px; }
    .charts svg { flex: 1 1 560px; max-width: 720px; height: auto; border: 1px solid #eee; }
    p.note { font-family: monospace; font-size: 13px; margin: 4px 0; }
    </style>
    </head>
    <body>
    <h1>TTLKV benchmark</h1>
    <pre class="header">\(escapeXML(report.header))</pre>
    <nav>\(sections.map { "<a href=\"#\($0.id)\">\(escapeXML($0.title))</a>" }.joined(separator: " "))</nav>

    """
    for section in sections {
        html += "<section id=\"\(section.id)\">\n<h2>\(escapeXML(section.title))</h2>\n"
        if !section.detail.isEmpty { html += "<p>\(escapeXML(section.detail))</p>\n" }
        for table in section.tables { html += htmlTable(table, stores: report.stores) }
        for note in section.notes { html += "<p class=\"note\">\(escapeXML(note))</p>\n" }
        if !section.charts.isEmpty { html += "<div class=\"charts\">\n\(section.charts.map(\.svg).joined())</div>\n" }
        html += "</section>\n"
    }
    html += """
    <script>
    window.addEventListener("load", function () {
      var tables = document.querySelectorAll("table").length;
      var svgs = Array.prototype.filter.call(document.querySelectorAll("svg"), function (svg) {
        var box = svg.getBoundingClientRect();
        return box.width > 0 && box.height > 0 && svg.querySelectorAll("polyline").length > 0;
      }).length;
      document.body.setAttribute("data-rendered", "tables=" + tables + " charts=" + svgs);
    });
    </script>
    </body>
    </html>

    """
    return html
}

/// One table; a call cell is shaded in the colour of the store it favours.
private func htmlTable(_ table: Table, stores: [String]) -> String {
    var html = "<table>\n"
    if let caption = table.caption { html += "<caption>\(escapeXML(caption))</caption>\n" }
    html += "<tr>" + table.header.enumerated().map { column, cell in
        "<th\(column < table.labelColumns ? " class=\"label\"" : "")>\(escapeXML(cell))</th>"
    }.joined() + "</tr>\n"
    for row in table.rows {
        html += "<tr>" + row.enumerated().map { column, cell in
            var classes: [String] = []
            if column < table.labelColumns { classes.append("label") }
            if let store = stores.firstIndex(where: { cell == "\($0) faster" || cell == "\($0) sooner" }) {
                classes.append("store\(store)")
            }
            return "<td\(classes.isEmpty ? "" : " class=\"\(classes.joined(separator: " "))\"")>\(escapeXML(cell))</td>"
        }.joined() + "</tr>\n"
    }
    return html + "</table>\n"
}

/// results.json, index.html, each section's charts as SVG files and each
/// comparison's merged histograms as .hgrm files, into `directory`.
func writeOutputs(_ report: CompareReport, histograms: [Comparison], to directory: String) throws {
    let url = URL(fileURLWithPath: directory)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    try encoder.encode(report).write(to: url.appendingPathComponent("results.json"))
    try htmlReport(report).write(to: url.appendingPathComponent("index.html"), atomically: true, encoding: .utf8)
    for section in report.sections {
        for chart in section.charts {
            try chart.svg.write(to: url.appendingPathComponent("\(section.id)-\(chart.kind).svg"), atomically: true, encoding: .utf8)
        }
    }
    for comparison in histograms {
        for (op, merged) in comparison.histograms {
            for (store, histogram) in zip(comparison.stores, merged) {
                var text = ""
                histogram.outputPercentileDistribution(to: &text, outputValueUnitScalingRatio: 1000)
                try text.write(to: url.appendingPathComponent("\(slug(comparison.name))-\(store)-\(op).hgrm"),
                               atomically: true, encoding: .utf8)
            }
        }
    }
}
