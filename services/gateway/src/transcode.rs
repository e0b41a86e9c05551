//! HTTP/JSON ↔ protobuf, following the `google.api.http` rules and the proto3
//! JSON mapping: the body, path variables and query parameters become one
//! request message; the response message (or its `response_body` field)
//! becomes the JSON body.

use bytes::Buf;
use prost::Message;
use prost_reflect::{
    DeserializeOptions, DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, SerializeOptions,
};
use serde_json::{Map, Value as Json};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::routes::Route;

/// Why a request could not be turned into a message: a 400 for the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRequest {
    /// The offending field or parameter, when there is one.
    pub field: Option<String>,
    pub message: String,
}

impl BadRequest {
    fn new(field: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }
}

/// Builds the request message of `route` from the HTTP parts.
pub fn request_message(
    route: &Route,
    bindings: &[(String, String)],
    query: Option<&str>,
    body: &[u8],
) -> Result<DynamicMessage, BadRequest> {
    let input = route.method.input();
    let mut json = Map::new();

    match route.body.as_str() {
        "" => {
            if !body.iter().all(u8::is_ascii_whitespace) {
                return Err(BadRequest::new(None, "this route takes no request body"));
            }
        }
        "*" => json = parse_object(body)?,
        field => {
            let value = if body.iter().all(u8::is_ascii_whitespace) {
                Json::Object(Map::new())
            } else {
                serde_json::from_slice(body).map_err(|e| {
                    BadRequest::new(None, format!("the body is not valid JSON: {e}"))
                })?
            };
            json.insert(field.to_owned(), value);
        }
    }

    let mut bound: Vec<String> = Vec::new();
    for (path, value) in bindings {
        set_path(&input, &mut json, path, value, false)?;
        bound.push(path.clone());
    }

    if let Some(query) = query.filter(|q| !q.is_empty()) {
        if route.body == "*" {
            return Err(BadRequest::new(
                None,
                "this route takes its fields from the body, not the query string",
            ));
        }
        for (key, value) in form_pairs(query) {
            let path = proto_path(&input, &key).ok_or_else(|| {
                BadRequest::new(
                    Some(&key),
                    format!("{key:?} is not a parameter of {}", input.name()),
                )
            })?;
            if bound.iter().any(|b| b == &path)
                || path.split('.').next() == Some(route.body.as_str())
            {
                return Err(BadRequest::new(
                    Some(&key),
                    format!("{key:?} is already given by the path or body"),
                ));
            }
            set_path(&input, &mut json, &path, &value, true)?;
        }
    }

    let options = DeserializeOptions::new().deny_unknown_fields(true);
    // Tracked, so a value that does not fit its field (`"amountMinor": "abc"`,
    // `"month": "March"`, a time `2026-13-45T00:00:00Z`) is named.
    let mut track = serde_path_to_error::Track::new();
    let tracked = serde_path_to_error::Deserializer::new(Json::Object(json), &mut track);
    DynamicMessage::deserialize_with_options(input.clone(), tracked, &options).map_err(|e| {
        let path = track.path();
        let field = proto_field_path(&input, &path);
        BadRequest::new(
            field.as_deref(),
            format!(
                "the request does not fit {}: {}",
                route.method.input().name(),
                serde_path_to_error::Error::new(path, e)
            ),
        )
    })
}

/// The proto field path (`transaction.amount.amount_minor`, `items[2].name`)
/// of a JSON path into a request of type `message`, or `None` for the whole.
fn proto_field_path(
    message: &MessageDescriptor,
    path: &serde_path_to_error::Path,
) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    let mut current = Some(message.clone());
    // A map's entries are keyed by their JSON key, not by a field.
    let mut in_map: Option<FieldDescriptor> = None;
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => {
                if let Some(map_field) = in_map.take() {
                    out.push_str(&format!("[{}]", Json::from(key.as_str())));
                    current = map_field.kind().as_message().and_then(|entry| {
                        entry.map_entry_value_field().kind().as_message().cloned()
                    });
                    continue;
                }
                let field = current.as_ref().and_then(|m| {
                    m.get_field_by_json_name(key)
                        .or_else(|| m.get_field_by_name(key))
                });
                let name = field.as_ref().map_or(key.as_str(), |f| f.name());
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
                current = field.as_ref().and_then(|f| f.kind().as_message().cloned());
                in_map = field.filter(FieldDescriptor::is_map);
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

fn parse_object(body: &[u8]) -> Result<Map<String, Json>, BadRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Json::Object(map)) => Ok(map),
        Ok(_) => Err(BadRequest::new(None, "the body must be a JSON object")),
        Err(e) => Err(BadRequest::new(
            None,
            format!("the body is not valid JSON: {e}"),
        )),
    }
}

/// Decoded `key=value` pairs of a query string.
fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}

