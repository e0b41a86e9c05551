//! Customers and their purchases (customer-profile): archives with the
//! facts a company keeps, then a year of purchases and a few refunds.

use patron_proto::common::v1::{Date, Money};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;

use super::Target;
use super::calls::retrying;
use super::calls::{ADMIN, refused};
use super::flavour::Kind;
use super::plan::Customer;

/// The archive number of a customer already in the system, if any.
pub async fn any_customer(target: &Target) -> anyhow::Result<Option<String>> {
    let mut client = CustomerServiceClient::new(target.profile.clone());
    let page = retrying!(
        client,
        list_customers,
        target,
        ADMIN,
        pb::ListCustomersRequest {
            page_size: 1,
            ..Default::default()
        }
    )
    .map_err(|s| refused("list the customers", s))?
    .into_inner();
    Ok(page.customers.into_iter().next().map(|c| c.archive_number))
}

/// What was recorded.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recorded {
    pub purchases: usize,
    pub refunds: usize,
}

fn date(d: chrono::NaiveDate) -> Date {
    use chrono::Datelike;
    Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

fn archive(customer: &Customer) -> pb::Customer {
    let mut archive = pb::Customer {
        archive_number: customer.archive_number.clone(),
        display_name: customer.display_name.clone(),
        org_unit: format!("orgUnits/{}", customer.branch),
        account_manager: customer.manager.clone(),
        contact: Some(pb::ContactDetails {
            mobile_phone: customer.mobile.clone(),
            ..Default::default()
        }),
        classification: Some(pb::Classification {
            lifecycle_stage: pb::LifecycleStage::Developed as i32,
            region: customer.branch.into(),
            ..Default::default()
        }),
        notes: "demo data (patron demo)".into(),
        ..Default::default()
    };
    match customer.kind {
        Kind::Person => {
            archive.kind = pb::CustomerKind::Person as i32;
            archive.person = Some(pb::PersonFacts {
                gender: if customer.female {
                    pb::Gender::Female
                } else {
                    pb::Gender::Male
                } as i32,
                birthday: customer.birthday.map(date),
                wedding_anniversary: customer.wedding_anniversary.map(date),
                ..Default::default()
            });
            archive.soft_facts = Some(pb::SoftFacts {
                preferred_channel: pb::ContactChannel::Phone as i32,
                ..Default::default()
            });
        }
        Kind::Organization => {
            archive.kind = pb::CustomerKind::Organization as i32;
            archive.organization = Some(pb::OrganizationFacts {
                company_name: customer.display_name.clone(),
                ..Default::default()
            });
            let family_name: String = customer.display_name.chars().take(1).collect();
            archive.contact_persons = vec![pb::ContactPerson {
                name: format!("{family_name}经理"),
                position: "采购经理".into(),
                phone: customer.mobile.clone(),
                primary: true,
                ..Default::default()
            }];
        }
    }
    archive
}

/// Creates the customers; each one's name (`customers/{id}`) beside it.
pub async fn create(
    target: &Target,
    customers: Vec<Customer>,
) -> anyhow::Result<Vec<(Customer, String)>> {
    let mut client = CustomerServiceClient::new(target.profile.clone());
    let mut created = Vec::with_capacity(customers.len());
    for customer in customers {
        let request = pb::CreateCustomerRequest {
            customer: Some(archive(&customer)),
            request_id: customer.request_id.to_string(),
        };
        let answer = retrying!(client, create_customer, target, ADMIN, request)
            .map_err(|s| refused(format!("create customer {}", customer.archive_number), s))?
            .into_inner();
        created.push((customer, answer.name));
    }
    Ok(created)
}

/// Records every customer's purchases and refunds.
pub async fn record_purchases(
    target: &Target,
    customers: &[(Customer, String)],
    unit: &str,
    currency: &str,
) -> anyhow::Result<Recorded> {
    let mut client = TransactionServiceClient::new(target.profile.clone());
    let mut recorded = Recorded::default();
    let money = |minor| {
        Some(Money {
            currency_code: currency.to_owned(),
            amount_minor: minor,
        })
    };
    for (customer, name) in customers {
        let mut transactions: Vec<pb::Transaction> = customer
            .purchases
            .iter()
            .map(|p| pb::Transaction {
                external_id: p.external_id.clone(),
                kind: pb::TransactionKind::Purchase as i32,
                occur_time: Some(patron_kit::timestamp::to_proto(p.at)),
                product: p.product.into(),
                quantity: p.quantity.to_string(),
                unit: unit.into(),
                amount: money(p.amount_minor),
                payment_method: pb::PaymentMethod::Mobile as i32,
                channel: p.channel.into(),
                order_number: p.order_number.clone(),
                ..Default::default()
            })
            .collect();
        recorded.purchases += transactions.len();
        if let Some(r) = &customer.refund {
            transactions.push(pb::Transaction {
                external_id: r.external_id.clone(),
                kind: pb::TransactionKind::Refund as i32,
                occur_time: Some(patron_kit::timestamp::to_proto(r.at)),
                product: r.product.into(),
                amount: money(r.amount_minor),
                payment_method: pb::PaymentMethod::Mobile as i32,
                order_number: r.order_number.clone(),
                refunded_transaction: r.purchase.clone(),
                ..Default::default()
            });
            recorded.refunds += 1;
        }
        for transaction in transactions {
            let what = format!("record transaction {}", transaction.external_id);
            let request = pb::RecordTransactionRequest {
                parent: name.clone(),
                transaction: Some(transaction),
            };
            retrying!(client, record_transaction, target, ADMIN, request)
                .map_err(|s| refused(what, s))?;
        }
    }
    Ok(recorded)
}
