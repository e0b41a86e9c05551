//! `patron import`: customers and transactions from CSV files and Excel
//! workbooks, through the customer-profile API, so every rule, the
//! encryption, the audits and the events apply as for any other caller.
//!
//! Each row is one call, and so one transaction: a rejected row leaves
//! nothing behind. Rows carry request ids derived from their content (for
//! customers) or their external ids (for transactions), so re-running a file
//! changes nothing that is already in.
//!
//! Rows are read in order and their calls made [`CONCURRENCY`] at a time. A
//! customer row whose archive number, or whose referrer's, belongs to a row
//! still in flight waits until that row is answered, so a referral to a row
//! above it always finds it and a number given twice is refused on the later
//! row, as if one call were made at a time.

mod cells;
mod customers;
mod report;
mod table;
mod transactions;

use std::collections::HashMap;
use std::path::Path;

use anyhow::bail;
use futures::future::BoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use tonic::transport::Channel;

pub use cells::CellDefaults;
pub use patron_proto::profile::v1::CustomerKind;
pub use report::{Problem, Report};

/// What a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataset {
    Customers,
    Transactions,
}

/// Where rows go, and as whom.
#[derive(Clone)]
pub struct Target {
    pub channel: Channel,
    /// The `authorization` value, `Bearer …`.
    pub authorization: String,
}

/// How a file is read.
#[derive(Debug, Clone)]
pub struct Options {
    /// The workbook sheet to read; the first when `None`.
    pub sheet: Option<String>,
    pub defaults: CellDefaults,
    /// The kind of every customer whose row gives none (`--kind`).
    pub customer_kind: Option<CustomerKind>,
    /// Draw a progress bar (on a terminal).
    pub progress: bool,
}

/// What became of one row.
#[derive(Debug)]
pub(crate) enum Outcome {
    Created,
    /// Already in from an earlier run: nothing changed.
    Unchanged,
    Rejected(Vec<Problem>),
}

/// A row read and ready: decided already (rejected before any call), or
/// its call, to be made.
pub(crate) enum Prepared {
    Done(Outcome),
    Send(Call),
}

/// A row's call to the service, made when awaited.
pub(crate) type Call = BoxFuture<'static, Result<Outcome, Stop>>;

/// A row's call answered: its row, the archive numbers it may have created.
type Answered = (usize, Vec<String>, Result<Outcome, Stop>);

/// How many rows' calls are in flight at once: enough to keep the service's
/// cores busy (each call waits on its own commit), few enough to leave room
/// for the service's other callers.
pub const CONCURRENCY: usize = 16;

/// A failure that is not the row's fault (the service is down, the token
/// expired): the import stops there.
#[derive(Debug)]
pub(crate) struct Stop(pub tonic::Status);

/// Imports `path` into `target`. Header problems reject the whole file
/// before any row is sent; row problems are reported per row and column.
pub async fn run(
    dataset: Dataset,
    path: &Path,
    target: &Target,
    options: &Options,
) -> anyhow::Result<Report> {
    let table = table::read(path, options.sheet.as_deref())?;
    if table.headers.is_empty() {
        bail!(
            "{} is empty: expected a header row, then one row per record",
            path.display()
        );
    }
    let mut report = Report {
        rows: table.rows.len(),
        ..Report::default()
    };
    let mut importer = match dataset {
        Dataset::Customers => Importer::Customers(customers::CustomerImport::new(
            &table.headers,
            target,
            options,
        )),
        Dataset::Transactions => Importer::Transactions(transactions::TransactionImport::new(
            &table.headers,
            target,
            options,
        )),
    };
    let header_problems = match &importer {
        Importer::Customers(i) => i.header_problems(),
        Importer::Transactions(i) => i.header_problems(),
    };
    if !header_problems.is_empty() {
        report.problems = header_problems;
        report.rejected = report.rows;
        return Ok(report);
    }

    let bar = progress_bar(table.rows.len(), options.progress);
    let mut in_flight = InFlight::default();
    for (row, cells) in &table.rows {
        let numbers = match &importer {
            Importer::Customers(i) => i.archive_numbers(cells),
            Importer::Transactions(_) => Vec::new(),
        };
        if numbers.iter().any(|n| in_flight.numbers.contains_key(n)) {
            while let Some(done) = in_flight.next().await {
                tally(&mut report, &bar, done)?;
            }
        }
        while in_flight.calls.len() >= CONCURRENCY {
            if let Some(done) = in_flight.next().await {
                tally(&mut report, &bar, done)?;
            }
        }
        let prepared = match &mut importer {
            Importer::Customers(i) => i.prepare(*row, cells).await,
            Importer::Transactions(i) => i.prepare(*row, cells).await,
        };
        match prepared {
            Ok(Prepared::Send(call)) => in_flight.push(*row, numbers, call),
            Ok(Prepared::Done(outcome)) => tally(&mut report, &bar, (*row, Ok(outcome)))?,
            Err(stop) => tally(&mut report, &bar, (*row, Err(stop)))?,
        }
    }
    while let Some(done) = in_flight.next().await {
        tally(&mut report, &bar, done)?;
    }
    // Calls answer in row order; rows rejected before any call do not wait.
    report.problems.sort_by_key(|p| p.row);
    bar.finish_and_clear();
    Ok(report)
}