/// A dotted parameter name (proto or JSON spelling) as a proto field path.
fn proto_path(message: &MessageDescriptor, key: &str) -> Option<String> {
    let mut current = message.clone();
    let mut out = Vec::new();
    let segments: Vec<&str> = key.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let field = current
            .get_field_by_name(segment)
            .or_else(|| current.get_field_by_json_name(segment))?;
        out.push(field.name().to_owned());
        if i + 1 < segments.len() {
            current = field.kind().as_message()?.clone();
        }
    }
    Some(out.join("."))
}

/// Sets the field at `path` in the JSON being built, converting the text
/// value to the field's JSON form. Repeated fields collect values when
/// `append` (query strings may repeat a key).
fn set_path(
    message: &MessageDescriptor,
    json: &mut Map<String, Json>,
    path: &str,
    raw: &str,
    append: bool,
) -> Result<(), BadRequest> {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let field = message.get_field_by_name(head).ok_or_else(|| {
        BadRequest::new(
            Some(path),
            format!("{path:?} is not a field of {}", message.name()),
        )
    })?;
    match rest {
        Some(rest) => {
            let inner = field
                .kind()
                .as_message()
                .cloned()
                .filter(|_| !field.is_list() && !field.is_map())
                .ok_or_else(|| {
                    BadRequest::new(Some(path), format!("{head} has no fields to set"))
                })?;
            let entry = json
                .entry(head.to_owned())
                .or_insert_with(|| Json::Object(Map::new()));
            let Json::Object(map) = entry else {
                return Err(BadRequest::new(
                    Some(path),
                    format!("{head} must be an object"),
                ));
            };
            set_path(&inner, map, rest, raw, append)
        }
        None => {
            let value =
                scalar_json(&field, raw).map_err(|why| BadRequest::new(Some(field.name()), why))?;
            if field.is_list() {
                let entry = json
                    .entry(head.to_owned())
                    .or_insert_with(|| Json::Array(Vec::new()));
                if let (Json::Array(items), true) = (entry, append) {
                    items.push(value);
                    return Ok(());
                }
                json.insert(head.to_owned(), Json::Array(vec![value]));
            } else {
                json.insert(head.to_owned(), value);
            }
            Ok(())
        }
    }
}

/// The proto3 JSON value for a text parameter of `field`'s type.
fn scalar_json(field: &FieldDescriptor, raw: &str) -> Result<Json, String> {
    let name = field.name();
    Ok(match field.kind() {
        Kind::String | Kind::Bytes | Kind::Enum(_) => Json::String(raw.to_owned()),
        Kind::Bool => match raw {
            "true" | "1" => Json::Bool(true),
            "false" | "0" => Json::Bool(false),
            _ => return Err(format!("{name} must be true or false")),
        },
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Json::from(
            raw.parse::<i32>()
                .map_err(|_| format!("{name} must be a whole number"))?,
        ),
        Kind::Uint32 | Kind::Fixed32 => Json::from(
            raw.parse::<u32>()
                .map_err(|_| format!("{name} must be a whole number, not negative"))?,
        ),
        // proto3 JSON carries 64-bit integers as strings.
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            raw.parse::<i64>()
                .map_err(|_| format!("{name} must be a whole number"))?;
            Json::String(raw.to_owned())
        }
        Kind::Uint64 | Kind::Fixed64 => {
            raw.parse::<u64>()
                .map_err(|_| format!("{name} must be a whole number, not negative"))?;
            Json::String(raw.to_owned())
        }
        Kind::Float | Kind::Double => {
            let v: f64 = raw
                .parse()
                .map_err(|_| format!("{name} must be a number"))?;
            serde_json::Number::from_f64(v)
                .map(Json::Number)
                .ok_or_else(|| format!("{name} must be finite"))?
        }
        // Well-known types with a string JSON form (FieldMask, Timestamp,
        // Duration) take the text as is; other messages cannot.
        Kind::Message(m) if m.full_name().starts_with("google.protobuf.") => {
            Json::String(raw.to_owned())
        }
        Kind::Message(_) => return Err(format!("{name} cannot be given as a text parameter")),
    })
}

/// The JSON body of a response message, encoded.
pub fn response_json(route: &Route, message: &DynamicMessage) -> Result<Vec<u8>, Status> {
    // Emit fields at their default values too (false, 0, ""), so portals see
    // every field the OpenAPI document promises instead of guessing at absence.
    let options = SerializeOptions::new().skip_default_fields(false);
    let failed =
        |e: serde_json::Error| Status::internal(format!("encoding the response as JSON: {e}"));
    if route.response_body.is_empty() {
        // Straight to bytes: no JSON value is built and walked again.
        let mut body = Vec::with_capacity(1024);
        message
            .serialize_with_options(&mut serde_json::Serializer::new(&mut body), &options)
            .map_err(failed)?;
        return Ok(body);
    }
    let full = message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(failed)?;
    let field = route
        .method
        .output()
        .get_field_by_name(&route.response_body)
        .map(|f| f.json_name().to_owned())
        .unwrap_or_default();
    serde_json::to_vec(full.get(&field).unwrap_or(&Json::Null)).map_err(failed)
}

