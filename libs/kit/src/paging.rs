//! Pagination (AIP-158): `page_size` and an opaque `page_token`. Tokens are
//! keyset cursors (the last row's key), so pages stay stable while rows are
//! added, and they are bound to the filter they were issued for.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use sha2::{Digest, Sha256};

use crate::error::ServiceError;

/// Page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Larger requests are served this many (AIP-158 coerces rather than refuses).
pub const MAX_PAGE_SIZE: i64 = 1000;

/// The number of items a page holds.
pub fn page_size(field: &str, requested: i32) -> Result<i64, ServiceError> {
    match requested {
        n if n < 0 => Err(ServiceError::invalid(field, "must not be negative")),
        0 => Ok(DEFAULT_PAGE_SIZE),
        n => Ok(i64::from(n).min(MAX_PAGE_SIZE)),
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope<K> {
    /// The key of the last item of the previous page.
    after: K,
    /// Fingerprint of the filter the token was issued for.
    filter: String,
}

/// A fingerprint of a list request's filter fields.
pub fn filter_fingerprint(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for p in parts {
        hasher.update(p.as_bytes());
        hasher.update([0u8]);
    }
    URL_SAFE_NO_PAD.encode(&hasher.finalize()[..9])
}

/// The token that continues after `last_key`.
pub fn encode_token<K: Serialize>(last_key: &K, filter: &str) -> String {
    let json = serde_json::to_vec(&Envelope {
        after: last_key,
        filter: filter.to_owned(),
    })
    .unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// The key a token continues after; `None` for the first page.
pub fn decode_token<K: DeserializeOwned>(
    field: &str,
    token: &str,
    filter: &str,
) -> Result<Option<K>, ServiceError> {
    if token.is_empty() {
        return Ok(None);
    }
    let envelope: Envelope<K> = URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| ServiceError::invalid(field, "is not a page token this service issued"))?;
    if envelope.filter != filter {
        return Err(ServiceError::invalid(
            field,
            "was issued for a different filter; start again from the first page",
        ));
    }
    Ok(Some(envelope.after))
}

/// Cuts a page from `rows`, fetched with a limit of `limit + 1` (the extra row
/// tells whether another page follows), and the token that continues after
/// its last row (empty on the last page).
pub fn finish_page<R, K: Serialize>(
    mut rows: Vec<R>,
    limit: i64,
    filter: &str,
    key: impl Fn(&R) -> K,
) -> (Vec<R>, String) {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit.max(0) as usize);
    let token = match (more, rows.last()) {
        (true, Some(last)) => encode_token(&key(last), filter),
        _ => String::new(),
    };
    (rows, token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(page_size("page_size", 0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size("page_size", 7).unwrap(), 7);
        assert_eq!(page_size("page_size", 1_000_000).unwrap(), MAX_PAGE_SIZE);
        assert!(page_size("page_size", -1).is_err());
    }

    #[test]
    fn token_round_trip_and_binding() {
        let f = filter_fingerprint(&["name=a"]);
        let token = encode_token(&("k".to_string(), 3), &f);
        let key: Option<(String, i32)> = decode_token("page_token", &token, &f).unwrap();
        assert_eq!(key, Some(("k".into(), 3)));

        let other = filter_fingerprint(&["name=b"]);
        assert!(decode_token::<(String, i32)>("page_token", &token, &other).is_err());
        assert!(decode_token::<(String, i32)>("page_token", "%%%", &f).is_err());
        assert_eq!(decode_token::<String>("page_token", "", &f).unwrap(), None);
    }

    #[test]
    fn pages_are_cut_with_a_token_only_when_more_follow() {
        let (rows, token) = finish_page(vec![1, 2, 3], 2, "f", |r| *r);
        assert_eq!(rows, [1, 2]);
        assert_eq!(
            decode_token::<i32>("page_token", &token, "f").unwrap(),
            Some(2)
        );
        let (rows, token) = finish_page(vec![1, 2], 2, "f", |r| *r);
        assert_eq!((rows, token), (vec![1, 2], String::new()));
    }

    #[test]
    fn fingerprint_separates_parts() {
        assert_ne!(
            filter_fingerprint(&["ab", "c"]),
            filter_fingerprint(&["a", "bc"])
        );
    }
}
