//! Care and contact windows against real PostgreSQL and Redis, beside
//! customer-profile, tiering and the gateway, from the suite's clock: a
//! customer created with a birthday, a wedding anniversary and a spouse's
//! birthday gets each care task once, ahead of the day, with the tier's gift
//! (and a corrected birthday moves it); a family event brings a care task at
//! once; the next good time follows the customer's age and their own stated
//! habit.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{Datelike, Days, NaiveDate, TimeZone, Weekday};
use patron_scheduling::domain::care::{self, CareFacts, CareTask, FamilyDate, YearlyDate};
use patron_scheduling::domain::contact_window::{self, ContactFacts, Habit};
use patron_suite_tests::{Reply, Suite};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

const SHANGHAI: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// The health-chain preset's `[scheduling]` section, as the suite runs it.
fn policy() -> patron_scheduling::domain::policy::SchedulingPolicy {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/presets/health-chain.toml"
    );
    let text = std::fs::read_to_string(path).expect("the preset");
    patron_scheduling::policy_source::read_preset(&text)
        .expect("the section reads")
        .policy
}

fn manager_token(suite: &Suite, id: &str) -> String {
    suite.token_with(|c| {
        c.sub = id.into();
        c.roles = vec!["account_manager".into()];
    })
}

async fn place(suite: &Suite, staff: &str) {
    let placed = suite
        .admin(
            Method::POST,
            &format!("/v1/staff?staffMemberId={staff}"),
            Some(json!({"displayName": staff, "orgUnit": "orgUnits/company"})),
        )
        .await;
    assert_eq!(placed.status, 200, "{:?}", placed.body);
}

/// Creates a customer from `body` (a person unless it says otherwise).
async fn create(suite: &Suite, body: Value) -> String {
    let mut body = body;
    body["kind"] = json!("CUSTOMER_KIND_PERSON");
    let created = suite.admin(Method::POST, "/v1/customers", Some(body)).await;
    assert_eq!(created.status, 200, "{:?}", created.body);
    created.body["name"].as_str().unwrap().to_owned()
}

