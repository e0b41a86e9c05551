//! From spreadsheet columns to protobuf fields, by descriptor: a header names
//! a field (its path, a unique short name, or an alias such as 手机), and a
//! cell's text becomes that field's value (enums by name, dates, money,
//! times in the company's zone, lists split on `;`). Every cell's problem is
//! reported against its column.

use chrono::{NaiveDate, NaiveDateTime, TimeZone};
use patron_kit::descriptors;
use patron_vocab::{calendar, money};
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};

/// How cells without a currency or a zone are read.
#[derive(Debug, Clone)]
pub struct CellDefaults {
    /// ISO 4217 code of amounts written without one.
    pub currency: String,
    pub zone: chrono_tz::Tz,
}

/// A column bound to the field it fills.
#[derive(Debug, Clone)]
pub struct Column {
    pub header: String,
    /// The field path from the message down, e.g. `contact.mobile_phone`.
    pub path: String,
    fields: Vec<FieldDescriptor>,
}

/// Binds `header` to a field of `message`: an alias first, then a field path,
/// then a field name found once among the message's fields and those of its
/// singular sub-messages.
pub fn bind(
    message: &MessageDescriptor,
    header: &str,
    aliases: &[(&str, &str)],
) -> Result<Column, String> {
    let key = header.trim().to_lowercase().replace([' ', '-'], "_");
    let path = aliases
        .iter()
        .find(|(alias, _)| alias.to_lowercase() == key)
        .map(|(_, path)| (*path).to_owned())
        .unwrap_or(key);
    let fields = match walk(message, &path) {
        Ok(fields) => fields,
        Err(_) if !path.contains('.') => find_unique(message, &path)?,
        Err(why) => return Err(why),
    };
    check_importable(&fields)?;
    let path = fields
        .iter()
        .map(|f| f.name().to_owned())
        .collect::<Vec<_>>()
        .join(".");
    Ok(Column {
        header: header.to_owned(),
        path,
        fields,
    })
}

fn walk(message: &MessageDescriptor, path: &str) -> Result<Vec<FieldDescriptor>, String> {
    let mut current = message.clone();
    let mut fields = Vec::new();
    let segments: Vec<&str> = path.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let field = current
            .get_field_by_name(segment)
            .ok_or_else(|| format!("names no field of {}", message.name()))?;
        if i + 1 < segments.len() {
            match field.kind() {
                Kind::Message(inner) if !field.is_list() && !field.is_map() => current = inner,
                _ => {
                    return Err(format!(
                        "goes inside {segment}, which holds no single record"
                    ));
                }
            }
        }
        fields.push(field);
    }
    Ok(fields)
}

