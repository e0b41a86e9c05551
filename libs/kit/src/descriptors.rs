//! The suite's compiled protobuf descriptors, decoded once, with the custom
//! options (HTTP routes, field behaviour) the gateway and update masks read.

use std::sync::OnceLock;

use prost_reflect::{
    DescriptorPool, DynamicMessage, ExtensionDescriptor, FieldDescriptor, MessageDescriptor,
    SerializeOptions, Value,
};

use crate::error::ServiceError;

/// Every Patron message, service and extension.
pub fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        // The bytes are produced by our own build script from our own protos;
        // failing to decode them is a build defect, not a runtime condition.
        DescriptorPool::decode(patron_proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set compiled into patron-proto decodes")
    })
}

/// The descriptor of the generated type `M`.
pub fn descriptor_of<M: prost::Name>() -> Result<MessageDescriptor, ServiceError> {
    let full_name = M::full_name();
    pool()
        .get_message_by_name(&full_name)
        .ok_or_else(|| ServiceError::internal(anyhow::anyhow!("no descriptor for {full_name}")))
}

/// `message` as a dynamic message, for code that works by descriptor.
pub fn to_dynamic<M: prost::Message + prost::Name>(
    message: &M,
) -> Result<DynamicMessage, ServiceError> {
    DynamicMessage::decode(descriptor_of::<M>()?, message.encode_to_vec().as_slice())
        .map_err(ServiceError::internal)
}

fn serialize<M: prost::Message + prost::Name>(
    message: &M,
    options: &SerializeOptions,
) -> Result<serde_json::Value, ServiceError> {
    to_dynamic(message)?
        .serialize_with_options(serde_json::value::Serializer, options)
        .map_err(ServiceError::internal)
}

/// `message` in proto3 JSON (camelCase names, RFC 3339 times, enums by name),
/// for storing records in JSONB.
pub fn to_json<M: prost::Message + prost::Name>(
    message: &M,
) -> Result<serde_json::Value, ServiceError> {
    serialize(message, &SerializeOptions::new())
}

/// `message` as JSON with the proto field names (`contact.mobile_phone`), the
/// spelling update masks and audit records use.
pub fn to_json_proto_names<M: prost::Message + prost::Name>(
    message: &M,
) -> Result<serde_json::Value, ServiceError> {
    serialize(message, &SerializeOptions::new().use_proto_field_name(true))
}

/// The message stored as proto3 JSON by [`to_json`]. Unknown fields (written
/// by a newer version) are ignored so a rollback can still read its records.
pub fn from_json<M: prost::Message + prost::Name + Default>(
    json: &serde_json::Value,
) -> Result<M, ServiceError> {
    let options = prost_reflect::DeserializeOptions::new().deny_unknown_fields(false);
    let dynamic =
        DynamicMessage::deserialize_with_options(descriptor_of::<M>()?, json.clone(), &options)
            .map_err(ServiceError::internal)?;
    dynamic.transcode_to::<M>().map_err(ServiceError::internal)
}

/// How a field behaves in requests (AIP-203).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldBehavior {
    Required,
    OutputOnly,
    Immutable,
    Identifier,
}

fn field_behavior_extension() -> Option<ExtensionDescriptor> {
    pool().get_extension_by_name("google.api.field_behavior")
}

/// The behaviours annotated on `field`.
pub fn field_behaviors(field: &FieldDescriptor) -> Vec<FieldBehavior> {
    let Some(ext) = field_behavior_extension() else {
        return Vec::new();
    };
    let options = field.options();
    if !options.has_extension(&ext) {
        return Vec::new();
    }
    let value = options.get_extension(&ext);
    let numbers: Vec<i32> = match value.as_ref() {
        Value::List(items) => items.iter().filter_map(Value::as_enum_number).collect(),
        Value::EnumNumber(n) => vec![*n],
        _ => Vec::new(),
    };
    numbers
        .into_iter()
        .filter_map(|n| match n {
            2 => Some(FieldBehavior::Required),
            3 => Some(FieldBehavior::OutputOnly),
            5 => Some(FieldBehavior::Immutable),
            8 => Some(FieldBehavior::Identifier),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use patron_proto::profile::v1::{Customer, PersonFacts};

    #[test]
    fn json_round_trip_uses_proto3_names() {
        let c = Customer {
            display_name: "王丽".into(),
            kind: 1,
            person: Some(PersonFacts {
                approximate_age: 40,
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = to_json(&c).unwrap();
        assert_eq!(json["displayName"], "王丽");
        assert_eq!(json["kind"], "CUSTOMER_KIND_PERSON");
        assert_eq!(json["person"]["approximateAge"], 40);
        assert_eq!(from_json::<Customer>(&json).unwrap(), c);
        let mut newer = json.clone();
        newer["someFutureField"] = serde_json::json!(1);
        assert_eq!(from_json::<Customer>(&newer).unwrap(), c);
    }

    #[test]
    fn customer_field_behaviours_survive_compilation() {
        let customer = pool()
            .get_message_by_name("patron.profile.v1.Customer")
            .unwrap();
        let behaviours = |name: &str| field_behaviors(&customer.get_field_by_name(name).unwrap());
        assert_eq!(behaviours("create_time"), [FieldBehavior::OutputOnly]);
        assert_eq!(behaviours("name"), [FieldBehavior::Identifier]);
        assert_eq!(
            behaviours("kind"),
            [FieldBehavior::Required, FieldBehavior::Immutable]
        );
        assert!(behaviours("notes").is_empty());
    }
}
