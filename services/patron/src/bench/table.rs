//! The benchmark's table: each path's figures beside its baseline from the
//! same run, the goal issue 16 sets for it, and whether it was met.

use std::fmt;
use std::time::Duration;

use super::load::Measured;

/// A path's figures.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    /// Answers per second; `None` for a latency-only path (events).
    pub per_second: Option<f64>,
    /// How many latencies the percentiles are of.
    pub samples: usize,
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    pub p999: Option<Duration>,
    /// Calls answered with an error, or events that never arrived.
    pub errors: u64,
    pub first_error: Option<String>,
}

impl Figures {
    pub fn of(measured: &Measured) -> Self {
        Self {
            per_second: Some(measured.per_second()),
            ..Self::latencies_of(measured)
        }
    }

    /// Only the latencies (and errors) of `measured`.
    pub fn latencies_of(measured: &Measured) -> Self {
        let l = &measured.latencies;
        Self {
            per_second: None,
            samples: l.len(),
            p50: l.percentile(0.5),
            p99: l.percentile(0.99),
            p999: l.percentile(0.999),
            errors: measured.errors,
            first_error: measured.first_error.clone(),
        }
    }
}

/// What a path is held to.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// Throughput at least this fraction of the baseline's.
    RatioAtLeast(f64),
    /// Throughput at least this fraction of another row's (`of`, its rate).
    ShareOf {
        fraction: f64,
        of: &'static str,
        rate: f64,
    },
    /// p99 at most this.
    P99AtMost(Duration),
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub path: String,
    pub patron: Figures,
    /// What the baseline is, and its figures.
    pub baseline: Option<(String, Figures)>,
    pub goal: Goal,
}

impl Row {
    /// Patron's throughput over the baseline's.
    pub fn ratio(&self) -> Option<f64> {
        let (_, base) = self.baseline.as_ref()?;
        match (self.patron.per_second, base.per_second) {
            (Some(p), Some(b)) if b > 0.0 => Some(p / b),
            _ => None,
        }
    }

    /// Whether the goal was met; `None` when the run cannot tell (nothing
    /// measured).
    pub fn met(&self) -> Option<bool> {
        if self.patron.errors > 0 {
            return Some(false);
        }
        match self.goal {
            Goal::RatioAtLeast(at_least) => self.ratio().map(|r| r >= at_least),
            Goal::ShareOf { fraction, rate, .. } => {
                self.patron.per_second.map(|p| p >= fraction * rate)
            }
            Goal::P99AtMost(limit) => self.patron.p99.map(|p99| p99 <= limit),
        }
    }
}

/// The whole table, printed as markdown.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub rows: Vec<Row>,
}

impl Table {
    /// Every error any row counted.
    pub fn errors(&self) -> u64 {
        self.rows.iter().map(|r| r.patron.errors).sum::<u64>()
            + (self.rows.iter())
                .filter_map(|r| r.baseline.as_ref())
                .map(|(_, b)| b.errors)
                .sum::<u64>()
    }
}

fn rate(per_second: Option<f64>) -> String {
    per_second.map_or_else(
        || "—".into(),
        |r| format!("{}/s", thousands(r.round() as u64)),
    )
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A latency in the unit that reads best.
pub fn latency(d: Option<Duration>) -> String {
    let Some(d) = d else { return "—".into() };
    let ms = d.as_secs_f64() * 1e3;
    // Thresholds at what rounds up, so 99.99 ms reads "100 ms", not "100.0 ms".
    if ms >= 999.5 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 99.95 {
        format!("{ms:.0} ms")
    } else if ms >= 9.995 {
        format!("{ms:.1} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Goal::RatioAtLeast(r) => write!(f, "≥ {:.0}%", r * 100.0),
            Goal::ShareOf { fraction, of, rate } => write!(
                f,
                "≥ {:.0}% of {of} ({})",
                fraction * 100.0,
                self::rate(Some(*rate))
            ),
            Goal::P99AtMost(d) => write!(f, "p99 ≤ {}", latency(Some(*d))),
        }
    }
}

impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "| path | Patron | p50 | p99 | p999 | errors | baseline, same run | baseline p50 | baseline p99 | ratio | goal | met? |"
        )?;
        writeln!(
            f,
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
        )?;
        for row in &self.rows {
            let p = &row.patron;
            let patron = match p.per_second {
                Some(r) => rate(Some(r)),
                None => format!("{} events", thousands(p.samples as u64)),
            };
            let (base, base_p50, base_p99) = match &row.baseline {
                Some((what, b)) => (
                    format!("{what} {}", rate(b.per_second)),
                    latency(b.p50),
                    latency(b.p99),
                ),
                None => ("—".into(), "—".into(), "—".into()),
            };
            let ratio = row
                .ratio()
                .map_or_else(|| "—".into(), |r| format!("{:.1}%", r * 100.0));
            let met = match row.met() {
                Some(true) => "yes",
                Some(false) => "no",
                None => "?",
            };
            writeln!(
                f,
                "| {} | {patron} | {} | {} | {} | {} | {base} | {base_p50} | {base_p99} | {ratio} | {} | {met} |",
                row.path,
                latency(p.p50),
                latency(p.p99),
                latency(p.p999),
                p.errors,
                row.goal,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(per_second: f64, p99_ms: u64) -> Figures {
        Figures {
            per_second: Some(per_second),
            samples: 10,
            p99: Some(Duration::from_millis(p99_ms)),
            ..Figures::default()
        }
    }

    #[test]
    fn a_row_meets_its_goal_only_without_errors() {
        let mut row = Row {
            path: "read".into(),
            patron: figures(600.0, 5),
            baseline: Some(("bare".into(), figures(1000.0, 1))),
            goal: Goal::RatioAtLeast(0.5),
        };
        assert_eq!(row.met(), Some(true));
        row.patron.errors = 1;
        assert_eq!(row.met(), Some(false));
        row.patron.errors = 0;
        row.goal = Goal::ShareOf {
            fraction: 0.5,
            of: "masked",
            rate: 1300.0,
        };
        assert_eq!(row.met(), Some(false));
        row.goal = Goal::P99AtMost(Duration::from_millis(5));
        assert_eq!(row.met(), Some(true));
    }

    #[test]
    fn the_table_is_markdown_with_readable_figures() {
        let table = Table {
            rows: vec![Row {
                path: "health".into(),
                patron: figures(40_224.4, 250),
                baseline: Some(("bare".into(), figures(102_374.0, 1))),
                goal: Goal::RatioAtLeast(0.8),
            }],
        };
        let text = table.to_string();
        let line = text.lines().nth(2).unwrap();
        assert!(line.starts_with("| health | 40,224/s |"), "{line}");
        assert!(line.contains("| 250 ms |"), "{line}");
        assert!(line.contains("| 39.3% | ≥ 80% | no |"), "{line}");
        assert_eq!(thousands(1_000_000), "1,000,000");
        assert_eq!(latency(Some(Duration::from_micros(450))), "0.45 ms");
        assert_eq!(latency(Some(Duration::from_millis(11_900))), "11.90 s");
        assert_eq!(latency(Some(Duration::from_micros(99_990))), "100 ms");
    }
}
