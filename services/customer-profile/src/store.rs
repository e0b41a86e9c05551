//! The customer archive's SQL. Plain queries, one function per statement;
//! transactions are opened by the caller so a create, its idempotency claim and
//! (later) its event commit together.

use chrono::{DateTime, Utc};
use patron_kit::ServiceError;
use patron_kit::error::unique_violation;
use patron_vocab::Change;
use sqlx::{FromRow, PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::domain::archive_number::ArchiveNumber;
use crate::domain::customer::ValidCustomer;
use crate::domain::exit::Exit;
use crate::protection::Sealed;

pub mod audit;
pub mod consents;
pub mod organisation;
pub mod transactions;

const COLUMNS: &str = "id, archive_number, kind, display_name, account_manager, org_unit_id, profile, sensitive, version, \
                       last_reviewed_at, exit_kind, exit_reason, exit_reference, exited_at, exited_by, \
                       created_at, created_by, updated_at, updated_by";

/// One archive as stored.
#[derive(Debug, Clone, FromRow)]
pub struct CustomerRow {
    pub id: Uuid,
    pub archive_number: String,
    pub kind: i16,
    pub display_name: String,
    pub account_manager: String,
    pub org_unit_id: String,
    /// The readable record in proto3 JSON (no sensitive fields).
    pub profile: serde_json::Value,
    /// The sealed sensitive fields; `None` only for rows written before
    /// sealing existed, until start-up seals them.
    pub sensitive: Option<Vec<u8>>,
    pub version: i64,
    pub last_reviewed_at: Option<DateTime<Utc>>,
    pub exit_kind: Option<i16>,
    pub exit_reason: Option<String>,
    pub exit_reference: Option<String>,
    pub exited_at: Option<DateTime<Utc>>,
    pub exited_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// Inserts a new archive, assigning the next archive number when none was given.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    tx: &mut PgConnection,
    id: Uuid,
    customer: &ValidCustomer,
    org_unit_id: &str,
    profile: &serde_json::Value,
    sealed: &Sealed,
    archive_prefix: &str,
    change: Change<'_>,
) -> Result<CustomerRow, ServiceError> {
    let archive_number = match &customer.archive_number {
        Some(n) => n.clone(),
        None => next_archive_number(tx, archive_prefix).await?,
    };
    let inserted = sqlx::query_as::<_, CustomerRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO customers (id, archive_number, kind, display_name, account_manager, profile,
                                sensitive, phone_index, id_card_index,
                                created_at, created_by, updated_at, updated_by, org_unit_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $11, $12)
         RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(archive_number.as_str())
    .bind(customer.kind.code())
    .bind(customer.display_name.as_str())
    .bind(&customer.account_manager)
    .bind(profile)
    .bind(&sealed.sensitive)
    .bind(&sealed.phone_index)
    .bind(&sealed.id_card_index)
    .bind(change.at)
    .bind(change.actor)
    .bind(org_unit_id)
    .fetch_one(&mut *tx)
    .await;
    inserted.map_err(|e| match unique_violation(&e).as_deref() {
        Some("customers_archive_number_key") => ServiceError::AlreadyExists(format!(
            "archive number {archive_number} is already in use"
        )),
        _ => e.into(),
    })
}

/// The next number from the sequence that no archive holds yet (a company's
/// own numbers may already have taken some).
async fn next_archive_number(
    tx: &mut PgConnection,
    prefix: &str,
) -> Result<ArchiveNumber, ServiceError> {
    loop {
        let n: i64 = sqlx::query_scalar("SELECT nextval('archive_number_seq')")
            .fetch_one(&mut *tx)
            .await?;
        let candidate = ArchiveNumber::assigned(prefix, n).map_err(|why| {
            ServiceError::internal(anyhow::anyhow!("archive number prefix {prefix:?}: {why}"))
        })?;
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM customers WHERE archive_number = $1)")
                .bind(candidate.as_str())
                .fetch_one(&mut *tx)
                .await?;
        if !taken {
            return Ok(candidate);
        }
    }
}

/// A live archive by id.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<CustomerRow>, ServiceError> {
    Ok(
        sqlx::query_as::<_, CustomerRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM customers WHERE id = $1 AND deleted_at IS NULL"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await?,
    )
}

