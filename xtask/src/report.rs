//! Renders benchmark results: a terminal table and a self-contained HTML page
//! with one SVG bar chart per benchmark.
//!
//! Implementations are compared by benchmark name (and unit): a peer often
//! runs at a size worded differently from burrow's ("200000 round trips
//! (mpsc(1))"), so each row shows its own size note beside its median. The
//! ratio column is always `burrow ÷ peer` of the medians. For units where
//! lower is better (times, bytes) a ratio below 1 means burrow wins; for
//! throughputs a ratio above 1 means burrow wins. The `wins` column says
//! which, so nobody has to remember.
//!
//! Every row also shows the spread of its samples (largest ÷ smallest);
//! above [`UNSTEADY_SPREAD`] the row is marked `UNSTEADY`: its median
//! hides two different behaviours (a benchmark that is fast in its first
//! sample and slow after, or a box too busy to measure on), and must be
//! explained before its ratio is quoted.

use std::fmt::Write as _;

use crate::protocol::{Better, Record};

use crate::bench::Results;

/// Largest ÷ smallest sample above which a row is flagged `UNSTEADY`.
pub(crate) const UNSTEADY_SPREAD: f64 = 2.0;

/// One benchmark with all its implementations, in the order first seen.
struct Group<'a> {
    bench: &'a str,
    unit: &'a str,
    better: Better,
    rows: Vec<&'a Record>,
}

/// Groups records by benchmark name and unit (not by size: see the
/// module docs).
fn groups(results: &Results) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for r in &results.records {
        match out
            .iter_mut()
            .find(|g| g.bench == r.bench && g.unit == r.unit)
        {
            Some(g) => g.rows.push(r),
            None => out.push(Group {
                bench: &r.bench,
                unit: &r.unit,
                better: r.better,
                rows: vec![r],
            }),
        }
    }
    out
}

/// Largest ÷ smallest sample of `r` (1 for a single sample; infinite if a
/// sample is zero and another is not).
pub(crate) fn spread(r: &Record) -> f64 {
    let min = r.samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = r.samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if r.samples.is_empty() || max == min {
        1.0
    } else if min <= 0.0 {
        f64::INFINITY
    } else {
        max / min
    }
}

/// Whether `r`'s samples spread more than [`UNSTEADY_SPREAD`].
pub(crate) fn unsteady(r: &Record) -> bool {
    spread(r) > UNSTEADY_SPREAD
}

/// `burrow ÷ peer`, and whether that means burrow is better.
fn ratio(g: &Group<'_>, peer: &Record) -> Option<(f64, bool)> {
    let burrow = g.rows.iter().find(|r| r.imp == "burrow")?;
    if peer.imp == "burrow" || peer.median == 0.0 {
        return None;
    }
    let x = burrow.median / peer.median;
    let wins = match g.better {
        Better::Lower => x <= 1.0,
        Better::Higher => x >= 1.0,
    };
    Some((x, wins))
}

/// The terminal table.
pub(crate) fn table(results: &Results) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<22} {:<16} {:<18} {:<48} {:>12} {:>8} {:>12}  burrow wins?",
        "benchmark", "unit", "impl", "size", "median", "spread", "burrow/impl"
    );
    let mut flagged = Vec::new();
    for g in groups(results) {
        for (i, r) in g.rows.iter().enumerate() {
            let (b, u) = if i == 0 { (g.bench, g.unit) } else { ("", "") };
            let (ratio_s, wins) = match ratio(&g, r) {
                Some((x, w)) => (fmt_ratio(x), if w { "yes" } else { "no" }),
                None => (String::new(), ""),
            };
            let flag = if unsteady(r) {
                flagged.push(format!("{} / {}", r.bench, r.imp));
                "  UNSTEADY"
            } else {
                ""
            };
            let _ = writeln!(
                s,
                "{b:<22} {u:<16} {:<18} {:<48} {:>12} {:>8} {ratio_s:>12}  {wins}{flag}",
                r.imp,
                r.size,
                fmt_num(r.median),
                fmt_spread(spread(r))
            );
        }
    }
    if !flagged.is_empty() {
        let _ = writeln!(
            s,
            "UNSTEADY (samples spread more than {UNSTEADY_SPREAD}×; the median hides it): {}",
            flagged.join(", ")
        );
    }
    for k in &results.skips {
        let _ = writeln!(s, "skipped {} / {}: {}", k.bench, k.imp, k.reason);
    }
    s
}

/// A spread as `1.23×`.
fn fmt_spread(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}×")
    } else {
        "inf".into()
    }
}

/// Two decimals, or three significant digits for small ratios (0.004×).
fn fmt_ratio(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.1 {
        format!("{x:.1e}×")
    } else {
        format!("{x:.2}×")
    }
}

