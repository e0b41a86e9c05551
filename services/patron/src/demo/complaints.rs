//! Complaints (the complaint service): a desk per region receives them, and
//! each is taken as far along the workflow as its scenario says, so every
//! state has complaints in it.

use std::collections::BTreeMap;
use std::time::Duration;

use patron_proto::common::v1::Money;
use patron_proto::complaint::v1 as pb;
use patron_proto::complaint::v1::complaint_service_client::ComplaintServiceClient;
use tonic::Code;
use tonic::transport::Channel;

use super::Target;
use super::calls::retrying;
use super::calls::{ADMIN, Actor, once_settled, refused};
use super::plan::{self, Customer, Duty, Scenario};

/// How long a just-created staff member or customer may take to reach the
/// complaint service through the event streams.
const SETTLING: Duration = Duration::from_secs(60);

/// Names each region's desk the handler of its new complaints.
pub async fn set_desks(target: &Target) -> anyhow::Result<usize> {
    let client = ComplaintServiceClient::new(target.complaint.clone());
    let desks: Vec<_> = plan::staff()
        .into_iter()
        .filter(|s| s.duty == Duty::ComplaintDesk)
        .collect();
    for desk in &desks {
        let message = pb::SetUnitHandlerRequest {
            org_unit: format!("orgUnits/{}", desk.unit),
            handler: format!("staff/{}", desk.id),
        };
        once_settled(
            format!("make {} the handler of {}", desk.id, desk.unit),
            &[Code::NotFound],
            SETTLING,
            || {
                let mut client = client.clone();
                let request = target.signed(ADMIN, message.clone());
                async move { client.set_unit_handler(request).await }
            },
        )
        .await?;
    }
    Ok(desks.len())
}

/// What filing the complaints left.
#[derive(Debug, Clone, Default)]
pub struct Filed {
    /// How many are in each state, by the state's name as the API spells
    /// it (`awaiting_sign_off`).
    pub by_state: BTreeMap<String, usize>,
    /// Reopened after closing (back at accepted).
    pub reopened: usize,
    /// Their clock stopped, waiting on the customer.
    pub paused: usize,
    /// Repeating an earlier complaint within the policy's window.
    pub repeats: usize,
}

/// The words of the policy the complaints follow.
pub struct Wording<'a> {
    pub currency: &'a str,
    pub root_causes: &'a [String],
}

/// Files the complaints and moves each as far as its scenario says.
pub async fn file(
    target: &Target,
    planned: &[plan::Complaint],
    customers: &[(Customer, String)],
    wording: &Wording<'_>,
) -> anyhow::Result<Filed> {
    let client = ComplaintServiceClient::new(target.complaint.clone());
    let mut filed_all = Filed::default();
    for (i, complaint) in planned.iter().enumerate() {
        let (customer, name) = &customers[complaint.customer];
        let desk = format!("desk-{}", plan::region_of(customer.branch));
        let filed = receive(target, &client, complaint, name, &desk).await?;
        let handler = filed
            .handler
            .strip_prefix("staff/")
            .unwrap_or(&desk)
            .to_owned();
        let root_cause = &wording.root_causes[i % wording.root_causes.len()];
        let mut flow = Flow {
            target,
            client: client.clone(),
            name: filed.name.clone(),
            what: format!(
                "complaint {} ({})",
                filed.complaint_number,
                complaint.scenario.label()
            ),
            handler: Actor {
                subject: &handler,
                role: Duty::ComplaintDesk.token_role(),
            },
            current: filed,
        };
        flow.play(complaint, root_cause, wording.currency).await?;
        let state = pb::ComplaintState::try_from(flow.current.state)
            .map(|s| {
                s.as_str_name()
                    .trim_start_matches("COMPLAINT_STATE_")
                    .to_lowercase()
            })
            .unwrap_or_default();
        *filed_all.by_state.entry(state).or_insert(0) += 1;
        filed_all.reopened += usize::from(flow.current.reopen_count > 0);
        filed_all.paused += usize::from(!flow.current.paused_reason.is_empty());
        filed_all.repeats += usize::from(!flow.current.repeat_of.is_empty());
    }
    Ok(filed_all)
}