/// Rows whose calls are made, answered in row order, with the archive
/// numbers each may create.
#[derive(Default)]
struct InFlight {
    calls: FuturesOrdered<BoxFuture<'static, Answered>>,
    numbers: HashMap<String, usize>,
}

impl InFlight {
    fn push(&mut self, row: usize, numbers: Vec<String>, call: Call) {
        for n in &numbers {
            *self.numbers.entry(n.clone()).or_default() += 1;
        }
        self.calls
            .push_back(Box::pin(async move { (row, numbers, call.await) }));
    }

    /// The next row answered, its numbers no longer in flight.
    async fn next(&mut self) -> Option<(usize, Result<Outcome, Stop>)> {
        let (row, numbers, outcome) = self.calls.next().await?;
        for n in numbers {
            if let Some(count) = self.numbers.get_mut(&n) {
                *count -= 1;
                if *count == 0 {
                    self.numbers.remove(&n);
                }
            }
        }
        Some((row, outcome))
    }
}

/// Counts a row's outcome; an error (the import stops) for a failure that
/// is not the row's.
fn tally(
    report: &mut Report,
    bar: &ProgressBar,
    (row, outcome): (usize, Result<Outcome, Stop>),
) -> anyhow::Result<()> {
    match outcome {
        Ok(Outcome::Created) => report.created += 1,
        Ok(Outcome::Unchanged) => report.unchanged += 1,
        Ok(Outcome::Rejected(problems)) => {
            report.rejected += 1;
            report.problems.extend(problems);
        }
        Err(Stop(status)) => {
            bar.abandon();
            bail!(
                "stopped at row {row}: {} ({:?}); the rows before it are in (some after it may \
                 be too), and re-running the file leaves them as they are",
                status.message(),
                status.code()
            );
        }
    }
    bar.inc(1);
    Ok(())
}

enum Importer {
    Customers(customers::CustomerImport),
    Transactions(transactions::TransactionImport),
}

fn progress_bar(rows: usize, visible: bool) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(rows as u64);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows · {per_sec} · eta {eta}")
    {
        bar.set_style(style);
    }
    bar
}

/// Whether a failed call is the row's problem (reported, the import goes
/// on) or the import's (it stops).
fn is_row_problem(status: &tonic::Status) -> bool {
    use tonic::Code::*;
    matches!(
        status.code(),
        InvalidArgument
            | AlreadyExists
            | FailedPrecondition
            | NotFound
            | PermissionDenied
            | Aborted
            | OutOfRange
    )
}

/// The problems a refused call reports, each against the column that holds
/// the field it names (`prefix` is the request's message field, e.g.
/// `customer.`).
pub(crate) fn problems_of(
    row: usize,
    status: &tonic::Status,
    prefix: &str,
    columns: &[(String, String)],
) -> Vec<Problem> {
    let violations = patron_kit::error::violations_of(status);
    if violations.is_empty() {
        return vec![Problem {
            row,
            column: String::new(),
            reason: status.message().to_owned(),
        }];
    }
    violations
        .into_iter()
        .map(|v| {
            let field = v.field.strip_prefix(prefix).unwrap_or(&v.field);
            let column = columns
                .iter()
                .find(|(_, path)| {
                    path == field
                        || field.starts_with(&format!("{path}."))
                        || path.starts_with(&format!("{field}."))
                })
                .map(|(header, _)| header.clone());
            match column {
                Some(column) => Problem {
                    row,
                    column,
                    reason: v.description,
                },
                None => Problem {
                    row,
                    column: String::new(),
                    reason: format!("{field}: {}", v.description),
                },
            }
        })
        .collect()
}

