//! Idempotent creates (AIP-155). A create's `request_id` is claimed in the
//! same transaction as the create, in the service's own schema, so a retry is
//! applied once even if Redis was flushed or the first reply was lost. Reusing
//! an id for a different request is refused rather than silently answered
//! with another resource.

use sha2::{Digest, Sha256};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::error::ServiceError;

/// What claiming a request id found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// First time: go ahead and create `resource_id`.
    New,
    /// Already applied: answer with this resource.
    Replay(Uuid),
}

/// A request id as given by a caller: empty means "not idempotent".
pub fn parse_request_id(field: &str, raw: &str) -> Result<Option<Uuid>, ServiceError> {
    if raw.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(raw)
        .map(Some)
        .map_err(|_| ServiceError::invalid(field, "must be a UUID"))
}

/// A fingerprint of the request body, to tell a retry from a reuse.
pub fn fingerprint(encoded_request: &[u8]) -> Vec<u8> {
    Sha256::digest(encoded_request).to_vec()
}

/// Claims `request_id` for a create of `resource_id` inside the caller's
/// transaction. Concurrent claims of one id serialise on the primary key: the
/// second waits for the first to commit, then replays its resource.
pub async fn claim(
    tx: &mut PgConnection,
    scope: &str,
    request_id: Uuid,
    fingerprint: &[u8],
    resource_id: Uuid,
) -> Result<Claim, ServiceError> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (scope, request_id, fingerprint, resource_id)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(scope)
    .bind(request_id)
    .bind(fingerprint)
    .bind(resource_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claim::New);
    }
    let row = sqlx::query(
        "SELECT fingerprint, resource_id FROM idempotency_keys WHERE scope = $1 AND request_id = $2",
    )
    .bind(scope)
    .bind(request_id)
    .fetch_one(&mut *tx)
    .await?;
    let stored: Vec<u8> = row.try_get("fingerprint")?;
    if stored != fingerprint {
        return Err(reused());
    }
    Ok(Claim::Replay(row.try_get("resource_id")?))
}

/// A create's claim on its request id, for [`claim_many`].
pub struct ClaimRequest<'a> {
    pub request_id: Uuid,
    pub fingerprint: &'a [u8],
    pub resource_id: Uuid,
}

/// Claims many request ids at once, in two statements at most: each answer
/// as [`claim`] would give it, in order. A request id that appears twice is
/// claimed by the first, and the second replays it (or is refused, if its
/// request differs).
pub async fn claim_many(
    tx: &mut PgConnection,
    scope: &str,
    requests: &[ClaimRequest<'_>],
) -> Result<Vec<Result<Claim, ServiceError>>, ServiceError> {
    if requests.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<Uuid> = requests.iter().map(|r| r.request_id).collect();
    let fingerprints: Vec<&[u8]> = requests.iter().map(|r| r.fingerprint).collect();
    let resources: Vec<Uuid> = requests.iter().map(|r| r.resource_id).collect();
    // ON CONFLICT DO NOTHING also skips a key repeated within the statement;
    // RETURNING then names only the rows this call wrote.
    let claimed: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "INSERT INTO idempotency_keys (scope, request_id, fingerprint, resource_id)
         SELECT $1, r.id, r.fp, r.res
           FROM unnest($2::uuid[], $3::bytea[], $4::uuid[]) WITH ORDINALITY AS r(id, fp, res, n)
          ORDER BY r.n
         ON CONFLICT DO NOTHING
         RETURNING request_id, resource_id",
    )
    .bind(scope)
    .bind(&ids)
    .bind(&fingerprints)
    .bind(&resources)
    .fetch_all(&mut *tx)
    .await?;
    let claimed: std::collections::HashMap<Uuid, Uuid> = claimed.into_iter().collect();
    let unclaimed: Vec<Uuid> = requests
        .iter()
        .filter(|r| claimed.get(&r.request_id) != Some(&r.resource_id))
        .map(|r| r.request_id)
        .collect();
    let stored: std::collections::HashMap<Uuid, (Vec<u8>, Uuid)> = if unclaimed.is_empty() {
        Default::default()
    } else {
        sqlx::query_as::<_, (Uuid, Vec<u8>, Uuid)>(
            "SELECT request_id, fingerprint, resource_id FROM idempotency_keys
              WHERE scope = $1 AND request_id = ANY($2)",
        )
        .bind(scope)
        .bind(&unclaimed)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, fp, res)| (id, (fp, res)))
        .collect()
    };
    Ok(requests
        .iter()
        .map(|r| {
            if claimed.get(&r.request_id) == Some(&r.resource_id) {
                return Ok(Claim::New);
            }
            match stored.get(&r.request_id) {
                Some((fp, _)) if fp.as_slice() != r.fingerprint => Err(reused()),
                Some((_, resource)) => Ok(Claim::Replay(*resource)),
                None => Err(ServiceError::Internal(anyhow::anyhow!(
                    "request id {} neither claimed nor stored",
                    r.request_id
                ))),
            }
        })
        .collect())
}

/// The response header that marks an answer as a replay: the create (or
/// the recorded transaction) was applied by an earlier request, and this one
/// changed nothing. Callers that report what they did (an import) read it
/// instead of comparing the resource's create time with their own clock.
pub const REPLAYED_HEADER: &str = "patron-replayed";

/// `message` as the answer to a replayed request, marked as such.
pub fn replayed<T>(message: T) -> tonic::Response<T> {
    let mut response = tonic::Response::new(message);
    response.metadata_mut().insert(
        REPLAYED_HEADER,
        tonic::metadata::MetadataValue::from_static("true"),
    );
    response
}

/// Whether `metadata` (a response's) marks a replay.
pub fn was_replayed(metadata: &tonic::metadata::MetadataMap) -> bool {
    metadata
        .get(REPLAYED_HEADER)
        .is_some_and(|v| v.as_bytes() == b"true")
}

fn reused() -> ServiceError {
    ServiceError::invalid(
        "request_id",
        "was already used for a different request; use a new request_id",
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_replay_is_marked_and_a_first_answer_is_not() {
        assert!(super::was_replayed(super::replayed(()).metadata()));
        assert!(!super::was_replayed(tonic::Response::new(()).metadata()));
    }

    use super::*;

    #[test]
    fn request_ids() {
        assert_eq!(parse_request_id("request_id", "").unwrap(), None);
        assert!(parse_request_id("request_id", "abc").is_err());
        let id = Uuid::new_v4();
        assert_eq!(
            parse_request_id("request_id", &id.to_string()).unwrap(),
            Some(id)
        );
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        assert_eq!(fingerprint(b"a"), fingerprint(b"a"));
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
    }
}