async fn receive(
    target: &Target,
    client: &ComplaintServiceClient<Channel>,
    complaint: &plan::Complaint,
    customer: &str,
    desk: &str,
) -> anyhow::Result<pb::Complaint> {
    let message = pb::CreateComplaintRequest {
        complaint: Some(pb::Complaint {
            customer: customer.to_owned(),
            description: complaint.description.into(),
            channel: pb::ComplaintChannel::Hotline as i32,
            item: complaint.item.into(),
            demand: if complaint.repeat {
                pb::CustomerDemand::Compensation
            } else {
                pb::CustomerDemand::Other
            } as i32,
            reason: complaint.reason.into(),
            ..Default::default()
        }),
        request_id: complaint.request_id.to_string(),
    };
    let actor = Actor {
        subject: desk,
        role: Duty::ComplaintDesk.token_role(),
    };
    // The desk reaches its region's customers once the complaint service
    // has heard where the desk and the customer sit.
    once_settled(
        format!("receive a complaint of {customer}"),
        &[Code::NotFound],
        SETTLING,
        || {
            let mut client = client.clone();
            let request = target.signed(actor, message.clone());
            async move { client.create_complaint(request).await }
        },
    )
    .await
}

/// One complaint on its way through the workflow.
struct Flow<'a> {
    target: &'a Target,
    client: ComplaintServiceClient<Channel>,
    name: String,
    what: String,
    handler: Actor<'a>,
    current: pb::Complaint,
}