async fn override_tier(suite: &Suite, customer: &str, tier: &str) {
    suite.wait_for_tiering_to_catch_up().await;
    let path = format!("/v1/{customer}/tierAssignment");
    for _ in 0..200 {
        if suite.admin(Method::GET, &path, None).await.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut overridden = false;
    for _ in 0..5 {
        let answer = suite
            .admin(
                Method::POST,
                &format!("{path}:override"),
                Some(json!({"tierCode": tier, "reason": "the regional director's decision"})),
            )
            .await;
        // A loaded machine may time the call out; it is safe to repeat.
        if answer.status == 200 {
            overridden = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(overridden, "tiering overrode the tier");
    suite.wait_for_scheduling_to_catch_up().await;
}

fn customer_id(name: &str) -> Uuid {
    name.strip_prefix("customers/").unwrap().parse().unwrap()
}

fn wire_date(d: NaiveDate) -> Value {
    json!({"year": d.year(), "month": d.month(), "day": d.day()})
}

/// `d`'s month and day in `year` (a leap year, so 29 February is one).
fn in_year(d: NaiveDate, year: i32) -> Value {
    json!({"year": year, "month": d.month(), "day": d.day()})
}

/// The days care plans for: the policy's horizon from today.
fn horizon_days(today: NaiveDate) -> u32 {
    (policy().horizon.after(today) - today).num_days() as u32
}

/// A care task as stored: (rule key, occasion day, due day, state, gift,
/// tier, assignee).
type Stored = (String, NaiveDate, NaiveDate, String, String, String, String);

async fn care_tasks_of(suite: &Suite, customer: &str) -> Vec<Stored> {
    let mut conn = suite.db.admin_connection().await;
    sqlx::query_as(
        "SELECT t.rule_key, c.occasion_date, t.due_date, t.state, c.gift, t.tier, t.assignee
           FROM scheduling.tasks t JOIN scheduling.care_tasks c ON c.task_id = t.id
          WHERE t.customer_id = $1 AND t.kind = 'care'
          ORDER BY t.due_date, t.rule_key",
    )
    .bind(customer_id(customer))
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// What the stored open care tasks should be: the domain's plan, for the
/// customer's manager and tier.
fn expected(tasks: &[CareTask], tier: &str, manager: &str) -> BTreeSet<Stored> {
    tasks
        .iter()
        .map(|t| {
            (
                format!("care:{}", t.key()),
                t.date,
                t.due,
                "open".to_owned(),
                t.gift.clone().unwrap_or_default(),
                tier.to_owned(),
                manager.to_owned(),
            )
        })
        .collect()
}

/// Waits until the customer's open care tasks are `want`; the tasks seen.
async fn wait_for_care(suite: &Suite, customer: &str, want: &BTreeSet<Stored>) -> Vec<Stored> {
    let mut seen = Vec::new();
    for _ in 0..300 {
        seen = care_tasks_of(suite, customer).await;
        let open: BTreeSet<Stored> = seen.iter().filter(|t| t.3 == "open").cloned().collect();
        if open == *want {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the care tasks {seen:#?} are not {want:#?}");
}

async fn get(suite: &Suite, token: &str, path: &str) -> Reply {
    suite.call(Method::GET, path, Some(token), None).await
}

async fn post(suite: &Suite, token: &str, path: &str, body: Value) -> Reply {
    suite
        .call(Method::POST, path, Some(token), Some(body))
        .await
}

#[tokio::test]
async fn a_birthday_brings_a_care_task_ahead_with_the_tiers_gift() {
    let suite = Suite::start().await;
    place(&suite, "li.na").await;
    let today = suite.today();
    let birthday = today + Days::new(10);
    let anniversary = today + Days::new(5);
    let spouse = today + Days::new(12);
    let customer = create(
        &suite,
        json!({
            "displayName": "王丽",
            "accountManager": "li.na",
            "person": {"birthday": in_year(birthday, 1968),
                       "weddingAnniversary": in_year(anniversary, 1996)},
            "familyMembers": [{"name": "张伟", "relation": "spouse",
                               "birthday": in_year(spouse, 1964)}],
        }),
    )
    .await;
    override_tier(&suite, &customer, "A").await;

    let policy = policy();
    let yearly = |d: NaiveDate| YearlyDate::gregorian(d.month(), d.day()).unwrap();
    let facts = CareFacts {
        tier: Some("A".into()),
        birthday: Some(yearly(birthday)),
        wedding_anniversary: Some(yearly(anniversary)),
        family: vec![FamilyDate {
            name: "张伟".into(),
            relation: "spouse".into(),
            date: yearly(spouse),
        }],
    };
    let plan = care::care_tasks(&facts, today, horizon_days(today), &policy.care);
    // The three personal dates are inside the horizon, with their leads.
    let lead = &policy.care.lead_days;
    let birthday_task = plan
        .iter()
        .find(|t| t.key() == "birthday")
        .expect("the birthday is planned");
    assert_eq!(birthday_task.date, birthday);
    assert_eq!(
        birthday_task.due,
        birthday - Days::new(lead.birthday.into())
    );
    assert_eq!(birthday_task.gift.as_deref(), Some("health gift box"));
    assert!(plan.iter().any(|t| t.key() == "wedding_anniversary"));
    assert!(plan.iter().any(|t| t.key() == "family_date:spouse:张伟"));
    let want = expected(&plan, "A", "li.na");
    wait_for_care(&suite, &customer, &want).await;

    // More passes create nothing more: each occasion once.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = care_tasks_of(&suite, &customer).await;
    let open: BTreeSet<Stored> = all.iter().filter(|t| t.3 == "open").cloned().collect();
    assert_eq!(open, want);
    let keys: BTreeSet<(String, NaiveDate)> = all.iter().map(|t| (t.0.clone(), t.1)).collect();
    assert_eq!(keys.len(), all.len(), "no occasion twice: {all:#?}");

    // The manager sees it with what it is for.
    let li = manager_token(&suite, "li.na");
    let listed = get(&suite, &li, &format!("/v1/tasks?customer={customer}")).await;
    assert_eq!(listed.status, 200, "{:?}", listed.body);
    let shown = listed.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["care"]["occasion"] == "CARE_OCCASION_BIRTHDAY")
        .cloned()
        .unwrap_or_else(|| panic!("{:?}", listed.body));
    assert_eq!(shown["kind"], "TASK_KIND_CARE");
    assert_eq!(shown["assignee"], "staff/li.na");
    assert_eq!(shown["dueDate"], wire_date(birthday_task.due));
    assert_eq!(shown["care"]["occasionDate"], wire_date(birthday));
    assert_eq!(shown["care"]["giftSuggestion"], "health gift box");
    assert_eq!(shown["channel"], "CONTACT_CHANNEL_LETTER", "health-chain");
    let name = shown["name"].as_str().unwrap();
    let one = get(&suite, &li, &format!("/v1/{name}")).await;
    assert_eq!(one.body["care"], shown["care"]);
    let spouse_task = listed.body["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["care"]["occasion"] == "CARE_OCCASION_FAMILY_BIRTHDAY")
        .cloned()
        .unwrap_or_else(|| panic!("{:?}", listed.body));
    assert_eq!(spouse_task["care"]["personName"], "张伟");
    assert_eq!(spouse_task["care"]["relation"], "spouse");

    // A corrected birthday: the old day's task is withdrawn, the new one's made.
    let archive = suite
        .admin(Method::GET, &format!("/v1/{customer}"), None)
        .await;
    let corrected = today + Days::new(20);
    let patched = suite
        .admin(
            Method::PATCH,
            &format!("/v1/{customer}?updateMask=person.birthday"),
            Some(json!({"etag": archive.body["etag"],
                        "person": {"birthday": in_year(corrected, 1968)}})),
        )
        .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let facts = CareFacts {
        birthday: Some(yearly(corrected)),
        ..facts
    };
    let plan = care::care_tasks(&facts, today, horizon_days(today), &policy.care);
    let seen = wait_for_care(&suite, &customer, &expected(&plan, "A", "li.na")).await;
    assert!(
        seen.iter()
            .any(|t| t.0 == "care:birthday" && t.1 == birthday && t.3 == "cancelled"),
        "{seen:#?}"
    );
}

#[tokio::test]
async fn a_family_event_brings_a_care_task_at_once() {
    let suite = Suite::start().await;
    place(&suite, "li.na").await;
    place(&suite, "zhao.min").await;
    let customer = create(
        &suite,
        json!({"displayName": "王丽", "accountManager": "li.na"}),
    )
    .await;
    override_tier(&suite, &customer, "A").await;
    let today = suite.today();
    let li = manager_token(&suite, "li.na");
    let path = format!("/v1/{customer}/familyEvents");

    // The father is in hospital: a visit today, with A's gift.
    let request_id = Uuid::new_v4();
    let event = json!({"kind": "FAMILY_EVENT_KIND_HOSPITAL", "personName": "王建国",
                       "relation": "father", "note": "knee surgery"});
    let recorded = post(
        &suite,
        &li,
        &format!("{path}?requestId={request_id}"),
        event.clone(),
    )
    .await;
    assert_eq!(recorded.status, 200, "{:?}", recorded.body);
    let name = recorded.body["name"].as_str().unwrap().to_owned();
    assert!(
        name.starts_with(&format!("{customer}/familyEvents/")),
        "{name}"
    );
    assert_eq!(recorded.body["eventDate"], wire_date(today));
    assert_eq!(recorded.body["recordedBy"], "staff/li.na");
    let task = recorded.body["task"].as_str().unwrap().to_owned();
    let shown = get(&suite, &li, &format!("/v1/{task}")).await;
    assert_eq!(shown.status, 200, "{:?}", shown.body);
    assert_eq!(shown.body["kind"], "TASK_KIND_CARE");
    assert_eq!(shown.body["state"], "TASK_STATE_OPEN");
    assert_eq!(shown.body["assignee"], "staff/li.na");
    assert_eq!(
        shown.body["dueDate"],
        wire_date(today),
        "a hospital stay: today"
    );
    assert_eq!(shown.body["channel"], "CONTACT_CHANNEL_VISIT");
    assert_eq!(shown.body["tier"], "A");
    assert_eq!(shown.body["care"]["occasion"], "CARE_OCCASION_HOSPITAL");
    assert_eq!(
        shown.body["care"]["giftSuggestion"],
        "get-well visit and fruit basket"
    );
    assert_eq!(shown.body["care"]["familyEvent"], name.as_str());
    assert_eq!(shown.body["care"]["relation"], "father");
    // Among the manager's tasks due today.
    let due_today = get(
        &suite,
        &li,
        &format!(
            "/v1/tasks?state=TASK_STATE_OPEN&dueBy.year={}&dueBy.month={}&dueBy.day={}",
            today.year(),
            today.month(),
            today.day()
        ),
    )
    .await;
    assert!(
        due_today.body["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == task.as_str()),
        "{:?}",
        due_today.body
    );

    // A retry answers the first; reusing the id for another event is refused.
    let again = post(
        &suite,
        &li,
        &format!("{path}?requestId={request_id}"),
        event.clone(),
    )
    .await;
    assert_eq!(again.status, 200, "{:?}", again.body);
    assert_eq!(again.body["name"], name.as_str());
    assert_eq!(again.body["task"], task.as_str());
    let reused = post(
        &suite,
        &li,
        &format!("{path}?requestId={request_id}"),
        json!({"kind": "FAMILY_EVENT_KIND_FUNERAL"}),
    )
    .await;
    assert_eq!(reused.status, 400, "{:?}", reused.body);
    let mut conn = suite.db.admin_connection().await;
    let tasks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM scheduling.family_events WHERE customer_id = $1")
            .bind(customer_id(&customer))
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(tasks, 1, "recorded once");

    // A daughter's wedding a month ahead: congratulated tomorrow.
    let wedding_day = today + Days::new(30);
    let wedding = post(
        &suite,
        &li,
        &path,
        json!({"kind": "FAMILY_EVENT_KIND_WEDDING", "personName": "王小丽",
               "relation": "daughter", "eventDate": wire_date(wedding_day)}),
    )
    .await;
    assert_eq!(wedding.status, 200, "{:?}", wedding.body);
    let wedding_task = get(
        &suite,
        &li,
        &format!("/v1/{}", wedding.body["task"].as_str().unwrap()),
    )
    .await;
    assert_eq!(
        wedding_task.body["dueDate"],
        wire_date(today.succ_opt().unwrap())
    );
    assert_eq!(
        wedding_task.body["care"]["occasionDate"],
        wire_date(wedding_day)
    );
    assert_eq!(
        wedding_task.body["care"]["giftSuggestion"]
            .as_str()
            .unwrap_or(""),
        "",
        "health-chain A has no wedding gift: a greeting"
    );

    // Another manager does not reach the customer.
    let zhao = manager_token(&suite, "zhao.min");
    let theirs = post(&suite, &zhao, &path, event.clone()).await;
    assert_eq!(theirs.status, 404, "{:?}", theirs.body);
    assert_eq!(get(&suite, &zhao, &format!("/v1/{task}")).await.status, 404);

    // Bad input names each field.
    let bad = post(
        &suite,
        &li,
        &path,
        json!({"personName": "王建国", "eventDate": {"year": 2026, "month": 2, "day": 30}}),
    )
    .await;
    assert_eq!(bad.status, 400, "{:?}", bad.body);
    assert_eq!(
        bad.violation_fields(),
        [
            "family_event.kind",
            "family_event.relation",
            "family_event.event_date"
        ]
    );
    let far = post(
        &suite,
        &li,
        &path,
        json!({"kind": "FAMILY_EVENT_KIND_BIRTH",
               "eventDate": wire_date(today + Days::new(400))}),
    )
    .await;
    assert_eq!(far.status, 400, "{:?}", far.body);
    assert_eq!(far.violation_fields(), ["family_event.event_date"]);
    let nobody = post(
        &suite,
        &li,
        &format!("/v1/customers/{}/familyEvents", Uuid::now_v7()),
        event,
    )
    .await;
    assert_eq!(nobody.status, 404, "{:?}", nobody.body);
}

#[tokio::test]
async fn the_next_good_time_follows_age_and_the_stated_habit() {
    let suite = Suite::start().await;
    let older = create(
        &suite,
        json!({"displayName": "李老", "person": {"birthday": {"year": 1950, "month": 1, "day": 1}}}),
    )
    .await;
    let by_age = create(
        &suite,
        json!({"displayName": "赵伯", "person": {"approximateAge": 70}}),
    )
    .await;
    let younger = create(
        &suite,
        json!({"displayName": "小陈", "person": {"birthday": {"year": 1995, "month": 1, "day": 1}}}),
    )
    .await;
    let evenings = create(
        &suite,
        json!({"displayName": "周先生",
               "person": {"birthday": {"year": 1950, "month": 1, "day": 1}},
               "softFacts": {"preferredContactTime": "工作日晚上7点到9点"}}),
    )
    .await;
    let unreadable = create(
        &suite,
        json!({"displayName": "吴女士", "softFacts": {"preferredContactTime": "after dinner"}}),
    )
    .await;
    suite.wait_for_scheduling_to_catch_up().await;

    // The next Wednesday at 13:30 in Shanghai: after the midday rest for a
    // younger customer, not yet for an older one.
    let mut day = suite.today().succ_opt().unwrap();
    while day.weekday() != Weekday::Wed {
        day = day.succ_opt().unwrap();
    }
    let at = |h, m| {
        SHANGHAI
            .from_local_datetime(&day.and_hms_opt(h, m, 0).unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    suite.clock.set(at(13, 30));

    let admin = suite.token("admin");
    let next = |customer: String| {
        let suite = &suite;
        let admin = admin.clone();
        async move {
            let answer = get(
                suite,
                &admin,
                &format!("/v1/{customer}/nextContactTime?channel=CONTACT_CHANNEL_PHONE"),
            )
            .await;
            assert_eq!(answer.status, 200, "{:?}", answer.body);
            let time = chrono::DateTime::parse_from_rfc3339(answer.body["time"].as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc);
            (time, answer.body["reason"].as_str().unwrap().to_owned())
        }
    };
    let section = policy().contact_windows;
    let domain = |facts: &ContactFacts| {
        contact_window::next_good_time(
            at(13, 30),
            SHANGHAI,
            contact_window::Channel::Call,
            facts,
            &section,
        )
    };

    let (time, reason) = next(older).await;
    assert_eq!(time, at(15, 0), "{reason}");
    assert!(reason.contains("older customer"), "{reason}");
    let (time, reason) = next(by_age).await;
    assert_eq!(
        time,
        at(15, 0),
        "an approximate age of 70 is older: {reason}"
    );
    let (time, reason) = next(younger).await;
    assert_eq!(time, at(13, 30), "{reason}");
    assert!(reason.contains("younger customer"), "{reason}");
    let (time, reason) = next(evenings.clone()).await;
    assert_eq!(time, at(19, 0), "their own word over their age: {reason}");
    assert!(reason.contains("工作日晚上7点到9点"), "{reason}");
    assert_eq!(
        time,
        domain(&ContactFacts {
            birth_year: Some(1950),
            birthday: Some((1, 1)),
            habit: Some(Habit::parse("工作日晚上7点到9点").unwrap()),
            sms_first: None,
        })
    );
    let (time, reason) = next(unreadable).await;
    assert_eq!(time, at(13, 30), "{reason}");
    assert_eq!(time, domain(&ContactFacts::default()));
    assert!(reason.contains("was not used"), "{reason}");

    // At 21:30 the evening caller waits for Thursday's evening, the others
    // for Thursday morning.
    suite.clock.set(at(21, 30));
    let thursday = |h, m| at(h, m) + chrono::Duration::days(1);
    assert_eq!(next(evenings).await.0, thursday(19, 0));
}
