//! `patron demo`: a small company under a shipped preset, loaded through
//! the public API, so every list, report and the walk-through have
//! something to show, and so the load doubles as a smoke test of the
//! suite: any refusal it does not expect stops it with the call and the
//! suite's answer.
//!
//! What it loads follows from the seed and the clock: units and staff,
//! a few hundred customers with a year of purchases before "now", the
//! standings the company sets by hand, complaints in every state, role
//! holders, contacts logged, and the month of tasks the scheduler plans.
//! It loads only into a system without customers.

mod calls;
mod complaints;
mod customers;
mod directory;
pub mod flavour;
pub mod plan;
mod rng;
mod scheduling;
mod summary;
mod tiering;

use std::sync::Arc;
use std::time::Duration;

use patron_kit::auth::Authenticator;
use patron_kit::clock::SharedClock;
use tonic::transport::Channel;

pub use calls::wait_until_ready;
pub use summary::Summary;

/// The suite to load into, and as whom.
#[derive(Clone)]
pub struct Target {
    pub profile: Channel,
    pub tiering: Channel,
    pub complaint: Channel,
    pub scheduling: Channel,
    /// Mints each staff member's tokens.
    pub auth: Arc<Authenticator>,
    /// The suite's "now": purchases fall in the year before it.
    pub clock: SharedClock,
    /// The company's zone, to read the preset's complaint calendar in.
    pub zone: chrono_tz::Tz,
}

/// What to load.
#[derive(Debug, Clone)]
pub struct Options {
    /// A shipped preset's name.
    pub preset: String,
    /// The same seed loads the same company.
    pub seed: u64,
    /// How many customers.
    pub customers: usize,
    /// How long to wait for the suite to catch up (events between services).
    pub patience: Duration,
    /// How long the scheduler's tasks must stay as they are before the plan
    /// counts as made: longer than its generation job's pause between
    /// passes (`PATRON_GENERATION_POLL_MS`).
    pub plan_settle: Duration,
}

/// The fewest customers that still put a complaint in every state.
pub const MIN_CUSTOMERS: usize = 20;
/// The most the demo loads.
pub const MAX_CUSTOMERS: usize = 5000;

/// The system already has customers: the demo loaded nothing.
#[derive(Debug)]
pub struct AlreadyLoaded {
    /// One customer found.
    pub archive_number: String,
}

impl std::fmt::Display for AlreadyLoaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the system already holds customers ({} among them); the demo loads only into an \
             empty system, so it loaded nothing",
            self.archive_number
        )
    }
}

impl std::error::Error for AlreadyLoaded {}

/// Loads the demo company into `target`.
pub async fn run(target: &Target, options: &Options) -> anyhow::Result<Summary> {
    let flavour = flavour::of(&options.preset).ok_or_else(|| {
        anyhow::anyhow!(
            "the demo knows the shipped presets ({}), not {:?}",
            flavour::names().join(", "),
            options.preset
        )
    })?;
    anyhow::ensure!(
        (MIN_CUSTOMERS..=MAX_CUSTOMERS).contains(&options.customers),
        "customers must be {MIN_CUSTOMERS} to {MAX_CUSTOMERS}, not {}",
        options.customers
    );
    let text = patron_presets::shipped::shipped(flavour.preset)
        .expect("every flavour is a shipped preset");
    let preset = patron_presets::parse(text)?;
    let currency = preset.header.currency.clone();
    let complaint_policy = patron_complaint::policy_source::read_preset(text, target.zone)
        .map_err(|e| anyhow::anyhow!("the preset's [complaint] section: {e}"))?;
    let scheduling_policy = patron_scheduling::policy_source::read_preset(text)
        .map_err(|e| anyhow::anyhow!("the preset's [scheduling] section: {e}"))?;
    let roles = patron_scheduling::domain::role_holders::unit_roles(&scheduling_policy.policy);

    if let Some(archive_number) = customers::any_customer(target).await? {
        return Err(AlreadyLoaded { archive_number }.into());
    }
    let now = target.clock.now();
    let activated = tiering::activate(target, &preset.header.id, text).await?;
    let (units, staff) = directory::load(target).await?;

    let planned = plan::customers(options.seed, flavour, options.customers, now);
    let spend_minor: i64 = planned.iter().map(plan::Customer::net_minor).sum();
    let customers = customers::create(target, planned).await?;
    let recorded = customers::record_purchases(target, &customers, flavour.unit, &currency).await?;
    tiering::wait_for_spend(target, spend_minor, options.patience).await?;
    let standings = tiering::set_standings(target, &customers, &currency).await?;

    let desks = complaints::set_desks(target).await?;
    let planned_complaints = plan::complaints(options.seed, customers.len());
    let wording = complaints::Wording {
        currency: &currency,
        root_causes: &complaint_policy.policy.root_causes,
    };
    let complaints = complaints::file(target, &planned_complaints, &customers, &wording).await?;

    let role_holders = scheduling::set_role_holders(target, &roles).await?;
    let earlier_contacts = scheduling::log_earlier_contacts(target, &customers).await?;
    let tasks = scheduling::planned_tasks(target, options.plan_settle, options.patience).await?;
    let tasks_closed = scheduling::close_tasks(target, &tasks, &customers).await?;

    let names: Vec<String> = customers.iter().map(|(_, n)| n.clone()).collect();
    let tiers = tiering::tiers(target, &names).await?;
    Ok(Summary {
        preset: flavour.preset.into(),
        company: flavour.company.into(),
        seed: options.seed,
        now,
        policy: activated.policy,
        policy_version: activated.version,
        policy_was_active: activated.already,
        units,
        staff,
        customers: customers.len(),
        purchases: recorded.purchases,
        refunds: recorded.refunds,
        spend_minor,
        currency,
        standings,
        tiers,
        complaint_desks: desks,
        complaints: complaints.by_state,
        complaints_reopened: complaints.reopened,
        complaints_paused: complaints.paused,
        complaints_repeating: complaints.repeats,
        role_holders,
        tasks: tasks.len(),
        tasks_closed,
        earlier_contacts,
        first_archive: customers
            .first()
            .map(|(c, _)| c.archive_number.clone())
            .unwrap_or_default(),
    })
}
