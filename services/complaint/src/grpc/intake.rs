//! Reading an intake off the wire: every field checked, every problem
//! named, before anything is stored.

use chrono::NaiveDate;
use patron_kit::{ServiceError, Violations, resource_name};
use patron_proto::complaint::v1 as pb;
use patron_vocab::text;
use uuid::Uuid;

use super::view;
use crate::store::complaints::IntakeFields;

/// The longest free text a field takes.
const MAX_TEXT: usize = 10_000;
/// The longest short field (order number, item, unit, names).
const MAX_SHORT: usize = 200;
/// References a complaint may carry.
const MAX_ATTACHMENTS: usize = 20;

fn short(v: &mut Violations, field: &str, value: &str) -> String {
    if value.chars().count() > MAX_SHORT {
        v.add(field, format!("must be at most {MAX_SHORT} characters"));
    }
    text::trim(value).to_owned()
}

fn long(v: &mut Violations, field: &str, value: &str) -> String {
    if value.chars().count() > MAX_TEXT {
        v.add(field, format!("must be at most {MAX_TEXT} characters"));
    }
    text::trim(value).to_owned()
}

/// Checks `complaint` as given to CreateComplaint (`complaint.` names the
/// fields).
pub fn read(complaint: Option<&pb::Complaint>) -> Result<IntakeFields, ServiceError> {
    let Some(c) = complaint else {
        return Err(ServiceError::invalid("complaint", "is required"));
    };
    let mut v = Violations::new();
    let customer_id = if c.customer.is_empty() {
        v.add("complaint.customer", "is required");
        Uuid::nil()
    } else {
        match resource_name::parse("complaint.customer", "customers", &c.customer) {
            Ok(id) => id,
            Err(_) => {
                v.add("complaint.customer", "must be of the form customers/{id}");
                Uuid::nil()
            }
        }
    };
    let channel = match pb::ComplaintChannel::try_from(c.channel)
        .ok()
        .and_then(view::channel_name)
    {
        Some(name) => name,
        None => {
            v.add(
                "complaint.channel",
                "is required: HOTLINE, EMAIL, WEB, IN_PERSON or ACCOUNT_MANAGER",
            );
            ""
        }
    };
    let demand = match pb::CustomerDemand::try_from(c.demand)
        .ok()
        .and_then(view::demand_name)
    {
        Some(name) => name,
        None => {
            v.add(
                "complaint.demand",
                "is required: RETURN, EXCHANGE, COMPENSATION or OTHER",
            );
            ""
        }
    };
    let description = long(&mut v, "complaint.description", &c.description);
    if text::is_blank(&description) {
        v.add("complaint.description", "is required");
    }
    let (quantity_milli, quantity_unit, quantity_undetermined) = match &c.quantity {
        None => (None, String::new(), false),
        Some(q) => {
            if q.amount_milli < 0 {
                v.add("complaint.quantity.amount_milli", "must not be negative");
            }
            if q.not_yet_determined && q.amount_milli != 0 {
                v.add(
                    "complaint.quantity.amount_milli",
                    "must be 0 when the quantity is not yet determined",
                );
            }
            let unit = short(&mut v, "complaint.quantity.unit", &q.unit);
            let amount = (!q.not_yet_determined).then_some(q.amount_milli);
            (amount, unit, q.not_yet_determined)
        }
    };
    let delivery_date = c.delivery_date.as_ref().and_then(|d| {
        let date = u32::try_from(d.month)
            .ok()
            .zip(u32::try_from(d.day).ok())
            .filter(|_| (1900..=2200).contains(&d.year))
            .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day));
        if date.is_none() {
            v.add(
                "complaint.delivery_date",
                "must be a real calendar date with a year from 1900 to 2200",
            );
        }
        date
    });
    if c.attachments.len() > MAX_ATTACHMENTS {
        v.add(
            "complaint.attachments",
            format!("at most {MAX_ATTACHMENTS} attachments"),
        );
    }
    let mut attachments = Vec::new();
    for (i, a) in c.attachments.iter().enumerate() {
        let field = |f: &str| format!("complaint.attachments[{i}].{f}");
        let file_name = short(&mut v, &field("file_name"), &a.file_name);
        if text::is_blank(&file_name) {
            v.add(field("file_name"), "is required");
        }
        let uri = long(&mut v, &field("uri"), &a.uri);
        if text::is_blank(&uri) || !uri.contains(':') {
            v.add(
                field("uri"),
                "is required: where the file is kept, e.g. https://…",
            );
        }
        if a.size_bytes < 0 {
            v.add(field("size_bytes"), "must not be negative");
        }
        let media_type = short(&mut v, &field("media_type"), &a.media_type);
        attachments.push(serde_json::json!({
            "file_name": file_name,
            "media_type": media_type,
            "size_bytes": a.size_bytes,
            "uri": uri,
        }));
    }
    let order_number = short(&mut v, "complaint.order_number", &c.order_number);
    let item = short(&mut v, "complaint.item", &c.item);
    let reason = long(&mut v, "complaint.reason", &c.reason);
    v.into_result()?;
    Ok(IntakeFields {
        customer_id,
        channel: channel.to_owned(),
        demand: demand.to_owned(),
        order_number,
        item,
        quantity_milli,
        quantity_unit,
        quantity_undetermined,
        delivery_date,
        reason,
        description,
        attachments: serde_json::Value::Array(attachments),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> pb::Complaint {
        pb::Complaint {
            customer: format!("customers/{}", Uuid::nil()),
            channel: pb::ComplaintChannel::Hotline as i32,
            demand: pb::CustomerDemand::Exchange as i32,
            description: "the second batch is off-colour".into(),
            quantity: Some(pb::Quantity {
                amount_milli: 0,
                unit: "t".into(),
                not_yet_determined: true,
            }),
            ..Default::default()
        }
    }

    fn fields(err: ServiceError) -> Vec<String> {
        match err {
            ServiceError::InvalidArgument(v) => v.iter().map(|f| f.field.clone()).collect(),
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_good_intake_reads() {
        let intake = read(Some(&good())).unwrap();
        assert_eq!(intake.channel, "hotline");
        assert_eq!(intake.demand, "exchange");
        assert!(intake.quantity_undetermined);
        assert_eq!(intake.quantity_milli, None);
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut c = good();
        c.customer = "clients/1".into();
        c.channel = 0;
        c.demand = 99;
        c.description = "\u{200b} ".into();
        c.quantity = Some(pb::Quantity {
            amount_milli: 5,
            unit: String::new(),
            not_yet_determined: true,
        });
        c.delivery_date = Some(patron_proto::common::v1::Date {
            year: 2026,
            month: 2,
            day: 30,
        });
        c.attachments = vec![pb::Attachment {
            file_name: String::new(),
            media_type: String::new(),
            size_bytes: -1,
            uri: "nowhere".into(),
        }];
        let named = fields(read(Some(&c)).unwrap_err());
        for expected in [
            "complaint.customer",
            "complaint.channel",
            "complaint.demand",
            "complaint.description",
            "complaint.quantity.amount_milli",
            "complaint.delivery_date",
            "complaint.attachments[0].file_name",
            "complaint.attachments[0].uri",
            "complaint.attachments[0].size_bytes",
        ] {
            assert!(
                named.iter().any(|f| f == expected),
                "{expected} in {named:?}"
            );
        }
    }

    #[test]
    fn a_missing_complaint_is_named() {
        assert_eq!(fields(read(None).unwrap_err()), ["complaint"]);
    }
}