/// A live archive by id, locked until the transaction ends.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> Result<Option<CustomerRow>, ServiceError> {
    Ok(
        sqlx::query_as::<_, CustomerRow>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM customers WHERE id = $1 AND deleted_at IS NULL FOR UPDATE"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?,
    )
}

/// Whether the customer exists and is not deleted; holds a share lock so the
/// archive cannot be deleted under the transaction being recorded.
pub async fn lock_live_customer(
    tx: &mut PgConnection,
    customer_id: Uuid,
) -> Result<bool, ServiceError> {
    Ok(sqlx::query_scalar::<_, i32>(
        "SELECT 1 FROM customers WHERE id = $1 AND deleted_at IS NULL FOR SHARE",
    )
    .bind(customer_id)
    .fetch_optional(&mut *tx)
    .await?
    .is_some())
}

/// A customer locked for a write of theirs, with what the caller's reach
/// is decided by.
pub struct LockedCustomer {
    /// When they left the programme.
    pub exited_at: Option<DateTime<Utc>>,
    /// Their unit's path (unit ids from the company down).
    pub unit_path: Vec<String>,
    pub account_manager: String,
}

/// Locks customers who have not been deleted, as [`lock_live_customer`]
/// does, and reads their placements in the same statement, so a write
/// checks the caller's reach against what it holds locked without a read of
/// its own. One statement for all of them, each locked in id order (so two
/// writers of overlapping customers never wait on each other in a cycle);
/// the customers found, by id.
pub async fn lock_live_customers_placed(
    tx: &mut PgConnection,
    customer_ids: &[Uuid],
) -> Result<std::collections::HashMap<Uuid, LockedCustomer>, ServiceError> {
    /// Id, exit, unit path, account manager.
    type Placed = (Uuid, Option<DateTime<Utc>>, Option<String>, String);
    let rows: Vec<Placed> = sqlx::query_as(
        "SELECT c.id, c.exited_at, u.path, c.account_manager
           FROM customers c LEFT JOIN org_units u ON u.id = c.org_unit_id
          WHERE c.id = ANY($1) AND c.deleted_at IS NULL
          ORDER BY c.id
            FOR SHARE OF c",
    )
    .bind(customer_ids)
    .fetch_all(&mut *tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, exited_at, path, account_manager)| {
            let locked = LockedCustomer {
                exited_at,
                unit_path: unit_path_ids(path.as_deref()),
                account_manager,
            };
            (id, locked)
        })
        .collect())
}

/// The unit ids of a stored unit path (none when the customer has no unit).
fn unit_path_ids(path: Option<&str>) -> Vec<String> {
    path.map_or_else(Vec::new, |p| {
        crate::domain::organisation::path_ids(p)
            .into_iter()
            .map(str::to_owned)
            .collect()
    })
}

/// Replaces a locked archive's facts and bumps its version.
pub async fn update(
    tx: &mut PgConnection,
    id: Uuid,
    customer: &ValidCustomer,
    org_unit_id: &str,
    profile: &serde_json::Value,
    sealed: &Sealed,
    change: Change<'_>,
) -> Result<CustomerRow, ServiceError> {
    Ok(
        sqlx::query_as::<_, CustomerRow>(sqlx::AssertSqlSafe(format!(
            "UPDATE customers
            SET display_name = $2, org_unit_id = $3, profile = $4,
                sensitive = $5, phone_index = $6, id_card_index = $7,
                version = version + 1, updated_at = $8, updated_by = $9
          WHERE id = $1
         RETURNING {COLUMNS}"
        )))
        .bind(id)
        .bind(customer.display_name.as_str())
        .bind(org_unit_id)
        .bind(profile)
        .bind(&sealed.sensitive)
        .bind(&sealed.phone_index)
        .bind(&sealed.id_card_index)
        .bind(change.at)
        .bind(change.actor)
        .fetch_one(&mut *tx)
        .await?,
    )
}

/// Sets a locked archive's manager and bumps its version.
pub async fn set_manager(
    tx: &mut PgConnection,
    id: Uuid,
    manager: &str,
    change: Change<'_>,
) -> Result<CustomerRow, ServiceError> {
    Ok(sqlx::query_as::<_, CustomerRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE customers SET account_manager = $2, version = version + 1, updated_at = $3, updated_by = $4
          WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(manager)
    .bind(change.at)
    .bind(change.actor)
    .fetch_one(&mut *tx)
    .await?)
}

