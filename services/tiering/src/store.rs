//! Tiering's SQL: policy versions, daily figures, standings, assignments and
//! their history. Transactions are opened by the caller.
//!
//! # Lock order
//!
//! Every transaction takes its locks in this order, and never the other way
//! round, so no two of them (event consumers, the sweep, API calls, replicas
//! of each) can wait on each other in a circle:
//!
//! 1. a policy's lock (`lock_policy`), then the activation lock
//!    (`lock_activation`);
//! 2. the per-customer locks (`lock_customers`: `tier:<id>`), all the
//!    customers of the transaction at once, in customer-id order, before
//!    any row of theirs is written;
//! 3. a points account's lock (`cards::lock_account`), one customer after
//!    another in customer-id order;
//! 4. row locks (upserts, updates, `FOR UPDATE`), a batch's rows in key
//!    order (`day_totals` sorts daily figures by customer and day).
//!
//! Work claimed with `FOR UPDATE SKIP LOCKED` (the sweep's assignments, the
//! expiry's point lots) holds row locks before a customer's or account's
//! lock; such a claim only ever *tries* the later lock (`try_lock_customers`,
//! `cards::try_lock_account`) and skips what another holds, so it never
//! waits and cannot close a circle.

use patron_kit::ServiceError;
use sqlx::PgConnection;
use uuid::Uuid;

mod assignments;
pub mod cards;
mod changes;
mod churn;
mod complaints;
mod figures;
mod policies;
pub mod purchases;
mod rankings;
mod standings;

pub use assignments::{
    AssignmentRow, assignment, assignments_of, confirm_assignments, holders_by_tier,
    list_churn_risks, list_pending, lock_customers, put_assignments, try_lock_customers,
};
pub use changes::{ChangeRow, insert_changes, list_changes};
pub use churn::{churn_counts, record_churned};
pub use complaints::{ComplaintRows, complaints_of, record_complaint, record_score};
pub use figures::{DayEntry, DayTotals, add_to_days, day_totals, figures_of};
pub use patron_kit::directory::Visibility;
pub use policies::{
    PolicyRow, activate, active_policy, insert_policy, latest_policies, lock_activation,
    lock_policy, policy,
};
pub use rankings::{SpendRanking, rank_by_spend};
pub use standings::{StandingRow, put_standing, standings_of};

/// Takes a deleted archive out of what tiering works on: the sweep, rankings,
/// pending-downgrade and churn lists read these rows (and its complaints).
/// Its tier history stays.
pub async fn forget_customer(tx: &mut PgConnection, customer_id: Uuid) -> Result<(), ServiceError> {
    for table in [
        "assignments",
        "daily_figures",
        "purchase_amounts",
        "standings",
        "complaints_received",
        "complaint_scores",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE customer_id = $1"
        )))
        .bind(customer_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
