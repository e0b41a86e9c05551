//! Update masks (AIP-134), applied generically through the descriptors: the
//! fields a mask names are copied from the request onto the stored resource,
//! nested paths included. Paths that do not exist, or name a field the caller
//! may not change (output only, immutable, identifier), are refused by name.

use prost_reflect::{DynamicMessage, MessageDescriptor, ReflectMessage};

use crate::descriptors::{self, FieldBehavior};
use crate::error::{ServiceError, Violations};

/// `stored` with the fields `paths` names taken from `patch`. With no paths,
/// every field `patch` sets is taken (AIP-134's implied mask), skipping those
/// the service owns. `mask_field` names the mask in errors.
pub fn apply<M>(
    stored: &M,
    patch: &M,
    paths: &[String],
    mask_field: &str,
) -> Result<M, ServiceError>
where
    M: prost::Message + prost::Name + Default,
{
    let desc = descriptors::descriptor_of::<M>()?;
    let mut target = descriptors::to_dynamic(stored)?;
    let source = descriptors::to_dynamic(patch)?;

    let paths: Vec<String> = if paths.is_empty() {
        implied(&source)
    } else {
        check_paths(&desc, paths, mask_field)?;
        paths.to_vec()
    };

    for path in &paths {
        copy_path(&mut target, &source, path);
    }
    target.transcode_to::<M>().map_err(ServiceError::internal)
}

/// The mask an update without one implies: every field `patch` sets, less
/// those the service owns.
pub fn implied_paths<M: prost::Message + prost::Name + Default>(
    patch: &M,
) -> Result<Vec<String>, ServiceError> {
    Ok(implied(&descriptors::to_dynamic(patch)?))
}

fn implied(source: &DynamicMessage) -> Vec<String> {
    source
        .fields()
        .map(|(field, _)| field)
        .filter(|field| !is_service_owned(&descriptors::field_behaviors(field)))
        .map(|field| field.name().to_owned())
        .collect()
}

fn is_service_owned(behaviours: &[FieldBehavior]) -> bool {
    behaviours.iter().any(|b| {
        matches!(
            b,
            FieldBehavior::OutputOnly | FieldBehavior::Immutable | FieldBehavior::Identifier
        )
    })
}

fn check_paths(
    desc: &MessageDescriptor,
    paths: &[String],
    mask_field: &str,
) -> Result<(), ServiceError> {
    let mut violations = Violations::new();
    for path in paths {
        if let Err(reason) = check_path(desc, path) {
            violations.add(mask_field, format!("{path:?} {reason}"));
        }
    }
    violations.into_result()
}

fn check_path(desc: &MessageDescriptor, path: &str) -> Result<(), String> {
    let mut current = desc.clone();
    let segments: Vec<&str> = path.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let field = current
            .get_field_by_name(segment)
            .ok_or_else(|| format!("names no field of {}", current.name()))?;
        let behaviours = descriptors::field_behaviors(&field);
        if behaviours.contains(&FieldBehavior::OutputOnly)
            || behaviours.contains(&FieldBehavior::Identifier)
        {
            return Err("names a field the service sets".into());
        }
        if behaviours.contains(&FieldBehavior::Immutable) {
            return Err("names a field that cannot change after creation".into());
        }
        let last = i + 1 == segments.len();
        if !last {
            match field.kind().as_message() {
                Some(inner) if !field.is_list() && !field.is_map() => current = inner.clone(),
                _ => {
                    return Err(format!(
                        "goes inside {segment}, which is not a single message"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Copies the value at `path` from `source` into `target`, clearing it in
/// `target` when `source` does not set it.
fn copy_path(target: &mut DynamicMessage, source: &DynamicMessage, path: &str) {
    let (head, rest) = match path.split_once('.') {
        Some((h, r)) => (h, Some(r)),
        None => (path, None),
    };
    let Some(field) = target.descriptor().get_field_by_name(head) else {
        return;
    };
    match rest {
        None => {
            if source.has_field(&field) {
                target.set_field(&field, source.get_field(&field).into_owned());
            } else {
                target.clear_field(&field);
            }
        }
        Some(rest) => {
            let Some(inner_desc) = field.kind().as_message().cloned() else {
                return;
            };
            let inner_source = source
                .get_field(&field)
                .as_message()
                .cloned()
                .unwrap_or_else(|| DynamicMessage::new(inner_desc));
            if let Some(inner_target) = target.get_field_mut(&field).as_message_mut() {
                copy_path(inner_target, &inner_source, rest);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use patron_proto::profile::v1::{ContactDetails, Customer};

    fn stored() -> Customer {
        Customer {
            name: "customers/1".into(),
            display_name: "Old".into(),
            notes: "keep".into(),
            archive_number: "A-1".into(),
            contact: Some(ContactDetails {
                email: "old@example.com".into(),
                mobile_phone: "13800000000".into(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn explicit_paths_copy_only_those_fields() {
        let patch = Customer {
            display_name: "New".into(),
            notes: "ignored".into(),
            contact: Some(ContactDetails {
                email: "new@example.com".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let out = apply(
            &stored(),
            &patch,
            &["display_name".into(), "contact.email".into()],
            "update_mask",
        )
        .unwrap();
        assert_eq!(out.display_name, "New");
        assert_eq!(out.notes, "keep");
        let contact = out.contact.unwrap();
        assert_eq!(contact.email, "new@example.com");
        assert_eq!(
            contact.mobile_phone, "13800000000",
            "sibling fields are kept"
        );
    }

    #[test]
    fn a_named_field_missing_from_the_patch_is_cleared() {
        let out = apply(
            &stored(),
            &Customer::default(),
            &["notes".into()],
            "update_mask",
        )
        .unwrap();
        assert_eq!(out.notes, "");
    }

    #[test]
    fn implied_mask_takes_set_fields_but_not_service_owned_ones() {
        let patch = Customer {
            name: "customers/other".into(),
            archive_number: "B-2".into(),
            notes: "new notes".into(),
            ..Default::default()
        };
        let out = apply(&stored(), &patch, &[], "update_mask").unwrap();
        assert_eq!(out.notes, "new notes");
        assert_eq!(out.display_name, "Old");
        assert_eq!(out.name, "customers/1");
        assert_eq!(out.archive_number, "A-1");
    }

    #[test]
    fn bad_paths_are_named() {
        let err = apply(
            &stored(),
            &Customer::default(),
            &[
                "nope".into(),
                "create_time".into(),
                "kind".into(),
                "contact.nope".into(),
                "display_name.x".into(),
            ],
            "update_mask",
        )
        .unwrap_err();
        let ServiceError::InvalidArgument(v) = err else {
            panic!("{err:?}")
        };
        let descriptions: Vec<String> = v.iter().map(|v| v.description.clone()).collect();
        assert_eq!(descriptions.len(), 5, "{descriptions:?}");
        assert!(v.iter().all(|v| v.field == "update_mask"));
    }
}