/// Records a locked archive's exit and bumps its version.
pub async fn set_exit(
    tx: &mut PgConnection,
    id: Uuid,
    exit: &Exit,
    change: Change<'_>,
) -> Result<CustomerRow, ServiceError> {
    Ok(sqlx::query_as::<_, CustomerRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE customers SET exit_kind = $2, exit_reason = $3, exit_reference = $4, exited_at = $5, exited_by = $6,
                version = version + 1, updated_at = $5, updated_by = $6
          WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(exit.kind.code())
    .bind(&exit.reason)
    .bind(&exit.written_request_reference)
    .bind(change.at)
    .bind(change.actor)
    .fetch_one(&mut *tx)
    .await?)
}

/// Where an archive sits (its unit's path: unit ids from the company down),
/// who manages it, and whether it was deleted, to authorise a call on it.
pub async fn placement_of(
    pool: &PgPool,
    id: Uuid,
) -> Result<Option<(Vec<String>, String, bool)>, ServiceError> {
    let row: Option<(Option<String>, String, bool)> = sqlx::query_as(
        "SELECT u.path, c.account_manager, c.deleted_at IS NOT NULL
           FROM customers c LEFT JOIN org_units u ON u.id = c.org_unit_id
          WHERE c.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(path, manager, deleted)| (unit_path_ids(path.as_deref()), manager, deleted)))
}

/// Records a review of a locked archive and bumps its version.
pub async fn mark_reviewed(
    tx: &mut PgConnection,
    id: Uuid,
    change: Change<'_>,
) -> Result<CustomerRow, ServiceError> {
    Ok(sqlx::query_as::<_, CustomerRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE customers SET last_reviewed_at = $2, version = version + 1, updated_at = $2, updated_by = $3
          WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(change.at)
    .bind(change.actor)
    .fetch_one(&mut *tx)
    .await?)
}

/// Live archives last reviewed (or created, if never reviewed) before
/// `cutoff`, longest overdue first, after the keyset cursor.
pub async fn list_due_for_review(
    pool: &PgPool,
    cutoff: DateTime<Utc>,
    account_manager: Option<&str>,
    reach: &ReachFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<CustomerRow>, ServiceError> {
    // Only the conditions asked for, as in `list_statement`.
    let mut q = QueryBuilder::new(format!(
        "SELECT {COLUMNS} FROM customers
          WHERE deleted_at IS NULL AND exited_at IS NULL
            AND COALESCE(last_reviewed_at, created_at) < "
    ));
    q.push_bind(cutoff);
    if let Some(manager) = account_manager {
        q.push(" AND account_manager = ")
            .push_bind(manager.to_owned());
    }
    if let Some((time, id)) = after {
        q.push(" AND (COALESCE(last_reviewed_at, created_at), id) > (")
            .push_bind(time)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    push_reach(&mut q, reach);
    q.push(" ORDER BY COALESCE(last_reviewed_at, created_at), id LIMIT ")
        .push_bind(limit);
    Ok(q.build_query_as::<CustomerRow>().fetch_all(pool).await?)
}

/// Hides a locked archive; its number stays taken.
pub async fn mark_deleted(
    tx: &mut PgConnection,
    id: Uuid,
    change: Change<'_>,
) -> Result<(), ServiceError> {
    sqlx::query("UPDATE customers SET deleted_at = $2, deleted_by = $3, version = version + 1 WHERE id = $1")
        .bind(id)
        .bind(change.at)
        .bind(change.actor)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// The sealed parts of those of `ids` that are live customers, in one
/// statement (a group of reads in the clear).
pub async fn sensitive_of_many(
    conn: &mut PgConnection,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, Vec<u8>)>, ServiceError> {
    Ok(sqlx::query_as(
        "SELECT id, sensitive FROM customers
          WHERE id = ANY($1) AND deleted_at IS NULL AND sensitive IS NOT NULL",
    )
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?)
}

/// Archives written before sealing existed (at most `limit`), locked.
pub async fn lock_unsealed(
    tx: &mut PgConnection,
    limit: i64,
) -> Result<Vec<CustomerRow>, ServiceError> {
    Ok(sqlx::query_as::<_, CustomerRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM customers WHERE sensitive IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
    )))
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?)
}

