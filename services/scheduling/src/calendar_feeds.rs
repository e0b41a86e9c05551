//! Each staff member's calendar feed behind a secret link: made by the
//! staff member or a supervisor over their unit, shown once (only the
//! secret's SHA-256 is kept), revoked at will; rendered as iCalendar for
//! whoever presents a live secret (`domain::calendar_feed` decides what it
//! shows, `domain::icalendar` writes it).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Days;
use patron_kit::ServiceError;
use patron_kit::auth::Caller;
use patron_kit::directory;
use patron_vocab::roles::Permission;
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::domain::activities::ActivityKind;
use crate::domain::calendar_feed::{self, FeedActivity, FeedLeave, FeedTask};
use crate::generation_job::staff_name;
use crate::scheduling::Scheduling;
use crate::store::feeds::{self, FeedRow};

/// Random octets in a secret: 256 bits, far past guessing.
const SECRET_OCTETS: usize = 32;

/// How far back the feed shows leaves and activities already over.
const PAST_DAYS: u64 = 31;

/// A new secret and the hash kept of it.
fn new_secret() -> (String, Vec<u8>) {
    let mut octets = [0u8; SECRET_OCTETS];
    rand::rng().fill_bytes(&mut octets);
    let secret = URL_SAFE_NO_PAD.encode(octets);
    let hash = secret_hash(&secret);
    (secret, hash)
}