fn fmt_num(x: f64) -> String {
    if x.abs() >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.3}")
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The self-contained HTML page (`target/bench/index.html`).
pub(crate) fn html(results: &Results) -> String {
    let mut s = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>burrow benchmarks</title>\
         <style>body{font-family:sans-serif;max-width:60em;margin:2em auto}\
         table{border-collapse:collapse}td,th{padding:2px 8px;text-align:right}\
         td:first-child,th:first-child{text-align:left}.win{color:#070}.lose{color:#a00}</style>\
         </head><body><h1>burrow benchmarks</h1>",
    );
    let mode = if results.quick {
        "quick (smoke sizes)"
    } else {
        "full"
    };
    let _ = write!(
        s,
        "<p>Mode: {mode}. Ratio = burrow ÷ peer of the medians.</p>"
    );
    for g in groups(results) {
        let dir = match g.better {
            Better::Lower => "lower is better",
            Better::Higher => "higher is better",
        };
        let _ = write!(s, "<h2>{}</h2><p>{} ({dir})</p>", esc(g.bench), esc(g.unit));
        s.push_str(&svg(&g));
        s.push_str(
            "<table><tr><th>impl</th><th>size</th><th>median</th><th>samples</th>\
             <th>spread</th><th>burrow/impl</th></tr>",
        );
        for r in &g.rows {
            let ratio = match ratio(&g, r) {
                Some((x, w)) => format!(
                    "<span class=\"{}\">{}</span>",
                    if w { "win" } else { "lose" },
                    fmt_ratio(x)
                ),
                None => String::new(),
            };
            let steady = if unsteady(r) {
                " <span class=\"lose\">UNSTEADY</span>"
            } else {
                ""
            };
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{steady}</td>\
                 <td>{ratio}</td></tr>",
                esc(&r.imp),
                esc(&r.size),
                fmt_num(r.median),
                r.samples.len(),
                fmt_spread(spread(r))
            );
        }
        s.push_str("</table>");
    }
    if !results.skips.is_empty() {
        s.push_str("<h2>Skipped</h2><ul>");
        for k in &results.skips {
            let _ = write!(
                s,
                "<li>{} / {}: {}</li>",
                esc(&k.bench),
                esc(&k.imp),
                esc(&k.reason)
            );
        }
        s.push_str("</ul>");
    }
    s.push_str("</body></html>\n");
    s
}

/// A horizontal bar chart of the medians of one benchmark.
fn svg(g: &Group<'_>) -> String {
    const ROW: usize = 24;
    const LABEL: f64 = 110.0;
    const WIDTH: f64 = 520.0;
    let max = g
        .rows
        .iter()
        .map(|r| r.median)
        .fold(0.0_f64, f64::max)
        .max(f64::MIN_POSITIVE);
    let h = ROW * g.rows.len() + 4;
    let mut s = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"860\" height=\"{h}\">");
    for (i, r) in g.rows.iter().enumerate() {
        let y = i * ROW + 2;
        let w = (r.median / max * WIDTH).max(1.0);
        let fill = if r.imp == "burrow" { "#c60" } else { "#69c" };
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{}</text>\
             <rect x=\"{LABEL}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{fill}\"/>\
             <text x=\"{:.1}\" y=\"{}\" font-size=\"12\">{} {}</text>",
            y + 15,
            esc(&r.imp),
            ROW - 6,
            LABEL + w + 4.0,
            y + 15,
            fmt_num(r.median),
            esc(g.unit)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(imp: &str, median: f64, better: Better) -> Record {
        Record {
            bench: "b".into(),
            size: format!("n ({imp})"),
            unit: "ns/op".into(),
            better,
            imp: imp.into(),
            median,
            samples: vec![median],
        }
    }

    #[test]
    fn ratio_is_burrow_over_peer_and_direction_aware() {
        let results = Results {
            records: vec![
                rec("burrow", 50.0, Better::Lower),
                rec("go", 100.0, Better::Lower),
            ],
            ..Results::default()
        };
        let t = table(&results);
        assert!(t.contains("0.50×"), "{t}");
        assert!(t.contains("yes"), "{t}");
        let results = Results {
            records: vec![
                rec("burrow", 50.0, Better::Higher),
                rec("go", 100.0, Better::Higher),
            ],
            ..Results::default()
        };
        assert!(table(&results).contains("no"));
    }

    #[test]
    fn html_escapes_and_draws_bars() {
        let results = Results {
            records: vec![rec("<burrow>", 1.0, Better::Lower)],
            ..Results::default()
        };
        let h = html(&results);
        assert!(h.contains("&lt;burrow&gt;"));
        assert!(h.contains("<svg"));
    }

    #[test]
    fn peers_pair_by_name_whatever_their_size_notes() {
        let results = Results {
            records: vec![
                rec("burrow", 50.0, Better::Lower),
                rec("tokio", 200.0, Better::Lower),
            ],
            ..Results::default()
        };
        let t = table(&results);
        assert!(t.contains("0.25×"), "tokio row must get a ratio: {t}");
        assert!(t.contains("n (tokio)") && t.contains("n (burrow)"), "{t}");
    }

    #[test]
    fn spread_over_two_is_flagged_unsteady() {
        let mut steady = rec("burrow", 10.0, Better::Higher);
        steady.samples = vec![10.0, 12.0, 19.0];
        let mut shaky = rec("go", 10.0, Better::Higher);
        shaky.samples = vec![50.0, 10.0, 8.0];
        assert!(!unsteady(&steady));
        assert!(unsteady(&shaky));
        let results = Results {
            records: vec![steady, shaky],
            ..Results::default()
        };
        let t = table(&results);
        let go_line = t.lines().find(|l| l.contains("n (go)")).unwrap();
        assert!(go_line.contains("UNSTEADY"), "{t}");
        assert!(go_line.contains("6.25×"), "{t}");
        let burrow_line = t.lines().find(|l| l.contains("n (burrow)")).unwrap();
        assert!(!burrow_line.contains("UNSTEADY"), "{t}");
        assert!(html(&results).contains("UNSTEADY"));
    }
}
