//! Transaction rows: each becomes one RecordTransaction call for the customer
//! named by its archive number. The external id makes a re-run apply nothing
//! twice; a row without a kind is a purchase.

use std::collections::HashMap;

use patron_kit::descriptors;
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::transport::Channel;

use super::cells::{self, CellDefaults, Column};
use super::{
    Options, Outcome, Prepared, Problem, Stop, Target, accepted, authorized, convert,
    customer_by_archive_number, fill_cell, refused,
};

/// The column naming the customer, by archive number.
const CUSTOMER_HEADERS: &[&str] = &["archive_number", "档案编号", "customer"];

const ALIASES: &[(&str, &str)] = &[
    ("交易编号", "external_id"),
    ("单号", "external_id"),
    ("类型", "kind"),
    ("时间", "occur_time"),
    ("交易时间", "occur_time"),
    ("日期", "occur_time"),
    ("time", "occur_time"),
    ("商品", "product"),
    ("产品", "product"),
    ("数量", "quantity"),
    ("单位", "unit"),
    ("金额", "amount"),
    ("付款方式", "payment_method"),
    ("支付方式", "payment_method"),
    ("渠道", "channel"),
    ("订单号", "order_number"),
];

pub struct TransactionImport {
    customers: CustomerServiceClient<Channel>,
    transactions: TransactionServiceClient<Channel>,
    target: Target,
    defaults: CellDefaults,
    message: MessageDescriptor,
    /// Per header: the customer column, a field, or a problem.
    columns: Vec<Binding>,
    /// Archive number → customer name (or `None`: no such customer).
    known: HashMap<String, Option<String>>,
}

enum Binding {
    Customer(String),
    Field(Column),
    Unknown(String, String),
}

impl TransactionImport {
    pub fn new(headers: &[String], target: &Target, options: &Options) -> Self {
        let message = descriptors::descriptor_of::<pb::Transaction>()
            .expect("Transaction is in the compiled descriptor set");
        let columns = headers
            .iter()
            .map(|h| {
                if CUSTOMER_HEADERS.contains(&h.trim().to_lowercase().as_str()) {
                    Binding::Customer(h.clone())
                } else {
                    match cells::bind(&message, h, ALIASES) {
                        Ok(c) => Binding::Field(c),
                        Err(why) => Binding::Unknown(h.clone(), why),
                    }
                }
            })
            .collect();
        Self {
            customers: CustomerServiceClient::new(target.channel.clone()),
            transactions: TransactionServiceClient::new(target.channel.clone()),
            target: target.clone(),
            defaults: options.defaults.clone(),
            message,
            columns,
            known: HashMap::new(),
        }
    }

    pub fn header_problems(&self) -> Vec<Problem> {
        let mut problems: Vec<Problem> = self
            .columns
            .iter()
            .filter_map(|b| match b {
                Binding::Unknown(h, why) => Some(Problem {
                    row: 1,
                    column: h.clone(),
                    reason: format!("the column {why}"),
                }),
                _ => None,
            })
            .collect();
        let has = |path: &str| {
            self.columns
                .iter()
                .any(|b| matches!(b, Binding::Field(c) if c.path == path))
        };
        if !self
            .columns
            .iter()
            .any(|b| matches!(b, Binding::Customer(_)))
        {
            problems.push(Problem {
                row: 1,
                column: String::new(),
                reason: "no archive_number (档案编号) column naming each row's customer".into(),
            });
        }
        for required in ["external_id", "occur_time", "product", "amount"] {
            if !has(required) {
                problems.push(Problem {
                    row: 1,
                    column: String::new(),
                    reason: format!("no {required} column"),
                });
            }
        }
        problems
    }

    fn column_paths(&self) -> Vec<(String, String)> {
        self.columns
            .iter()
            .filter_map(|b| match b {
                Binding::Field(c) => Some((c.header.clone(), c.path.clone())),
                _ => None,
            })
            .collect()
    }

    /// Reads a row into its call (looking its customer up by archive number
    /// once per number); the call itself is made by the returned future.
    pub(crate) async fn prepare(&mut self, row: usize, cells: &[String]) -> Result<Prepared, Stop> {
        let mut message = DynamicMessage::new(self.message.clone());
        let mut problems = Vec::new();
        let mut customer = None;
        for (i, binding) in self.columns.iter().enumerate() {
            let text = cells.get(i).map(String::as_str).unwrap_or_default();
            match binding {
                Binding::Customer(header) => {
                    customer = Some((header.clone(), text.trim().to_owned()))
                }
                Binding::Field(column) => fill_cell(
                    column,
                    &mut message,
                    text,
                    &self.defaults,
                    row,
                    &mut problems,
                ),
                Binding::Unknown(..) => {}
            }
        }
        let parent = match customer {
            Some((header, number)) if number.is_empty() => {
                problems.push(Problem {
                    row,
                    column: header,
                    reason: "is required".into(),
                });
                None
            }
            Some((header, number)) => {
                let found = self.customer(&number).await?;
                if found.is_none() {
                    problems.push(Problem {
                        row,
                        column: header,
                        reason: format!("no customer has archive number {number}"),
                    });
                }
                found
            }
            None => None,
        };
        let Some(mut transaction) = convert::<pb::Transaction>(&message, row, &mut problems) else {
            return Ok(Prepared::Done(Outcome::Rejected(problems)));
        };
        let (Some(parent), true) = (parent, problems.is_empty()) else {
            return Ok(Prepared::Done(Outcome::Rejected(problems)));
        };
        if transaction.kind == 0 {
            transaction.kind = pb::TransactionKind::Purchase as i32;
        }
        let request = pb::RecordTransactionRequest {
            parent,
            transaction: Some(transaction),
        };
        let mut client = self.transactions.clone();
        let request = authorized(&self.target, request);
        let columns = self.column_paths();
        Ok(Prepared::Send(Box::pin(async move {
            match client.record_transaction(request).await {
                Ok(recorded) => Ok(accepted(recorded.metadata())),
                Err(status) => refused(row, status, "transaction.", &columns),
            }
        })))
    }

    /// The name of the customer with `archive_number`, looked up once.
    async fn customer(&mut self, archive_number: &str) -> Result<Option<String>, Stop> {
        if let Some(known) = self.known.get(archive_number) {
            return Ok(known.clone());
        }
        let name =
            customer_by_archive_number(&mut self.customers, &self.target, archive_number).await?;
        self.known.insert(archive_number.to_owned(), name.clone());
        Ok(name)
    }
}