fn secret_hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// Whether `text` has the shape of a secret this service makes.
pub fn looks_like_secret(text: &str) -> bool {
    text.len() == URL_SAFE_NO_PAD.encode([0u8; SECRET_OCTETS]).len()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The feed's URL under the gateway's public address.
pub fn feed_url(public_url: &str, secret: &str) -> String {
    format!("{}/calendar/{secret}.ics", public_url.trim_end_matches('/'))
}

/// `staff/{id}/calendarFeed`.
pub fn feed_name(staff: &str) -> String {
    format!("staff/{staff}/calendarFeed")
}

impl Scheduling {
    /// The caller may act for `staff`'s feed: it is theirs, or they manage
    /// staff (a supervisor) and `staff` sits in their unit's subtree.
    async fn may_act_for(
        &self,
        conn: &mut PgConnection,
        caller: &Caller,
        staff: &str,
    ) -> Result<(), ServiceError> {
        if caller.subject == staff {
            return Ok(());
        }
        if !caller.can(Permission::AssignManagers) {
            return Err(ServiceError::PermissionDenied(
                "only the staff member or a supervisor over their unit may see to their calendar link"
                    .into(),
            ));
        }
        let placement = directory::store::staff_placement(&mut *conn, staff).await?;
        let reach = self.reach.reach_of(&mut *conn, caller).await?;
        match placement {
            Some(p) if reach.covers_unit(&p.unit_path) => Ok(()),
            _ => Err(ServiceError::not_found(feed_name(staff))),
        }
    }

    /// Makes `staff`'s link, revoking any earlier one; the row and the
    /// secret (never stored).
    pub async fn create_feed(
        &self,
        caller: &Caller,
        staff: &str,
    ) -> Result<(FeedRow, String), ServiceError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        self.may_act_for(&mut tx, caller, staff).await?;
        feeds::lock_staff(&mut tx, staff).await?;
        feeds::revoke_live(&mut tx, staff, &caller.subject, now).await?;
        let (secret, hash) = new_secret();
        let row = FeedRow {
            id: patron_kit::resource_name::new_id(),
            staff_member: staff.to_owned(),
            created_by: caller.subject.clone(),
            created_at: now,
            revoked_by: None,
            revoked_at: None,
        };
        feeds::insert(&mut tx, &row, &hash).await?;
        tx.commit().await?;
        Ok((row, secret))
    }

    /// `staff`'s live link, else their last revoked one.
    pub async fn feed(&self, caller: &Caller, staff: &str) -> Result<FeedRow, ServiceError> {
        let mut conn = self.pool.acquire().await?;
        self.may_act_for(&mut conn, caller, staff).await?;
        feeds::latest_of(&mut conn, staff)
            .await?
            .ok_or_else(|| ServiceError::not_found(feed_name(staff)))
    }

    /// Revokes `staff`'s live link; NOT_FOUND when there is none.
    pub async fn revoke_feed(&self, caller: &Caller, staff: &str) -> Result<FeedRow, ServiceError> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        self.may_act_for(&mut tx, caller, staff).await?;
        feeds::lock_staff(&mut tx, staff).await?;
        let row = feeds::revoke_live(&mut tx, staff, &caller.subject, now)
            .await?
            .ok_or_else(|| ServiceError::not_found(feed_name(staff)))?;
        tx.commit().await?;
        Ok(row)
    }

    /// The iCalendar text of the live feed whose secret is `secret`;
    /// NOT_FOUND for any other text.
    pub async fn render_feed(&self, secret: &str) -> Result<String, ServiceError> {
        let unknown = || ServiceError::not_found("calendar feed");
        if !looks_like_secret(secret) {
            return Err(unknown());
        }
        let mut conn = self.pool.acquire().await?;
        let feed = feeds::live_by_secret(&mut conn, &secret_hash(secret))
            .await?
            .ok_or_else(unknown)?;
        let staff = feed.staff_member.as_str();
        let now = self.clock.now();
        let today = self.today();
        let tasks: Vec<FeedTask> = feeds::open_tasks_of(&mut conn, staff)
            .await?
            .into_iter()
            .map(|t| FeedTask {
                id: t.id.to_string(),
                kind: t.kind,
                customer: patron_kit::resource_name::format("customers", t.customer_id),
                tier: t.tier,
                channel: t.channel,
                role: t.role,
                rule: t.rule,
                due: t.due_date,
                latest: t.latest_date,
                snooze_reason: t.snooze_reason,
                version: t.version,
                escalated_from: (t.assignee != staff).then(|| staff_name(&t.assignee)),
                covering_for: t
                    .handed_over_from
                    .filter(|_| t.assignee == staff)
                    .map(|from| staff_name(&from)),
            })
            .collect();
        let since = today
            .checked_sub_days(Days::new(PAST_DAYS))
            .unwrap_or(today);
        let leaves: Vec<FeedLeave> = feeds::leaves_of(&mut conn, staff, since)
            .await?
            .into_iter()
            .map(|l| FeedLeave {
                id: l.id.to_string(),
                staff_member: staff_name(&l.staff_member),
                stand_in: staff_name(&l.stand_in),
                first: l.start_date,
                last: l.end_date,
            })
            .collect();
        let from = now - chrono::Duration::days(PAST_DAYS as i64);
        let activities: Vec<FeedActivity> = feeds::activities_of(&mut conn, staff, from)
            .await?
            .into_iter()
            .filter_map(|a| {
                Some(FeedActivity {
                    id: a.id.to_string(),
                    title: a.title,
                    kind: ActivityKind::parse(&a.kind)?,
                    start: a.starts_at,
                    end: a.ends_at,
                    location: a.location,
                    description: a.description,
                    invited: u64::try_from(a.invited).unwrap_or(0),
                })
            })
            .collect();
        let calendar =
            calendar_feed::calendar(&staff_name(staff), today, &tasks, &leaves, &activities);
        Ok(calendar.render(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_recognised() {
        let (a, hash_a) = new_secret();
        let (b, _) = new_secret();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(looks_like_secret(&a) && looks_like_secret(&b));
        assert_eq!(hash_a, secret_hash(&a));
        assert_eq!(hash_a.len(), 32);
        assert!(!looks_like_secret(&a[1..]));
        assert!(!looks_like_secret(&format!("{}=", &a[1..])));
        assert!(!looks_like_secret(""));
    }

    #[test]
    fn the_url_sits_under_the_public_address() {
        assert_eq!(
            feed_url("https://patron.example.com/", "abc"),
            "https://patron.example.com/calendar/abc.ics"
        );
        assert_eq!(feed_name("li.na"), "staff/li.na/calendarFeed");
    }
}
