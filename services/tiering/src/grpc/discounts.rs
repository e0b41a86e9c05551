//! Discount eligibility over the API: what a till or a portal asks before it
//! prices a purchase. The rules are in `domain::discounts`.

use chrono::NaiveDate;
use patron_kit::auth;
use patron_kit::{ServiceError, clock};
use patron_proto::tiering::v1 as pb;
use patron_vocab::roles::Permission;
use tonic::Request;

use super::{TieringApi, parse_customer_child};
use crate::access;
use crate::domain::discounts::{self, CardHeld, Discount, DiscountFacts};
use crate::ledger::date;
use crate::store::{self, cards};

const SUFFIX: &str = "discountEligibility";

fn discount_view(d: &Discount) -> pb::Discount {
    pb::Discount {
        eligible: d.eligible,
        percent_of_price: d.percent_of_price as i32,
        reason: d.reason.clone(),
        conditions: d.conditions.clone(),
    }
}

impl TieringApi {
    /// GetDiscountEligibility.
    pub(super) async fn discount_eligibility(
        &self,
        request: Request<pb::GetDiscountEligibilityRequest>,
    ) -> Result<pb::DiscountEligibility, ServiceError> {
        let caller = auth::caller(&request)?;
        caller.require(Permission::ReadCustomers)?;
        let req = request.get_ref();
        let customer = parse_customer_child("name", &req.name, SUFFIX)?;
        let day = match &req.date {
            None => clock::today(self.engine.clock.as_ref(), self.engine.zone),
            Some(d) => u32::try_from(d.month)
                .ok()
                .zip(u32::try_from(d.day).ok())
                .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
                .filter(|_| d.year > 0)
                .ok_or_else(|| ServiceError::invalid("date", "must be a full calendar date"))?,
        };
        let mut conn = self.pool.acquire().await?;
        let facts =
            access::require_customer(&self.engine.reach, &mut conn, &caller, customer).await?;
        let Some((_, policy)) = self.engine.active(&mut conn).await? else {
            return Err(ServiceError::FailedPrecondition(
                "no tier policy is active yet".into(),
            ));
        };
        let tier_code = store::assignment(&mut conn, customer)
            .await?
            .and_then(|a| a.tier);
        let card = cards::live_card(&mut conn, customer).await?;
        let held = match &card {
            Some(c) if c.valid_through < day => CardHeld::None,
            Some(c) if c.status == cards::REGISTERED => CardHeld::FormalVip,
            Some(c) => CardHeld::DiscountCard {
                register_by: c.register_by,
            },
            None => CardHeld::None,
        };
        let facts = DiscountFacts {
            tier: tier_code.as_deref().and_then(|code| policy.tier(code)),
            scheme_has_cards: policy.points.is_some(),
            card: held,
            birthday: facts.birthday(),
            day,
        };
        let member = discounts::member(&facts);
        let birthday = discounts::birthday(&facts);
        Ok(pb::DiscountEligibility {
            name: req.name.clone(),
            date: Some(date(day)),
            tier_code: tier_code.unwrap_or_default(),
            card: card
                .map(|c| format!("cards/{}", c.number))
                .unwrap_or_default(),
            best_percent_of_price: discounts::best_percent(&[&member, &birthday]) as i32,
            member_discount: Some(discount_view(&member)),
            birthday_discount: Some(discount_view(&birthday)),
        })
    }
}