impl Flow<'_> {
    async fn play(
        &mut self,
        complaint: &plan::Complaint,
        root_cause: &str,
        currency: &str,
    ) -> anyhow::Result<()> {
        use Scenario::*;
        let s = complaint.scenario;
        if s == Received {
            return Ok(());
        }
        self.advance(pb::ComplaintMove::Accept, Step::default())
            .await?;
        if s == Accepted {
            return Ok(());
        }
        if s == NotValid {
            let note = "经核实，问题系客户使用不当所致";
            return self
                .advance(pb::ComplaintMove::FindNotValid, Step::note(note))
                .await;
        }
        let investigation = pb::Investigation {
            cause: format!("{}：{}", complaint.item, complaint.description),
            responsible_department: "客户服务部".into(),
            responsible_person: self.handler.subject.into(),
        };
        self.advance(
            pb::ComplaintMove::Investigate,
            Step {
                investigation: Some(investigation),
                ..Step::default()
            },
        )
        .await?;
        if s == Investigating {
            return Ok(());
        }
        if s == Paused {
            return self.pause("等待客户提供照片和订单凭证").await;
        }
        // A loss above the desk's authority waits for the supervisor's
        // sign-off; the closed ones went through it.
        let loss_yuan = if matches!(s, AwaitingSignOff | Closed) {
            5_000
        } else {
            200
        };
        let resolution = pb::Resolution {
            action: "向客户致歉并补发商品".into(),
            loss_amount: Some(Money {
                currency_code: currency.into(),
                amount_minor: loss_yuan * 100,
            }),
            penalty: "通报批评".into(),
            root_cause: root_cause.into(),
            prevention: "加强出库检查".into(),
        };
        self.advance(
            pb::ComplaintMove::Resolve,
            Step {
                resolution: Some(resolution),
                ..Step::default()
            },
        )
        .await?;
        if s == AwaitingSignOff {
            return self.expect_state(pb::ComplaintState::AwaitingSignOff);
        }
        if s == Closed {
            self.expect_state(pb::ComplaintState::AwaitingSignOff)?;
            let supervisor = Actor {
                subject: "supervisor",
                role: Duty::Supervisor.token_role(),
            };
            self.advance_as(
                supervisor,
                pb::ComplaintMove::SignOff,
                Step::note("同意赔付"),
            )
            .await?;
        }
        if s == Resolved {
            return Ok(());
        }
        self.advance(
            pb::ComplaintMove::GiveFeedback,
            Step::note("已电话告知客户处理结果"),
        )
        .await?;
        if s == FeedbackGiven {
            return Ok(());
        }
        self.advance(pb::ComplaintMove::Close, Step::default())
            .await?;
        if s == Closed {
            return self.survey(complaint.survey_score).await;
        }
        // Reopened: the customer came back within the window.
        self.advance(
            pb::ComplaintMove::Reopen,
            Step::note("客户反映问题再次出现"),
        )
        .await
    }

    fn expect_state(&self, state: pb::ComplaintState) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.current.state == state as i32,
            "{} is {:?}, expected {:?}",
            self.what,
            pb::ComplaintState::try_from(self.current.state),
            state
        );
        Ok(())
    }

    async fn advance(&mut self, to: pb::ComplaintMove, step: Step) -> anyhow::Result<()> {
        self.advance_as(self.handler, to, step).await
    }

    async fn advance_as(
        &mut self,
        actor: Actor<'_>,
        to: pb::ComplaintMove,
        step: Step,
    ) -> anyhow::Result<()> {
        let mut message = pb::AdvanceComplaintRequest {
            name: self.name.clone(),
            r#move: to as i32,
            note: step.note.into(),
            investigation: step.investigation,
            resolution: step.resolution,
            etag: self.current.etag.clone(),
        };
        for attempt in 1.. {
            match retrying!(
                self.client,
                advance_complaint,
                self.target,
                actor,
                message.clone()
            ) {
                Ok(answer) => {
                    self.current = answer.into_inner();
                    return Ok(());
                }
                // The deadline job wrote a warning in between: read the
                // complaint again and make the move on what it is now.
                Err(status) if status.code() == Code::Aborted && attempt < 5 => {
                    self.reread().await?;
                    message.etag = self.current.etag.clone();
                }
                Err(status) => {
                    return Err(refused(
                        format!("{} {}", to.as_str_name(), self.what),
                        status,
                    ));
                }
            }
        }
        unreachable!("the loop returns")
    }

    async fn reread(&mut self) -> anyhow::Result<()> {
        let message = pb::GetComplaintRequest {
            name: self.name.clone(),
        };
        self.current = retrying!(
            self.client,
            get_complaint,
            self.target,
            self.handler,
            message
        )
        .map_err(|s| refused(format!("read {}", self.what), s))?
        .into_inner();
        Ok(())
    }

    async fn pause(&mut self, reason: &str) -> anyhow::Result<()> {
        let message = pb::PauseComplaintRequest {
            name: self.name.clone(),
            reason: reason.into(),
            // No etag: only the deadline job writes beside the demo, and
            // its warnings do not change what a pause means.
            etag: String::new(),
        };
        self.current = retrying!(
            self.client,
            pause_complaint,
            self.target,
            self.handler,
            message
        )
        .map_err(|s| refused(format!("pause {}", self.what), s))?
        .into_inner();
        Ok(())
    }

    async fn survey(&mut self, score: i32) -> anyhow::Result<()> {
        let message = pb::RecordSurveyRequest {
            name: self.name.clone(),
            score,
            comment: if score <= 2 { "处理太慢" } else { "满意" }.into(),
        };
        self.current = retrying!(
            self.client,
            record_survey,
            self.target,
            self.handler,
            message
        )
        .map_err(|s| refused(format!("record the survey of {}", self.what), s))?
        .into_inner();
        Ok(())
    }
}

/// What a move carries besides the move.
#[derive(Default)]
struct Step {
    note: &'static str,
    investigation: Option<pb::Investigation>,
    resolution: Option<pb::Resolution>,
}

impl Step {
    fn note(note: &'static str) -> Self {
        Self {
            note,
            ..Self::default()
        }
    }
}