/// Fills `message` from one cell of `column`, noting a bad cell in `problems`.
pub(crate) fn fill_cell(
    column: &cells::Column,
    message: &mut prost_reflect::DynamicMessage,
    text: &str,
    defaults: &CellDefaults,
    row: usize,
    problems: &mut Vec<Problem>,
) {
    if let Err(reason) = column.fill(message, text, defaults) {
        problems.push(Problem {
            row,
            column: column.header.clone(),
            reason,
        });
    }
}

/// The filled message as the request's type; `None` (with the problem noted)
/// when it does not convert.
pub(crate) fn convert<M: prost::Message + Default>(
    message: &prost_reflect::DynamicMessage,
    row: usize,
    problems: &mut Vec<Problem>,
) -> Option<M> {
    message
        .transcode_to()
        .map_err(|e| {
            problems.push(Problem {
                row,
                column: String::new(),
                reason: e.to_string(),
            })
        })
        .ok()
}

/// The outcome of a create the service accepted: `Unchanged` when the
/// service answered it as a replay of an earlier request (an earlier import
/// of the same row), as its response header says; no clock is compared, so
/// the machine the import runs on need not agree with the service's.
pub(crate) fn accepted(response: &tonic::metadata::MetadataMap) -> Outcome {
    if patron_kit::idempotency::was_replayed(response) {
        Outcome::Unchanged
    } else {
        Outcome::Created
    }
}

/// The outcome of a call the service refused: the row's problems, or a stop.
pub(crate) fn refused(
    row: usize,
    status: tonic::Status,
    prefix: &str,
    columns: &[(String, String)],
) -> Result<Outcome, Stop> {
    if is_row_problem(&status) {
        Ok(Outcome::Rejected(problems_of(
            row, &status, prefix, columns,
        )))
    } else {
        Err(Stop(status))
    }
}

/// The name of the live customer with `archive_number`, if any.
pub(crate) async fn customer_by_archive_number(
    client: &mut patron_proto::profile::v1::customer_service_client::CustomerServiceClient<Channel>,
    target: &Target,
    archive_number: &str,
) -> Result<Option<String>, Stop> {
    let request = patron_proto::profile::v1::ListCustomersRequest {
        archive_number: archive_number.to_owned(),
        page_size: 1,
        ..Default::default()
    };
    match client.list_customers(authorized(target, request)).await {
        Ok(found) => Ok(found
            .into_inner()
            .customers
            .into_iter()
            .next()
            .map(|c| c.name)),
        // Not a well-formed archive number: no customer has it.
        Err(status) if status.code() == tonic::Code::InvalidArgument => Ok(None),
        Err(status) => Err(Stop(status)),
    }
}

/// A request id derived from `parts`: the same row always gets the same id.
pub(crate) fn request_id(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// `message` with the caller's authorization attached.
pub(crate) fn authorized<T>(target: &Target, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = target.authorization.parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

pub use report::write_problems;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_follow_the_content() {
        let a = request_id(&["customers", "A-1", "Wang"]);
        assert_eq!(a, request_id(&["customers", "A-1", "Wang"]));
        assert_ne!(a, request_id(&["customers", "A-1", "Wang Li"]));
        assert_ne!(
            request_id(&["ab", "c"]),
            request_id(&["a", "bc"]),
            "parts are separated"
        );
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn violations_land_on_their_columns() {
        let mut violations = patron_kit::Violations::new();
        violations.add("customer.contact.mobile_phone", "is not a phone number");
        violations.add("customer.referred_by", "names no customer");
        let status: tonic::Status = patron_kit::ServiceError::InvalidArgument(violations).into();
        let columns = vec![("手机".to_owned(), "contact.mobile_phone".to_owned())];
        let problems = problems_of(7, &status, "customer.", &columns);
        assert_eq!(problems.len(), 2);
        assert_eq!((problems[0].row, problems[0].column.as_str()), (7, "手机"));
        assert_eq!(problems[1].column, "");
        assert!(problems[1].reason.starts_with("referred_by:"));
    }
}
