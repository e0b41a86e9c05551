//! The calendar feed RPCs: making, reading and revoking a staff member's
//! secret link (SchedulingService, behind token verification), and
//! rendering a feed for whoever presents its secret (CalendarFeedService,
//! which the gateway's `/calendar/{secret}.ics` route calls with no token:
//! a calendar application polling the URL has none).

use patron_kit::auth;
use patron_kit::{ServiceError, timestamp};
use patron_proto::scheduling::v1 as pb;
use patron_proto::scheduling::v1::calendar_feed_service_server::CalendarFeedService;
use patron_vocab::roles::Permission;
use tonic::{Request, Response, Status};

use super::{SchedulingApi, staff_id};
use crate::calendar_feeds::{feed_name, feed_url};
use crate::generation_job::staff_name;
use crate::scheduling::Scheduling;
use crate::store::feeds::FeedRow;

/// `staff/{id}/calendarFeed` → id.
fn feed_staff(field: &str, name: &str) -> Result<String, ServiceError> {
    let staff = name.strip_suffix("/calendarFeed").ok_or_else(|| {
        ServiceError::invalid(field, "must be of the form staff/{id}/calendarFeed")
    })?;
    staff_id(field, staff)
        .map_err(|_| ServiceError::invalid(field, "must be of the form staff/{id}/calendarFeed"))
}

fn feed_view(row: &FeedRow, url: String) -> pb::CalendarFeed {
    pb::CalendarFeed {
        name: feed_name(&row.staff_member),
        url,
        create_time: Some(timestamp::to_proto(row.created_at)),
        revoke_time: row.revoked_at.map(timestamp::to_proto),
        created_by: staff_name(&row.created_by),
    }
}

impl SchedulingApi {
    pub(super) async fn create_calendar_feed_call(
        &self,
        request: Request<pb::CreateCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let staff = staff_id("parent", &request.get_ref().parent)?;
        let (row, secret) = self.scheduling.create_feed(&caller, &staff).await?;
        Ok(Response::new(feed_view(
            &row,
            feed_url(&self.public_url, &secret),
        )))
    }

    pub(super) async fn get_calendar_feed_call(
        &self,
        request: Request<pb::GetCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let staff = feed_staff("name", &request.get_ref().name)?;
        let row = self.scheduling.feed(&caller, &staff).await?;
        Ok(Response::new(feed_view(&row, String::new())))
    }

    pub(super) async fn revoke_calendar_feed_call(
        &self,
        request: Request<pb::RevokeCalendarFeedRequest>,
    ) -> Result<Response<pb::CalendarFeed>, Status> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let staff = feed_staff("name", &request.get_ref().name)?;
        let row = self.scheduling.revoke_feed(&caller, &staff).await?;
        Ok(Response::new(feed_view(&row, String::new())))
    }
}

/// Renders feeds for the gateway; not behind token verification (see the
/// module's head).
#[derive(Clone)]
pub struct CalendarFeedApi {
    pub scheduling: Scheduling,
}

#[tonic::async_trait]
impl CalendarFeedService for CalendarFeedApi {
    async fn render_calendar_feed(
        &self,
        request: Request<pb::RenderCalendarFeedRequest>,
    ) -> Result<Response<pb::RenderedCalendarFeed>, Status> {
        let text = self
            .scheduling
            .render_feed(&request.get_ref().secret)
            .await?;
        Ok(Response::new(pb::RenderedCalendarFeed { text }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_names_read_back_and_bad_ones_are_refused() {
        assert_eq!(
            feed_staff("name", "staff/li.na/calendarFeed").unwrap(),
            "li.na"
        );
        for bad in [
            "staff/li.na",
            "staff//calendarFeed",
            "staff/a/b/calendarFeed",
            "li.na/calendarFeed",
        ] {
            assert!(feed_staff("name", bad).is_err(), "{bad}");
        }
    }
}
