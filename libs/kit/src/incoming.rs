//! Every incoming request message is screened once, before any handler sees
//! it, by the descriptors alone: a message over the size limit is refused
//! with RESOURCE_EXHAUSTED, and a message with a NUL character (U+0000) in any
//! string — nested, repeated, map key or value — with INVALID_ARGUMENT naming
//! each such field. PostgreSQL cannot store U+0000 in text, so without this
//! every text field of every service would be a 500 waiting to happen (or,
//! sealed, a value stored that nothing can show).
//!
//! It is a tower layer in [`crate::server::serve`] rather than a helper each
//! handler calls: a new RPC or field is covered without anyone remembering to.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use prost_reflect::{DynamicMessage, MapKey, MessageDescriptor, Value};
use tonic::Status;
use tonic::body::Body;

use crate::descriptors;
use crate::error::{ServiceError, Violations};

/// The largest request message a service accepts (tonic's default limit).
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// gRPC frames a message behind a compression flag and a 4-byte length.
const FRAME_HEADER: usize = 5;

/// Why a field's text is refused, or `None` when it is fine.
fn text_problem(text: &str) -> Option<&'static str> {
    text.contains('\0')
        .then_some("must not contain the NUL character (U+0000)")
}

/// Every string of `message` that cannot be accepted, by field path in proto
/// names (`customer.family_members[1].name`, `customer.attributes["k"]`).
pub fn text_violations(message: &DynamicMessage) -> Violations {
    let mut violations = Violations::new();
    walk_message(message, "", &mut violations);
    violations
}

fn walk_message(message: &DynamicMessage, prefix: &str, out: &mut Violations) {
    for (field, value) in message.fields() {
        let path = if prefix.is_empty() {
            field.name().to_owned()
        } else {
            format!("{prefix}.{}", field.name())
        };
        walk_value(value, &path, out);
    }
}

fn walk_value(value: &Value, path: &str, out: &mut Violations) {
    match value {
        Value::String(text) => {
            if let Some(why) = text_problem(text) {
                out.add(path, why);
            }
        }
        Value::Message(inner) => walk_message(inner, path, out),
        Value::List(items) => {
            for (i, item) in items.iter().enumerate() {
                walk_value(item, &format!("{path}[{i}]"), out);
            }
        }
        Value::Map(entries) => {
            for (key, item) in entries {
                let key_path = match key {
                    MapKey::String(k) => {
                        // The key itself is named escaped, so the path is printable.
                        let shown = format!("{path}[{}]", serde_json::Value::from(k.as_str()));
                        if let Some(why) = text_problem(k) {
                            out.add(format!("{shown} (key)"), why);
                        }
                        shown
                    }
                    MapKey::Bool(b) => format!("{path}[{b}]"),
                    MapKey::I32(n) => format!("{path}[{n}]"),
                    MapKey::I64(n) => format!("{path}[{n}]"),
                    MapKey::U32(n) => format!("{path}[{n}]"),
                    MapKey::U64(n) => format!("{path}[{n}]"),
                };
                walk_value(item, &key_path, out);
            }
        }
        _ => {}
    }
}

/// The request message type of the unary RPC at gRPC path `/pkg.Service/Method`,
/// when it is one of ours.
fn input_of(path: &str) -> Option<MessageDescriptor> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    if !service.starts_with("patron.") {
        return None;
    }
    let method = descriptors::pool()
        .get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)?;
    (!method.is_client_streaming()).then(|| method.input())
}

/// What the screen decides about one request body.
enum Verdict {
    Pass,
    Refuse(Status),
}

fn judge(input: &MessageDescriptor, body: &Bytes) -> Verdict {
    if body.len() < FRAME_HEADER {
        return Verdict::Pass;
    }
    let mut header = &body[..FRAME_HEADER];
    let compressed = header.get_u8() != 0;
    let len = header.get_u32() as usize;
    if len > MAX_MESSAGE_BYTES {
        return Verdict::Refuse(too_large());
    }
    // A compressed or malformed frame is left to tonic, which refuses it.
    if compressed || body.len() != FRAME_HEADER + len {
        return Verdict::Pass;
    }
    // A string holding U+0000 puts a zero byte in the encoding: a message
    // with none (most are) needs no decoding to be passed.
    let encoded = &body[FRAME_HEADER..];
    if !encoded.contains(&0) {
        return Verdict::Pass;
    }
    let Ok(message) = DynamicMessage::decode(input.clone(), encoded) else {
        return Verdict::Pass;
    };
    match text_violations(&message).into_result() {
        Ok(()) => Verdict::Pass,
        Err(err) => Verdict::Refuse(err.into()),
    }
}

