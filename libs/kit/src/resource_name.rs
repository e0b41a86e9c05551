//! Resource names in AIP style (`customers/{id}`) with service-generated,
//! time-ordered UUIDs as ids.

use uuid::Uuid;

use crate::error::ServiceError;

/// A new time-ordered id (UUIDv7): sorts by creation, indexes well.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// `collection/{id}`.
pub fn format(collection: &str, id: Uuid) -> String {
    format!("{collection}/{id}")
}

/// The id in `collection/{id}`; an error naming `field` otherwise.
pub fn parse(field: &str, collection: &str, name: &str) -> Result<Uuid, ServiceError> {
    if name.is_empty() {
        return Err(ServiceError::invalid(field, "is required"));
    }
    name.strip_prefix(collection)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or_else(|| {
            ServiceError::invalid(
                field,
                format!("must be a resource name of the form {collection}/{{id}}"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let id = new_id();
        assert_eq!(
            parse("name", "customers", &format("customers", id)).unwrap(),
            id
        );
    }

    #[test]
    fn refuses_other_shapes() {
        for bad in [
            "",
            "customers",
            "customers/",
            "customers/42",
            "orders/0190e2d4-7c1a-7000-8000-000000000000",
        ] {
            assert_eq!(
                parse("name", "customers", bad).unwrap_err().code(),
                tonic::Code::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn ids_are_time_ordered() {
        let a = new_id();
        let b = new_id();
        assert!(a < b);
    }
}
