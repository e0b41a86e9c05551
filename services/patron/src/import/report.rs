//! What an import did, and the per-row problems as a CSV a user can open
//! next to their file.

use std::path::Path;

/// One problem with one row (row 1 is the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub row: usize,
    /// The column's header as written in the file; empty when the problem
    /// concerns the row as a whole.
    pub column: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Data rows in the file.
    pub rows: usize,
    pub created: usize,
    /// Rows already in from an earlier run.
    pub unchanged: usize,
    /// Rows not imported; each has at least one problem.
    pub rejected: usize,
    pub problems: Vec<Problem>,
}

impl Report {
    /// One line for the terminal.
    pub fn summary(&self) -> String {
        format!(
            "{} rows: {} imported, {} already in, {} rejected",
            self.rows, self.created, self.unchanged, self.rejected
        )
    }
}

/// Writes the problems as CSV (row, column, reason).
pub fn write_problems(path: &Path, problems: &[Problem]) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_path(path)?;
    writer.write_record(["row", "column", "reason"])?;
    for p in problems {
        writer.write_record([p.row.to_string().as_str(), &p.column, &p.reason])?;
    }
    writer.flush()?;
    Ok(())
}