/// Stores a legacy row's readable record and its sealed part, version unchanged.
pub async fn store_sealed(
    tx: &mut PgConnection,
    id: Uuid,
    profile: &serde_json::Value,
    sealed: &Sealed,
) -> Result<(), ServiceError> {
    sqlx::query("UPDATE customers SET profile = $2, sensitive = $3, phone_index = $4, id_card_index = $5 WHERE id = $1")
        .bind(id)
        .bind(profile)
        .bind(&sealed.sensitive)
        .bind(&sealed.phone_index)
        .bind(&sealed.id_card_index)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// What a list is narrowed by; empty fields do not narrow.
#[derive(Debug, Default, Clone)]
pub struct CustomerFilter {
    pub archive_number: Option<String>,
    pub display_name_contains: Option<String>,
    /// Blind index of an exact phone number.
    pub phone_index: Option<String>,
    /// Blind index of an exact ID-card number.
    pub id_card_index: Option<String>,
    pub account_manager: Option<String>,
    /// Only customers of these units (a subtree the caller named).
    pub within_units: Option<Vec<String>>,
}

/// The customers a caller may see, as a list narrows by it: those of
/// `units` or managed by `manager`; everyone when `units` is `None`.
#[derive(Debug, Default, Clone)]
pub struct ReachFilter {
    pub units: Option<Vec<String>>,
    pub manager: Option<String>,
}

/// Live archives matching `filter`, newest first, after the keyset cursor.
pub async fn list(
    pool: &PgPool,
    filter: &CustomerFilter,
    reach: &ReachFilter,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<CustomerRow>, ServiceError> {
    Ok(list_statement(filter, reach, after, limit)
        .build_query_as::<CustomerRow>()
        .fetch_all(pool)
        .await?)
}

/// The statement `list` runs (public so a test can read its plan). It holds
/// a condition for each filter given and none for the others: a catch-all
/// `($n IS NULL OR col = $n)` leaves a generic plan (the one a prepared
/// statement settles on) no index to use for any of them.
pub fn list_statement(
    filter: &CustomerFilter,
    reach: &ReachFilter,
    after: Option<Uuid>,
    limit: i64,
) -> QueryBuilder<Postgres> {
    let mut q = QueryBuilder::new(format!(
        "SELECT {COLUMNS} FROM customers WHERE deleted_at IS NULL"
    ));
    if let Some(after) = after {
        q.push(" AND id < ").push_bind(after);
    }
    if let Some(number) = &filter.archive_number {
        q.push(" AND archive_number = ").push_bind(number.clone());
    }
    if let Some(name) = &filter.display_name_contains {
        let pattern = format!("%{}%", escape_like(&name.to_lowercase()));
        q.push(" AND lower(display_name) LIKE ")
            .push_bind(pattern)
            .push(" ESCAPE '\\'");
    }
    if let Some(phone) = &filter.phone_index {
        q.push(" AND phone_index @> ARRAY[")
            .push_bind(phone.clone())
            .push("]");
    }
    if let Some(manager) = &filter.account_manager {
        q.push(" AND account_manager = ").push_bind(manager.clone());
    }
    if let Some(card) = &filter.id_card_index {
        q.push(" AND id_card_index = ").push_bind(card.clone());
    }
    if let Some(units) = &filter.within_units {
        q.push(" AND org_unit_id = ANY(")
            .push_bind(units.clone())
            .push(")");
    }
    push_reach(&mut q, reach);
    q.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
    q
}

/// Narrows a statement on `customers` to what `reach` lets its caller see:
/// nothing added for a caller who sees everyone.
fn push_reach(q: &mut QueryBuilder<Postgres>, reach: &ReachFilter) {
    let Some(units) = &reach.units else {
        return;
    };
    q.push(" AND (org_unit_id = ANY(")
        .push_bind(units.clone())
        .push(")");
    if let Some(manager) = reach.manager.as_ref().filter(|m| !m.is_empty()) {
        q.push(" OR account_manager = ").push_bind(manager.clone());
    }
    q.push(")");
}

/// Escapes LIKE's wildcards so user text matches literally.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("王丽"), "王丽");
    }
}
