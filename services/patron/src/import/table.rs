//! Reads a CSV file or the first sheet of an Excel workbook into rows of
//! text cells, numbered as a spreadsheet user sees them (the header is row 1).

use std::path::Path;

use anyhow::{Context, bail};
use calamine::{Data, Reader, open_workbook_auto};

/// A file's header and data rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub headers: Vec<String>,
    /// (row number in the file, cells); rows with no content are skipped.
    pub rows: Vec<(usize, Vec<String>)>,
}

/// Reads `path`, by its extension: `.csv`, or `.xlsx` / `.xlsm` / `.xls` /
/// `.ods` workbooks (the first sheet, or the one named `sheet`).
pub fn read(path: &Path, sheet: Option<&str>) -> anyhow::Result<Table> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match extension.as_str() {
        "csv" | "txt" => read_csv(path),
        "xlsx" | "xlsm" | "xlsb" | "xls" | "ods" => read_workbook(path, sheet),
        other => bail!(
            "{}: cannot tell the format from the extension {other:?}; use .csv or .xlsx",
            path.display()
        ),
    }
}

fn read_csv(path: &Path) -> anyhow::Result<Table> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_path(path)
        .with_context(|| format!("opening {}", path.display()))?;
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{}: row {}", path.display(), i + 1))?;
        rows.push((i + 1, record.iter().map(str::to_owned).collect()));
    }
    Ok(split_header(rows))
}

fn read_workbook(path: &Path, sheet: Option<&str>) -> anyhow::Result<Table> {
    let mut workbook =
        open_workbook_auto(path).with_context(|| format!("opening {}", path.display()))?;
    let name = match sheet {
        Some(name) => name.to_owned(),
        None => workbook
            .sheet_names()
            .first()
            .cloned()
            .with_context(|| format!("{} has no sheets", path.display()))?,
    };
    let range = workbook
        .worksheet_range(&name)
        .with_context(|| format!("{}: reading sheet {name:?}", path.display()))?;
    // Row numbers follow the sheet, which need not start at A1.
    let first_row = range.start().map(|(r, _)| r as usize + 1).unwrap_or(1);
    let rows = range
        .rows()
        .enumerate()
        .map(|(i, cells)| (first_row + i, cells.iter().map(cell_text).collect()))
        .collect();
    Ok(split_header(rows))
}

/// A workbook cell as the text a user would type for it.
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        // Phone and ID numbers typed into Excel become numbers; whole numbers
        // must not come back as "13800138000.0".
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(d) => match d.as_datetime() {
            Some(t) if t.time() == chrono::NaiveTime::MIN => t.date().to_string(),
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => d.to_string(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(e) => format!("#{e:?}"),
    }
}

fn split_header(mut rows: Vec<(usize, Vec<String>)>) -> Table {
    rows.retain(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()));
    if rows.is_empty() {
        return Table::default();
    }
    let (_, headers) = rows.remove(0);
    Table {
        headers: headers
            .iter()
            .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
            .collect(),
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_numbered_rows() {
        let table = split_header(vec![
            (1, vec!["\u{feff}name ".into(), "phone".into()]),
            (2, vec!["Wang".into(), "1".into()]),
            (3, vec![" ".into(), "".into()]),
            (4, vec!["Li".into()]),
        ]);
        assert_eq!(table.headers, ["name", "phone"]);
        let numbers: Vec<usize> = table.rows.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [2, 4], "blank rows are skipped, numbers kept");
    }

    #[test]
    fn workbook_cells_read_as_typed() {
        assert_eq!(cell_text(&Data::Float(13800138000.0)), "13800138000");
        assert_eq!(cell_text(&Data::Float(12.5)), "12.5");
        assert_eq!(cell_text(&Data::Empty), "");
        assert_eq!(cell_text(&Data::Bool(true)), "true");
    }
}
