//! Customer rows: each becomes one CreateCustomer call. Headers name fields
//! of the archive (see `cells`); `referred_by` may give the referrer's
//! archive number and `org_unit` a unit id, as spreadsheets would.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use patron_kit::descriptors;
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::transport::Channel;

use super::cells::{self, CellDefaults, Column};
use super::{
    Options, Outcome, Prepared, Problem, Stop, Target, accepted, authorized, convert,
    customer_by_archive_number, fill_cell, refused, request_id,
};

/// Headers the source documents' archives use (资料卡, 客户档案).
const ALIASES: &[(&str, &str)] = &[
    ("档案编号", "archive_number"),
    ("客户类型", "kind"),
    ("类型", "kind"),
    ("姓名", "display_name"),
    ("名称", "display_name"),
    ("客户名称", "display_name"),
    ("name", "display_name"),
    ("性别", "person.gender"),
    ("民族", "person.ethnicity"),
    ("生日", "person.birthday"),
    ("出生日期", "person.birthday"),
    ("结婚纪念日", "person.wedding_anniversary"),
    ("身份证号", "person.id_card_number"),
    ("身份证号码", "person.id_card_number"),
    ("手机", "contact.mobile_phone"),
    ("手机号", "contact.mobile_phone"),
    ("办公电话", "contact.office_phone"),
    ("家庭电话", "contact.home_phone"),
    ("宅电", "contact.home_phone"),
    ("邮箱", "contact.email"),
    ("电子邮件", "contact.email"),
    ("地址", "contact.address"),
    ("家庭住址", "contact.address"),
    ("行业", "classification.industry"),
    ("规模", "classification.scale"),
    ("地区", "classification.region"),
    ("区域", "classification.region"),
    ("客户经理", "account_manager"),
    ("所属机构", "org_unit"),
    ("机构", "org_unit"),
    ("推荐人", "referred_by"),
    ("爱好", "soft_facts.hobbies"),
    ("个人爱好", "soft_facts.hobbies"),
    ("备注", "notes"),
];

pub struct CustomerImport {
    client: CustomerServiceClient<Channel>,
    target: Target,
    defaults: CellDefaults,
    message: MessageDescriptor,
    columns: Vec<Result<Column, String>>,
    headers: Vec<String>,
    /// Archive number → customer name, for referrals; filled as creates
    /// are answered, whichever row's call answers first.
    referrers: Arc<Mutex<HashMap<String, String>>>,
    /// The kind of a row that gives none: `--kind`, else what the columns
    /// are (a person's or an organisation's); `None` when neither tells.
    default_kind: Option<pb::CustomerKind>,
}

/// What the bound columns say the rows are, when no column gives the kind:
/// a sheet of a person's fields (the 资料卡: 姓名, 生日, 身份证号…) holds
/// people, one of an organisation's fields organisations.
fn kind_of_columns(paths: &[&str]) -> Option<pb::CustomerKind> {
    let any = |prefixes: &[&str]| {
        paths
            .iter()
            .any(|p| prefixes.iter().any(|prefix| p.starts_with(prefix)))
    };
    let person = any(&["person.", "family_members"]);
    let organisation = any(&["organization.", "contact_persons"]);
    match (person, organisation) {
        (true, false) => Some(pb::CustomerKind::Person),
        (false, true) => Some(pb::CustomerKind::Organization),
        _ => None,
    }
}

impl CustomerImport {
    pub fn new(headers: &[String], target: &Target, options: &Options) -> Self {
        let message = descriptors::descriptor_of::<pb::Customer>()
            .expect("Customer is in the compiled descriptor set");
        let columns: Vec<Result<Column, String>> = headers
            .iter()
            .map(|h| cells::bind(&message, h, ALIASES))
            .collect();
        let paths: Vec<&str> = columns.iter().flatten().map(|c| c.path.as_str()).collect();
        let default_kind = options.customer_kind.or_else(|| kind_of_columns(&paths));
        Self {
            client: CustomerServiceClient::new(target.channel.clone()),
            target: target.clone(),
            defaults: options.defaults.clone(),
            message,
            columns,
            headers: headers.to_vec(),
            referrers: Arc::default(),
            default_kind,
        }
    }

    pub fn header_problems(&self) -> Vec<Problem> {
        let mut problems: Vec<Problem> = self
            .columns
            .iter()
            .zip(&self.headers)
            .filter_map(|(c, h)| c.as_ref().err().map(|why| (h, why)))
            .map(|(h, why)| Problem {
                row: 1,
                column: h.clone(),
                reason: format!("the column {why}"),
            })
            .collect();
        let bound: Vec<&str> = self
            .columns
            .iter()
            .flatten()
            .map(|c| c.path.as_str())
            .collect();
        if !bound.contains(&"display_name") {
            problems.push(Problem {
                row: 1,
                column: String::new(),
                reason: "no display_name (姓名 / 名称) column".into(),
            });
        }
        if !bound.contains(&"kind") && self.default_kind.is_none() {
            problems.push(Problem {
                row: 1,
                column: String::new(),
                reason: "no kind (类型) column, and the columns do not tell people from organisations: add one, or give the kind of the whole file with --kind person|organisation".into(),
            });
        }
        for (i, path) in bound.iter().enumerate() {
            if bound[..i].contains(path) {
                problems.push(Problem {
                    row: 1,
                    column: path.to_string(),
                    reason: "two columns fill this field".into(),
                });
            }
        }
        problems
    }