/// A gRPC codec for messages known only by their descriptors.
#[derive(Clone)]
pub struct DynamicCodec {
    pub response: MessageDescriptor,
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        DynamicDecoder(self.response.clone())
    }
}

pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Self::Error> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the request: {e}")))?;
        Ok(())
    }
}

pub struct DynamicDecoder(MessageDescriptor);

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Self::Error> {
        let bytes = src.copy_to_bytes(src.remaining());
        DynamicMessage::decode(self.0.clone(), bytes)
            .map(Some)
            .map_err(|e| Status::internal(format!("decoding the response: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::{self, Lookup};
    use http::Method;

    fn build(
        method: Method,
        path: &str,
        query: Option<&str>,
        body: &str,
    ) -> Result<DynamicMessage, BadRequest> {
        let routes = routes::collect(patron_kit::descriptors::pool(), "patron.").unwrap();
        let Lookup::Found(route, bindings) = routes::find(&routes, &method, path) else {
            panic!("no route for {method} {path}");
        };
        request_message(route, &bindings, query, body.as_bytes())
    }

    fn text(m: &DynamicMessage, path: &str) -> String {
        let mut current = m.clone();
        let parts: Vec<&str> = path.split('.').collect();
        for p in &parts[..parts.len() - 1] {
            current = current
                .get_field_by_name(p)
                .unwrap()
                .as_message()
                .unwrap()
                .clone();
        }
        current
            .get_field_by_name(parts[parts.len() - 1])
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned()
    }

    #[test]
    fn body_field_and_path_merge() {
        let m = build(
            Method::PATCH,
            "/v1/customers/abc",
            Some("updateMask=displayName,contact.email"),
            r#"{"displayName": "王丽", "contact": {"email": "a@b.cn"}}"#,
        )
        .unwrap();
        assert_eq!(text(&m, "customer.name"), "customers/abc");
        assert_eq!(text(&m, "customer.display_name"), "王丽");
        let mask = m
            .get_field_by_name("update_mask")
            .unwrap()
            .as_message()
            .unwrap()
            .clone();
        let paths: Vec<String> = mask
            .get_field_by_name("paths")
            .unwrap()
            .as_list()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(paths, ["display_name", "contact.email"]);
    }

    #[test]
    fn query_parameters_take_either_spelling_and_are_typed() {
        let m = build(
            Method::GET,
            "/v1/customers",
            Some("pageSize=5&display_name_contains=wang%20li&phone=%2B86+10"),
            "",
        )
        .unwrap();
        assert_eq!(m.get_field_by_name("page_size").unwrap().as_i32(), Some(5));
        assert_eq!(text(&m, "display_name_contains"), "wang li");
        assert_eq!(text(&m, "phone"), "+86 10");
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let err = build(Method::GET, "/v1/customers", Some("pageSize=ten"), "").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("page_size"));
        let err = build(Method::GET, "/v1/customers", Some("colour=red"), "").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("colour"));
        let err = build(Method::GET, "/v1/customers/x", Some("name=customers/y"), "").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("name"));
        assert!(build(Method::POST, "/v1/customers", None, "{not json").is_err());
        assert!(build(Method::POST, "/v1/customers", None, r#"{"noSuchField": 1}"#).is_err());
        assert!(build(Method::GET, "/v1/customers", None, r#"{"x": 1}"#).is_err());
    }

    #[test]
    fn values_that_do_not_fit_name_their_field() {
        let field = |path: &str, body: &str| {
            build(Method::POST, path, None, body)
                .unwrap_err()
                .field
                .unwrap_or_default()
        };
        let tx = "/v1/customers/abc/transactions";
        assert_eq!(
            field(
                tx,
                r#"{"amount": {"currencyCode": "CNY", "amountMinor": "abc"}}"#
            ),
            "transaction.amount.amount_minor"
        );
        assert_eq!(
            field(tx, r#"{"amount": {"amountMinor": ""}}"#),
            "transaction.amount.amount_minor"
        );
        assert_eq!(
            field(tx, r#"{"occurTime": "2026-13-45T00:00:00Z"}"#),
            "transaction.occur_time"
        );
        assert_eq!(
            field(
                "/v1/customers",
                r#"{"person": {"birthday": {"year": 1980, "month": "March"}}}"#
            ),
            "customer.person.birthday.month"
        );
        assert_eq!(
            field("/v1/customers", r#"{"familyMembers": [{}, {"name": 5}]}"#),
            "customer.family_members[1].name"
        );
        assert_eq!(
            field("/v1/customers", r#"{"productAttributes": {"k": 5}}"#),
            "customer.product_attributes[\"k\"]"
        );
    }
}
