//! What a change changed: the fields of two versions of an archive, compared
//! leaf by leaf (lists compared whole), for the change audit.

use std::collections::BTreeMap;

use serde_json::Value;

/// One field's value before and after; `None` when unset.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldChange {
    pub field: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// The fields that differ between `before` and `after` (JSON objects), in
/// path order.
pub fn diff(before: &Value, after: &Value) -> Vec<FieldChange> {
    let (mut old, mut new) = (BTreeMap::new(), BTreeMap::new());
    flatten("", before, &mut old);
    flatten("", after, &mut new);
    let mut paths: Vec<&String> = old.keys().chain(new.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter_map(|path| {
            let (b, a) = (old.get(path), new.get(path));
            (b != a).then(|| FieldChange {
                field: path.clone(),
                before: b.cloned(),
                after: a.cloned(),
            })
        })
        .collect()
}

fn flatten(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, v, out);
            }
        }
        Value::Null => {}
        leaf if !prefix.is_empty() => {
            out.insert(prefix.to_owned(), leaf.clone());
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_changed_leaves_with_before_and_after() {
        let before =
            json!({"display_name": "A", "contact": {"email": "a@x.cn", "fax": "1"}, "notes": "n"});
        let after = json!({"display_name": "B", "contact": {"email": "a@x.cn"}, "soft_facts": {"hobbies": ["tea"]}, "notes": "n"});
        let changes = diff(&before, &after);
        let summary: Vec<(&str, Option<Value>, Option<Value>)> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.before.clone(), c.after.clone()))
            .collect();
        assert_eq!(
            summary,
            [
                ("contact.fax", Some(json!("1")), None),
                ("display_name", Some(json!("A")), Some(json!("B"))),
                ("soft_facts.hobbies", None, Some(json!(["tea"]))),
            ]
        );
    }

    #[test]
    fn creation_and_no_change() {
        assert_eq!(diff(&json!({}), &json!({"a": 1})).len(), 1);
        assert!(diff(&json!({"a": {"b": [1, 2]}}), &json!({"a": {"b": [1, 2]}})).is_empty());
        assert_eq!(
            diff(&json!({"a": [1, 2]}), &json!({"a": [2, 1]})).len(),
            1,
            "order of a list matters"
        );
    }
}