fn too_large() -> Status {
    Status::resource_exhausted(format!(
        "the request message is larger than the limit of {MAX_MESSAGE_BYTES} bytes"
    ))
}

/// Screens every request of the services it wraps; see the module's text.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScreenLayer;

impl<S> tower::Layer<S> for ScreenLayer {
    type Service = Screen<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Screen { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Screen<S> {
    inner: S,
}

impl<S> tower::Service<Request<Body>> for Screen<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        // The clone that was made ready is the one that serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some(input) = input_of(request.uri().path()) else {
            return Box::pin(inner.call(request));
        };
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let bytes = match Limited::new(body, MAX_MESSAGE_BYTES + FRAME_HEADER)
                .collect()
                .await
            {
                Ok(collected) => collected.to_bytes(),
                Err(e) if e.is::<LengthLimitError>() => return Ok(too_large().into_http()),
                Err(e) => {
                    let status = Status::cancelled(format!("reading the request failed: {e}"));
                    return Ok(status.into_http());
                }
            };
            if let Verdict::Refuse(status) = judge(&input, &bytes) {
                return Ok(status.into_http());
            }
            let body = Body::new(Full::new(bytes).map_err(|e: Infallible| match e {}));
            inner.call(Request::from_parts(parts, body)).await
        })
    }
}

/// The text check for callers that build messages themselves (the import).
pub fn check_text<M: prost::Message + prost::Name>(message: &M) -> Result<(), ServiceError> {
    text_violations(&descriptors::to_dynamic(message)?).into_result()
}

#[cfg(test)]
mod tests {
    use super::*;
    use patron_proto::profile::v1::{CreateCustomerRequest, Customer, FamilyMember};

    #[test]
    fn names_every_nul_by_its_path() {
        let request = CreateCustomerRequest {
            customer: Some(Customer {
                display_name: "王丽".into(),
                notes: "a\0b".into(),
                family_members: vec![
                    FamilyMember {
                        name: "ok".into(),
                        ..Default::default()
                    },
                    FamilyMember {
                        name: "\0".into(),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let fields: Vec<String> = check_text(&request)
            .err()
            .map(|e| match e {
                ServiceError::InvalidArgument(v) => v.iter().map(|v| v.field.clone()).collect(),
                other => panic!("{other:?}"),
            })
            .unwrap_or_default();
        assert_eq!(
            fields,
            ["customer.family_members[1].name", "customer.notes"]
        );
    }

    fn framed(message: &impl prost::Message) -> Bytes {
        let encoded = message.encode_to_vec();
        let mut frame = vec![0];
        frame.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
        frame.extend_from_slice(&encoded);
        Bytes::from(frame)
    }

    fn refused(message: &impl prost::Message) -> bool {
        let input = input_of("/patron.profile.v1.CustomerService/CreateCustomer").unwrap();
        matches!(judge(&input, &framed(message)), Verdict::Refuse(_))
    }

    #[test]
    fn a_zero_byte_outside_any_string_is_not_a_nul() {
        let customer = |notes: &str, family_members| CreateCustomerRequest {
            customer: Some(Customer {
                display_name: "王丽".into(),
                notes: notes.into(),
                family_members,
                ..Default::default()
            }),
            ..Default::default()
        };
        // No zero byte at all: passed without decoding.
        assert!(!refused(&customer("fine", Vec::new())));
        // An empty nested message is encoded with length 0: a zero byte, no NUL.
        let empty = vec![FamilyMember::default()];
        assert!(framed(&customer("fine", empty.clone())).contains(&0));
        assert!(!refused(&customer("fine", empty.clone())));
        // A NUL in a string is refused, with or without other zero bytes.
        assert!(refused(&customer("a\0b", Vec::new())));
        assert!(refused(&customer("a\0b", empty)));
    }

    #[test]
    fn routes_only_our_unary_methods() {
        assert!(input_of("/patron.profile.v1.CustomerService/CreateCustomer").is_some());
        assert!(input_of("/grpc.health.v1.Health/Check").is_none());
        assert!(input_of("/patron.profile.v1.CustomerService/NoSuch").is_none());
        assert!(input_of("nonsense").is_none());
    }
}