fn find_unique(message: &MessageDescriptor, name: &str) -> Result<Vec<FieldDescriptor>, String> {
    let mut found = Vec::new();
    for outer in message.fields() {
        if let Kind::Message(inner) = outer.kind()
            && !outer.is_list()
            && !outer.is_map()
            && let Some(field) = inner.get_field_by_name(name)
        {
            found.push(vec![outer.clone(), field]);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!("names no field of {}", message.name())),
        _ => Err(format!(
            "is ambiguous: write one of {}",
            found
                .iter()
                .map(|p| format!("{}.{}", p[0].name(), p[1].name()))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn check_importable(fields: &[FieldDescriptor]) -> Result<(), String> {
    for field in fields {
        let behaviours = descriptors::field_behaviors(field);
        if behaviours.iter().any(|b| {
            matches!(
                b,
                descriptors::FieldBehavior::OutputOnly | descriptors::FieldBehavior::Identifier
            )
        }) {
            return Err(format!("{} is set by Patron, not imported", field.name()));
        }
    }
    let Some(last) = fields.last() else {
        return Err("names no field".into());
    };
    if last.is_map() {
        return Err(format!(
            "{} is a map; it cannot come from one cell",
            last.name()
        ));
    }
    match last.kind() {
        Kind::Message(m) if last.is_list() => Err(format!(
            "{} is a list of {}; a flat file cannot hold it",
            last.name(),
            m.name()
        )),
        Kind::Message(m) if !is_cell_message(&m) => Err(format!(
            "{} is a group of fields; name one of them, e.g. {}.{}",
            last.name(),
            last.name(),
            m.fields()
                .next()
                .map(|f| f.name().to_owned())
                .unwrap_or_default()
        )),
        Kind::Bytes => Err(format!("{} holds bytes", last.name())),
        _ => Ok(()),
    }
}

/// Messages a single cell can hold.
fn is_cell_message(m: &MessageDescriptor) -> bool {
    matches!(
        m.full_name(),
        "patron.common.v1.Date" | "patron.common.v1.Money" | "google.protobuf.Timestamp"
    )
}

impl Column {
    /// Puts the cell's value into `message`; an empty cell leaves it unset.
    pub fn fill(
        &self,
        message: &mut DynamicMessage,
        text: &str,
        defaults: &CellDefaults,
    ) -> Result<(), String> {
        let text = text.trim();
        if text.is_empty() {
            return Ok(());
        }
        let Some((last, parents)) = self.fields.split_last() else {
            return Ok(());
        };
        let value = if last.is_list() {
            let items = text
                .split([';', '；', '、', '|'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|item| value_of(last, item, defaults))
                .collect::<Result<Vec<_>, _>>()?;
            Value::List(items)
        } else {
            value_of(last, text, defaults)?
        };
        let mut current = message;
        for parent in parents {
            current = current
                .get_field_mut(parent)
                .as_message_mut()
                .ok_or_else(|| format!("{} holds no record", parent.name()))?;
        }
        current.set_field(last, value);
        Ok(())
    }
}

fn value_of(field: &FieldDescriptor, text: &str, defaults: &CellDefaults) -> Result<Value, String> {
    match field.kind() {
        Kind::String => Ok(Value::String(text.to_owned())),
        Kind::Bool => parse_bool(text).map(Value::Bool),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => text
            .parse()
            .map(Value::I32)
            .map_err(|_| format!("{text:?} is not a whole number")),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => text
            .parse()
            .map(Value::I64)
            .map_err(|_| format!("{text:?} is not a whole number")),
        Kind::Uint32 | Kind::Fixed32 => text
            .parse()
            .map(Value::U32)
            .map_err(|_| format!("{text:?} is not a whole number")),
        Kind::Uint64 | Kind::Fixed64 => text
            .parse()
            .map(Value::U64)
            .map_err(|_| format!("{text:?} is not a whole number")),
        Kind::Double => text
            .parse()
            .map(Value::F64)
            .map_err(|_| format!("{text:?} is not a number")),
        Kind::Float => text
            .parse()
            .map(Value::F32)
            .map_err(|_| format!("{text:?} is not a number")),
        Kind::Enum(e) => enum_number(&e, text).map(Value::EnumNumber),
        Kind::Message(m) => {
            let mut out = DynamicMessage::new(m.clone());
            match m.full_name() {
                "patron.common.v1.Date" => {
                    let (year, month, day) = parse_date(text)?;
                    out.set_field_by_name("year", Value::I32(year));
                    out.set_field_by_name("month", Value::I32(month));
                    out.set_field_by_name("day", Value::I32(day));
                }
                "patron.common.v1.Money" => {
                    let (currency, minor) = parse_money(text, &defaults.currency)?;
                    out.set_field_by_name("currency_code", Value::String(currency));
                    out.set_field_by_name("amount_minor", Value::I64(minor));
                }
                "google.protobuf.Timestamp" => {
                    let at = parse_time(text, defaults.zone)?;
                    out.set_field_by_name("seconds", Value::I64(at.timestamp()));
                    out.set_field_by_name("nanos", Value::I32(at.timestamp_subsec_nanos() as i32));
                }
                other => return Err(format!("{other} cannot come from one cell")),
            }
            Ok(Value::Message(out))
        }
        Kind::Bytes => Err("bytes cannot be imported".into()),
    }
}

fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_lowercase().as_str() {
        "true" | "yes" | "y" | "1" | "是" | "有" => Ok(true),
        "false" | "no" | "n" | "0" | "否" | "无" => Ok(false),
        _ => Err(format!("{text:?} is not yes or no")),
    }
}

/// Words the source documents' spreadsheets use for enum values.
const ENUM_WORDS: &[(&str, &str)] = &[
    ("男", "MALE"),
    ("女", "FEMALE"),
    ("个人", "PERSON"),
    ("企业", "ORGANIZATION"),
    ("公司", "ORGANIZATION"),
    ("organisation", "ORGANIZATION"),
    ("购买", "PURCHASE"),
    ("退货", "REFUND"),
    ("现金", "CASH"),
    ("刷卡", "CARD"),
    ("转账", "BANK_TRANSFER"),
    ("电话", "PHONE"),
    ("短信", "SMS"),
    ("邮件", "EMAIL"),
    ("面谈", "IN_PERSON"),
];

/// An enum value by its name, with or without the enum's prefix, in any
/// case, or by number.
fn enum_number(e: &prost_reflect::EnumDescriptor, text: &str) -> Result<i32, String> {
    if let Ok(n) = text.parse::<i32>()
        && e.get_value(n).is_some()
    {
        return Ok(n);
    }
    let word = ENUM_WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(text))
        .map(|(_, v)| (*v).to_owned())
        .unwrap_or_else(|| text.to_uppercase().replace([' ', '-'], "_"));
    let prefix = e
        .get_value(0)
        .and_then(|v| v.name().strip_suffix("UNSPECIFIED").map(str::to_owned))
        .unwrap_or_default();
    e.values()
        .find(|v| v.name() == word || v.name() == format!("{prefix}{word}"))
        .map(|v| v.number())
        .ok_or_else(|| {
            let names: Vec<String> = e
                .values()
                .filter(|v| v.number() != 0)
                .map(|v| v.name().trim_start_matches(&prefix).to_lowercase())
                .collect();
            format!("{text:?} is not one of: {}", names.join(", "))
        })
}

/// `YYYY-MM-DD` (also with `/`, `.` or 年月日), or `MM-DD` when the year is
/// unknown (year 0).
fn parse_date(text: &str) -> Result<(i32, i32, i32), String> {
    let cleaned: String = text
        .replace(['年', '月', '/', '.'], "-")
        .replace('日', "")
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let bad = || format!("{text:?} is not a date like 1980-03-08 or 03-08");
    let parts: Vec<i32> = cleaned
        .split('-')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    let (year, month, day) = match parts.as_slice() {
        [y, m, d] => (*y, *m, *d),
        [m, d] => (0, *m, *d),
        _ => return Err(bad()),
    };
    // Year 0 is unknown; a leap year stands in for it, so 02-29 is allowed.
    if !calendar::date_exists(year, month as u32, day as u32) {
        return Err(bad());
    }
    Ok((year, month, day))
}

/// `1234.50`, `1,234.50`, `¥1234.5`, `CNY 1234.50` or `1234.50 USD`: the
/// kit's money, so a cell is refused for what the service would refuse
/// (a code that is not ISO 4217, an amount beyond the bound).
fn parse_money(text: &str, default_currency: &str) -> Result<(String, i64), String> {
    let bad = |why: &str| format!("{text:?} is not an amount of money: {why}");
    let mut rest = text.trim().replace([',', '，', '¥', '￥', ' '], "");
    let mut currency = default_currency.to_owned();
    let letters: String = rest.chars().filter(|c| c.is_ascii_alphabetic()).collect();
    if !letters.is_empty() {
        let upper = letters.to_uppercase();
        if upper.len() != 3 || !(rest.starts_with(&letters) || rest.ends_with(&letters)) {
            return Err(bad(
                "write the currency as a three-letter code before or after it",
            ));
        }
        rest = rest.replace(&letters, "");
        currency = upper;
    }
    let currency = money::Currency::parse(&currency).map_err(bad)?;
    let minor = money::parse_major(&rest, currency.digits()).map_err(|why| {
        if why.ends_with("too large") {
            bad("too large")
        } else if why.contains("decimal places") {
            bad(&format!(
                "{currency} has {} decimal places",
                currency.digits()
            ))
        } else {
            bad("expected digits")
        }
    })?;
    Ok((currency.code().to_owned(), minor))
}

/// RFC 3339, or a local `YYYY-MM-DD[ HH:MM[:SS]]` in the company's zone.
fn parse_time(text: &str, zone: chrono_tz::Tz) -> Result<chrono::DateTime<chrono::Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.to_utc());
    }
    let normalised = text.replace('/', "-").replace('T', " ");
    let local = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&normalised, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(&normalised, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
        .ok_or_else(|| format!("{text:?} is not a time like 2026-03-08 14:30"))?;
    zone.from_local_datetime(&local)
        .earliest()
        .map(|t| t.to_utc())
        .ok_or_else(|| format!("{text:?} does not exist in {zone} (a clock change)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use patron_proto::profile::v1 as pb;

    fn defaults() -> CellDefaults {
        CellDefaults {
            currency: "CNY".into(),
            zone: chrono_tz::Asia::Shanghai,
        }
    }

    fn customer() -> MessageDescriptor {
        descriptors::descriptor_of::<pb::Customer>().unwrap()
    }

    fn filled(pairs: &[(&str, &str)]) -> Result<pb::Customer, String> {
        let mut message = DynamicMessage::new(customer());
        for (header, text) in pairs {
            bind(&customer(), header, &[("手机", "contact.mobile_phone")])?.fill(
                &mut message,
                text,
                &defaults(),
            )?;
        }
        Ok(message.transcode_to().unwrap())
    }

    #[test]
    fn headers_bind_by_path_short_name_or_alias() {
        assert_eq!(
            bind(&customer(), "contact.mobile_phone", &[]).unwrap().path,
            "contact.mobile_phone"
        );
        assert_eq!(
            bind(&customer(), "Mobile Phone", &[]).unwrap().path,
            "contact.mobile_phone"
        );
        assert_eq!(
            bind(&customer(), "手机", &[("手机", "contact.mobile_phone")])
                .unwrap()
                .path,
            "contact.mobile_phone"
        );
        assert!(
            bind(&customer(), "shoe_size", &[])
                .unwrap_err()
                .contains("no field")
        );
        assert!(
            bind(&customer(), "industry", &[])
                .unwrap_err()
                .contains("ambiguous")
        );
        assert!(bind(&customer(), "etag", &[]).is_ok());
        assert!(
            bind(&customer(), "create_time", &[])
                .unwrap_err()
                .contains("set by Patron")
        );
        assert!(
            bind(&customer(), "family_members", &[])
                .unwrap_err()
                .contains("flat file")
        );
        assert!(
            bind(&customer(), "contact", &[])
                .unwrap_err()
                .contains("group of fields")
        );
    }

    #[test]
    fn cells_become_typed_values() {
        let c = filled(&[
            ("display_name", " Wang Li "),
            ("kind", "person"),
            ("gender", "女"),
            ("birthday", "1980年3月8日"),
            ("手机", "13800138000"),
            ("hobbies", "tea; calligraphy、golf"),
            ("classification.lifecycle_stage", "Signed"),
            ("organization.current_annual_sales", "CNY 1,234.50"),
        ])
        .unwrap();
        assert_eq!(c.display_name, "Wang Li");
        assert_eq!(c.kind, pb::CustomerKind::Person as i32);
        let person = c.person.unwrap();
        assert_eq!(person.gender, pb::Gender::Female as i32);
        let birthday = person.birthday.unwrap();
        assert_eq!((birthday.year, birthday.month, birthday.day), (1980, 3, 8));
        assert_eq!(c.contact.unwrap().mobile_phone, "13800138000");
        assert_eq!(
            c.soft_facts.unwrap().hobbies,
            ["tea", "calligraphy", "golf"]
        );
        assert_eq!(
            c.classification.unwrap().lifecycle_stage,
            pb::LifecycleStage::Signed as i32
        );
        assert_eq!(
            c.organization
                .unwrap()
                .current_annual_sales
                .unwrap()
                .amount_minor,
            123_450
        );
    }

    #[test]
    fn bad_cells_say_what_was_expected() {
        assert!(
            filled(&[("gender", "robot")])
                .unwrap_err()
                .contains("female")
        );
        assert!(filled(&[("birthday", "1980-02-30")]).is_err());
        assert!(filled(&[("birthday", "soon")]).is_err());
        assert!(
            filled(&[("organization.current_annual_sales", "12.345")])
                .unwrap_err()
                .contains("decimal")
        );
        assert!(filled(&[("organization.current_annual_sales", "lots")]).is_err());
    }

    #[test]
    fn dates_money_and_times() {
        assert_eq!(parse_date("03-08"), Ok((0, 3, 8)));
        assert_eq!(parse_date("02-29"), Ok((0, 2, 29)));
        assert_eq!(parse_date("2026/11/23"), Ok((2026, 11, 23)));
        assert_eq!(parse_money("1000", "CNY"), Ok(("CNY".into(), 100_000)));
        assert_eq!(parse_money("-12.5", "CNY"), Ok(("CNY".into(), -1_250)));
        assert_eq!(parse_money("0.00", "CNY"), Ok(("CNY".into(), 0)));
        assert_eq!(parse_money("1500 JPY", "CNY"), Ok(("JPY".into(), 1_500)));
        assert!(parse_money("1.5 JPY", "CNY").is_err());
        assert!(parse_money("12 US", "CNY").is_err());
        assert!(parse_money("12 XYZ", "CNY").is_err(), "not ISO 4217");
        assert!(
            parse_money("92233720368547758.07", "CNY").is_err(),
            "beyond the money bound"
        );
        let t = parse_time("2026-03-08 14:30", chrono_tz::Asia::Shanghai).unwrap();
        assert_eq!(t.to_rfc3339(), "2026-03-08T06:30:00+00:00");
        assert_eq!(
            parse_time("2026-03-08T06:30:00Z", chrono_tz::Asia::Shanghai).unwrap(),
            t
        );
        assert!(parse_time("yesterday", chrono_tz::Asia::Shanghai).is_err());
    }
}
