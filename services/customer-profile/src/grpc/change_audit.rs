//! The change audit's entry for one write: the fields that changed.

use patron_kit::{ServiceError, descriptors};
use patron_proto::profile::v1 as pb;

use crate::domain::change_diff;
use crate::protection;

/// The change audit entry between two versions: each changed field with its
/// values, except sensitive ones, which are recorded as changed without values.
pub(super) fn audit_changes(
    before: &pb::Customer,
    after: &pb::Customer,
) -> Result<serde_json::Value, ServiceError> {
    let owned = |c: &pb::Customer| {
        let mut c = c.clone();
        c.name.clear();
        c.etag.clear();
        c.create_time = None;
        c.update_time = None;
        c.created_by.clear();
        c.updated_by.clear();
        c
    };
    let before = descriptors::to_json_proto_names(&owned(before))?;
    let after = descriptors::to_json_proto_names(&owned(after))?;
    let changes: Vec<serde_json::Value> = change_diff::diff(&before, &after)
        .into_iter()
        .map(|c| {
            if protection::is_sensitive_path(&c.field) {
                serde_json::json!({"field": c.field, "sensitive": true})
            } else {
                serde_json::json!({"field": c.field, "before": c.before, "after": c.after})
            }
        })
        .collect();
    Ok(serde_json::Value::Array(changes))
}