    fn column_paths(&self) -> Vec<(String, String)> {
        self.columns
            .iter()
            .flatten()
            .map(|c| (c.header.clone(), c.path.clone()))
            .collect()
    }

    fn header_of(&self, path: &str) -> String {
        self.columns
            .iter()
            .flatten()
            .find(|c| c.path == path)
            .map(|c| c.header.clone())
            .unwrap_or_else(|| path.to_owned())
    }

    /// The archive numbers a row depends on: its own, and its referrer's.
    /// It is not sent while a row that may create one of them is in flight.
    pub(crate) fn archive_numbers(&self, cells: &[String]) -> Vec<String> {
        self.columns
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let c = c.as_ref().ok()?;
                let text = cells.get(i)?.trim();
                (matches!(c.path.as_str(), "archive_number" | "referred_by") && !text.is_empty())
                    .then(|| text.to_owned())
            })
            .collect()
    }

    /// Reads a row into its call (looking up a referrer by archive number
    /// when it must); the call itself is made by the returned future.
    pub(crate) async fn prepare(&mut self, row: usize, cells: &[String]) -> Result<Prepared, Stop> {
        let mut message = DynamicMessage::new(self.message.clone());
        let mut problems = Vec::new();
        for (i, column) in self.columns.iter().enumerate() {
            let Ok(column) = column else { continue };
            let text = cells.get(i).map(String::as_str).unwrap_or_default();
            fill_cell(
                column,
                &mut message,
                text,
                &self.defaults,
                row,
                &mut problems,
            );
        }
        let Some(mut customer) = convert::<pb::Customer>(&message, row, &mut problems) else {
            return Ok(Prepared::Done(Outcome::Rejected(problems)));
        };
        if customer.kind == pb::CustomerKind::Unspecified as i32
            && let Some(kind) = self.default_kind
        {
            customer.kind = kind as i32;
        }
        if !customer.org_unit.is_empty() && !customer.org_unit.starts_with("orgUnits/") {
            customer.org_unit = format!("orgUnits/{}", customer.org_unit);
        }
        if !customer.referred_by.is_empty() && !customer.referred_by.starts_with("customers/") {
            match self.referrer(&customer.referred_by).await? {
                Some(name) => customer.referred_by = name,
                None => problems.push(Problem {
                    row,
                    column: self.header_of("referred_by"),
                    reason: format!("no customer has archive number {}", customer.referred_by),
                }),
            }
        }
        if !problems.is_empty() {
            return Ok(Prepared::Done(Outcome::Rejected(problems)));
        }
        let mut parts = vec!["customers"];
        for (header, text) in self.headers.iter().zip(cells) {
            parts.push(header);
            parts.push(text.trim());
        }
        let request = pb::CreateCustomerRequest {
            customer: Some(customer),
            request_id: request_id(&parts),
        };
        let mut client = self.client.clone();
        let request = authorized(&self.target, request);
        let referrers = self.referrers.clone();
        let columns = self.column_paths();
        Ok(Prepared::Send(Box::pin(async move {
            match client.create_customer(request).await {
                Ok(created) => {
                    let outcome = accepted(created.metadata());
                    let created = created.into_inner();
                    if !created.archive_number.is_empty() {
                        referrers
                            .lock()
                            .expect("the referrers' lock")
                            .insert(created.archive_number, created.name);
                    }
                    Ok(outcome)
                }
                Err(status) => refused(row, status, "customer.", &columns),
            }
        })))
    }

    /// The name of the customer with `archive_number`.
    async fn referrer(&mut self, archive_number: &str) -> Result<Option<String>, Stop> {
        let known = self
            .referrers
            .lock()
            .expect("the referrers' lock")
            .get(archive_number)
            .cloned();
        if known.is_some() {
            return Ok(known);
        }
        let name =
            customer_by_archive_number(&mut self.client, &self.target, archive_number).await?;
        if let Some(name) = &name {
            self.referrers
                .lock()
                .expect("the referrers' lock")
                .insert(archive_number.to_owned(), name.clone());
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_tell_people_from_organisations() {
        let person = [
            "archive_number",
            "display_name",
            "person.birthday",
            "contact.mobile_phone",
        ];
        assert_eq!(kind_of_columns(&person), Some(pb::CustomerKind::Person));
        let organisation = ["display_name", "organization.industry"];
        assert_eq!(
            kind_of_columns(&organisation),
            Some(pb::CustomerKind::Organization)
        );
        assert_eq!(kind_of_columns(&["display_name", "contact.email"]), None);
        assert_eq!(
            kind_of_columns(&["person.gender", "organization.scale"]),
            None
        );
    }
}
