//! Gathers the bad fields of a request: each check's INVALID_ARGUMENT
//! violations go into one list, with their own field paths and words, so a
//! caller fixes every field in one round trip.

use patron_kit::{ServiceError, Violations};

/// The checked value, or `None` with the check's violations added to `v`
/// (any other refusal is added under `field`).
pub fn collect<T>(v: &mut Violations, field: &str, checked: Result<T, ServiceError>) -> Option<T> {
    match checked {
        Ok(value) => Some(value),
        Err(ServiceError::InvalidArgument(found)) => {
            for violation in found.iter() {
                v.add(violation.field.clone(), violation.description.clone());
            }
            None
        }
        Err(other) => {
            v.add(field, other.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_keep_their_own_fields_and_words() {
        let mut v = Violations::new();
        let ok: Option<i32> = collect(&mut v, "a", Ok(1));
        assert_eq!(ok, Some(1));
        let bad: Option<i32> = collect(
            &mut v,
            "b",
            Err(ServiceError::invalid("b.c", "is required")),
        );
        assert_eq!(bad, None);
        let other: Option<i32> = collect(
            &mut v,
            "d",
            Err(ServiceError::FailedPrecondition("no".into())),
        );
        assert_eq!(other, None);
        let found: Vec<(String, String)> = v
            .iter()
            .map(|f| (f.field.clone(), f.description.clone()))
            .collect();
        assert_eq!(
            found,
            [
                ("b.c".to_string(), "is required".to_string()),
                ("d".to_string(), "no".to_string())
            ]
        );
    }
}
