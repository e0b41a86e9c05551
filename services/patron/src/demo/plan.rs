//! The company the demo loads, decided before any call: its units and
//! staff, its customers with a year of purchases, and which complaints go
//! how far. Everything here follows from the seed, the preset's flavour and
//! "now"; nothing here calls a service.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};

use super::flavour::{Flavour, Kind, Standings};
use super::rng::Rng;

/// A level of the hierarchy below the company.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    Region,
    City,
    Branch,
}

/// An org unit of the demo company; its parent is `company` or another of these.
#[derive(Debug, Clone, Copy)]
pub struct Unit {
    pub id: &'static str,
    pub name: &'static str,
    pub kind: UnitKind,
    pub parent: &'static str,
}

/// The company unit every installation starts with.
pub const COMPANY: &str = "company";

/// Two regions, a city in each, two branches in each city; parents first.
pub const UNITS: &[Unit] = &[
    Unit {
        id: "east",
        name: "华东大区",
        kind: UnitKind::Region,
        parent: COMPANY,
    },
    Unit {
        id: "south",
        name: "华南大区",
        kind: UnitKind::Region,
        parent: COMPANY,
    },
    Unit {
        id: "shanghai",
        name: "上海分公司",
        kind: UnitKind::City,
        parent: "east",
    },
    Unit {
        id: "guangzhou",
        name: "广州分公司",
        kind: UnitKind::City,
        parent: "south",
    },
    Unit {
        id: "shanghai-xuhui",
        name: "徐汇店",
        kind: UnitKind::Branch,
        parent: "shanghai",
    },
    Unit {
        id: "shanghai-pudong",
        name: "浦东店",
        kind: UnitKind::Branch,
        parent: "shanghai",
    },
    Unit {
        id: "guangzhou-tianhe",
        name: "天河店",
        kind: UnitKind::Branch,
        parent: "guangzhou",
    },
    Unit {
        id: "guangzhou-yuexiu",
        name: "越秀店",
        kind: UnitKind::Branch,
        parent: "guangzhou",
    },
];

/// The units customers belong to.
pub fn branches() -> impl Iterator<Item = &'static Unit> {
    UNITS.iter().filter(|u| u.kind == UnitKind::Branch)
}

/// The region a branch lies in.
pub fn region_of(branch: &str) -> &'static str {
    let mut id = branch;
    while let Some(unit) = UNITS.iter().find(|u| u.id == id) {
        if unit.kind == UnitKind::Region {
            return unit.id;
        }
        id = unit.parent;
    }
    COMPANY
}

/// What a staff member does in the demo, and so the role their tokens carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// Signs off resolutions above the desk's authority.
    Supervisor,
    /// A region's complaint handler.
    ComplaintDesk,
    /// Manages customers of a branch.
    AccountManager,
    /// Runs a branch: holds the policy's leading roles (store manager…).
    BranchLead,
    /// Calls customers for a branch: holds the policy's staff roles.
    Outreach,
}

impl Duty {
    /// The role of the staff member's tokens.
    pub fn token_role(self) -> &'static str {
        match self {
            Duty::Supervisor | Duty::BranchLead => "supervisor",
            Duty::ComplaintDesk | Duty::Outreach => "customer_service",
            Duty::AccountManager => "account_manager",
        }
    }
}

/// A staff member of the demo company.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Staff {
    pub id: String,
    pub name: String,
    pub unit: &'static str,
    pub duty: Duty,
}

const STAFF_NAMES: &[&str] = &[
    "周敏", "李娜", "陈静", "王强", "刘洋", "赵磊", "孙丽", "吴杰", "郑涛", "冯艳", "何军", "许超",
    "高欣", "林平", "罗刚", "梁晨", "宋宇", "唐霞", "韩明", "曹娟",
];

/// The staff: a supervisor at the company, a complaint desk per region, and
/// per branch a lead, an outreach clerk and two account managers.
pub fn staff() -> Vec<Staff> {
    let mut names = STAFF_NAMES.iter();
    let mut next_name = || names.next().map(|n| n.to_string()).unwrap_or_default();
    let mut staff = vec![Staff {
        id: "supervisor".into(),
        name: next_name(),
        unit: COMPANY,
        duty: Duty::Supervisor,
    }];
    for region in UNITS.iter().filter(|u| u.kind == UnitKind::Region) {
        staff.push(Staff {
            id: format!("desk-{}", region.id),
            name: next_name(),
            unit: region.id,
            duty: Duty::ComplaintDesk,
        });
    }
    for branch in branches() {
        for (prefix, duty) in [
            ("lead", Duty::BranchLead),
            ("outreach", Duty::Outreach),
            ("am1", Duty::AccountManager),
            ("am2", Duty::AccountManager),
        ] {
            staff.push(Staff {
                id: format!("{prefix}-{}", branch.id),
                name: next_name(),
                unit: branch.id,
                duty,
            });
        }
    }
    staff
}

/// Who holds a role the policy's contact rules name, in a branch: the
/// policy's staff and clerks' roles go to the outreach clerk, the rest
/// (store manager, sales manager, responsible leader…) to the lead.
pub fn holder_of(role: &str, branch: &str) -> String {
    let clerical = ["staff", "service", "outreach_"]
        .iter()
        .any(|word| role.contains(word));
    if clerical {
        format!("outreach-{branch}")
    } else {
        format!("lead-{branch}")
    }
}

/// One purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchase {
    pub external_id: String,
    pub order_number: String,
    pub at: DateTime<Utc>,
    pub product: &'static str,
    pub quantity: i64,
    /// Minor units (fen).
    pub amount_minor: i64,
    pub channel: &'static str,
}

/// A refund of part of one purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub external_id: String,
    /// The purchase it takes back, by its external id.
    pub purchase: String,
    pub order_number: String,
    pub at: DateTime<Utc>,
    pub product: &'static str,
    pub amount_minor: i64,
}

/// What the company sets on a customer's standing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    pub credit_grade: Option<&'static str>,
    pub bad_records: i32,
    pub region: Option<&'static str>,
    pub designated: Option<&'static str>,
}

/// A customer to create, with their year.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// 1, 2, … in the order they are created.
    pub number: usize,
    pub archive_number: String,
    pub request_id: uuid::Uuid,
    pub display_name: String,
    pub kind: Kind,
    pub branch: &'static str,
    pub manager: String,
    pub female: bool,
    pub birthday: Option<NaiveDate>,
    pub wedding_anniversary: Option<NaiveDate>,
    pub mobile: String,
    pub purchases: Vec<Purchase>,
    pub refund: Option<Refund>,
    pub standing: Option<Standing>,
    /// A contact made in the past month, without a task: when and how.
    pub past_contact: Option<DateTime<Utc>>,
}

impl Customer {
    /// Purchases less the refund, in minor units.
    pub fn net_minor(&self) -> i64 {
        let bought: i64 = self.purchases.iter().map(|p| p.amount_minor).sum();
        bought - self.refund.as_ref().map_or(0, |r| r.amount_minor)
    }
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "林", "罗", "高",
];
const GIVEN_NAMES: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀英", "霞", "平", "刚", "桂英", "晨", "宇", "欣怡", "子涵", "浩然", "雨桐",
];
const COMPANY_WORDS: &[&str] = &[
    "华东", "南方", "长江", "海天", "新元", "恒通", "金桥", "远航", "中联", "宏达", "瑞丰", "鼎盛",
];
const COMPANY_TRADES: &[&str] = &[
    "机械",
    "建材",
    "电子",
    "物流",
    "化工",
    "汽车配件",
    "家电",
    "食品",
];

/// The customers: `count` of them, spread over the branches, each with
/// purchases over the year before `now`.
pub fn customers(seed: u64, flavour: &Flavour, count: usize, now: DateTime<Utc>) -> Vec<Customer> {
    let mut rng = Rng::part(seed, "customers");
    let branches: Vec<&Unit> = branches().collect();
    (1..=count)
        .map(|number| {
            let branch = branches[(number - 1) % branches.len()];
            let manager = format!("am{}-{}", 1 + (number / branches.len()) % 2, branch.id);
            let female = rng.chance(50);
            let display_name = match flavour.kind {
                Kind::Person => format!("{}{}", rng.pick(SURNAMES), rng.pick(GIVEN_NAMES)),
                Kind::Organization => format!(
                    "{}{}有限公司",
                    rng.pick(COMPANY_WORDS),
                    rng.pick(COMPANY_TRADES)
                ),
            };
            let birthday = (flavour.kind == Kind::Person).then(|| {
                let year = now.year() - rng.between(25, 75) as i32;
                day_of_year(year, rng.between(0, 364))
            });
            // Married at 22 to 35, and at least a year before now.
            let wedding_anniversary = match birthday {
                Some(b) if rng.chance(40) => {
                    let age_at = rng.between(22, 35) as i32;
                    let year = (b.year() + age_at).min(now.year() - 1);
                    Some(day_of_year(year, rng.between(0, 364)))
                }
                _ => None,
            };
            let mobile = format!("13{}{:08}", rng.between(5, 9), rng.between(0, 99_999_999));
            let purchases = purchases(&mut rng, flavour, number, now);
            let refund = (rng.chance(6)).then(|| {
                let bought = &purchases[rng.between(0, purchases.len() as i64 - 1) as usize];
                let at = (bought.at + Duration::days(3)).min(now - Duration::minutes(1));
                Refund {
                    external_id: format!("{}-R", bought.external_id),
                    purchase: bought.external_id.clone(),
                    order_number: bought.order_number.clone(),
                    at,
                    product: bought.product,
                    amount_minor: bought.amount_minor * 3 / 10,
                }
            });
            let standing = standing(&mut rng, flavour.standings);
            let past_contact = rng
                .chance(35)
                .then(|| now - Duration::minutes(rng.between(60, 30 * 24 * 60)));
            Customer {
                number,
                archive_number: format!("DEMO-{number:04}"),
                request_id: rng.uuid(),
                display_name,
                kind: flavour.kind,
                branch: branch.id,
                manager,
                female,
                birthday,
                wedding_anniversary,
                mobile,
                purchases,
                refund,
                standing,
                past_contact,
            }
        })
        .collect()
}

/// The `ordinal`th day (0-based) of `year`, the last day for a short year.
fn day_of_year(year: i32, ordinal: i64) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default();
    let day = first + Duration::days(ordinal);
    if day.year() == year {
        day
    } else {
        day - Duration::days(1)
    }
}

fn purchases(rng: &mut Rng, flavour: &Flavour, number: usize, now: DateTime<Utc>) -> Vec<Purchase> {
    let how_many = rng.between(flavour.purchases.0, flavour.purchases.1);
    let (low, high) = flavour.purchase_yuan;
    let mut made: Vec<Purchase> = (0..how_many)
        .map(|_| {
            // Most purchases are small, a few large: the cube leans low.
            let u = rng.fraction();
            let yuan = low + ((high - low) as f64 * u * u * u) as i64;
            // From an hour to 364 days ago: inside every "past year" window.
            let minutes_ago = rng.between(60, 364 * 24 * 60);
            Purchase {
                external_id: String::new(),
                order_number: String::new(),
                at: now - Duration::minutes(minutes_ago),
                product: rng.pick(flavour.products),
                quantity: rng.between(1, 5),
                amount_minor: yuan * 100,
                channel: rng.pick(flavour.channels),
            }
        })
        .collect();
    made.sort_by_key(|p| p.at);
    for (i, p) in made.iter_mut().enumerate() {
        p.external_id = format!("DEMO-{number:04}-{:02}", i + 1);
        p.order_number = format!("SO-{number:04}-{:02}", i + 1);
    }
    made
}

fn standing(rng: &mut Rng, standings: Standings) -> Option<Standing> {
    let designate = |rng: &mut Rng, tiers: &[(&'static str, u32)]| {
        let roll = rng.between(0, 99) as u32;
        let mut floor = 0;
        tiers.iter().find_map(|(tier, percent)| {
            floor += percent;
            (roll < floor).then_some(*tier)
        })
    };
    match standings {
        Standings::None => None,
        Standings::Designated(tiers) => designate(rng, tiers).map(|tier| Standing {
            designated: Some(tier),
            ..Standing::default()
        }),
        Standings::CreditGrades => {
            let roll = rng.between(0, 99);
            let grade = match roll {
                0..30 => "A",
                30..65 => "B",
                65..90 => "C",
                _ => "D",
            };
            Some(Standing {
                credit_grade: Some(grade),
                bad_records: i32::from(rng.chance(8)),
                ..Standing::default()
            })
        }
        Standings::RegionsAndDesignated(tiers) => {
            let region = match rng.between(0, 99) {
                0..20 => Some("group-2"),
                20..35 => Some("group-3"),
                _ => None,
            };
            let designated = designate(rng, tiers);
            (region.is_some() || designated.is_some()).then_some(Standing {
                region,
                designated,
                ..Standing::default()
            })
        }
    }
}

/// How far a demo complaint goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Just received.
    Received,
    /// Accepted, not yet looked into.
    Accepted,
    /// Being investigated.
    Investigating,
    /// Being investigated, the clock stopped while the customer sends photos.
    Paused,
    /// Resolved with a loss above the desk's authority: waits for the supervisor.
    AwaitingSignOff,
    /// Resolved, the customer not yet told.
    Resolved,
    /// The customer was told.
    FeedbackGiven,
    /// Closed, with the customer's satisfaction.
    Closed,
    /// Found not valid.
    NotValid,
    /// Closed, then reopened by the customer.
    Reopened,
}

impl Scenario {
    pub const ALL: [Scenario; 10] = [
        Scenario::Received,
        Scenario::Accepted,
        Scenario::Investigating,
        Scenario::Paused,
        Scenario::AwaitingSignOff,
        Scenario::Resolved,
        Scenario::FeedbackGiven,
        Scenario::Closed,
        Scenario::NotValid,
        Scenario::Reopened,
    ];

    /// How the summary names it.
    pub fn label(self) -> &'static str {
        match self {
            Scenario::Received => "received",
            Scenario::Accepted => "accepted",
            Scenario::Investigating => "investigating",
            Scenario::Paused => "investigating, paused",
            Scenario::AwaitingSignOff => "awaiting sign-off",
            Scenario::Resolved => "resolved",
            Scenario::FeedbackGiven => "feedback given",
            Scenario::Closed => "closed",
            Scenario::NotValid => "not valid",
            Scenario::Reopened => "reopened",
        }
    }
}

/// What a complaint is about: (item, description, the customer's reason).
const GRIEVANCES: &[(&str, &str, &str)] = &[
    ("送货", "约定周三送达，周六才到", "耽误了使用"),
    ("商品", "收到的商品外包装破损", "要求更换"),
    ("账单", "账单金额与约定价格不符", "多收了费用"),
    ("服务", "门店工作人员态度冷淡", "希望改进服务"),
    ("发票", "发票抬头开错，无法报销", "需要重开"),
    ("预约", "预约时间被无故取消", "浪费了时间"),
];

/// A complaint to file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    /// Index into the customers.
    pub customer: usize,
    pub scenario: Scenario,
    pub request_id: uuid::Uuid,
    pub item: &'static str,
    pub description: &'static str,
    pub reason: &'static str,
    /// 1 to 5, for closed ones.
    pub survey_score: i32,
    /// Repeats the customer's earlier complaint (filed after it).
    pub repeat: bool,
}

/// The complaints: every scenario at least once (about one complaint per
/// fifteen customers), and one customer complaining twice within the
/// repeat window.
pub fn complaints(seed: u64, customers: usize) -> Vec<Complaint> {
    let mut rng = Rng::part(seed, "complaints");
    let count = (customers / 15).max(Scenario::ALL.len()).min(customers);
    // Spread over the customers: every k-th one from a seeded start.
    let step = (customers / count).max(1);
    let start = rng.between(0, step as i64 - 1) as usize;
    let mut planned: Vec<Complaint> = (0..count)
        .map(|i| {
            let (item, description, reason) = rng.pick(GRIEVANCES);
            Complaint {
                customer: (start + i * step) % customers,
                scenario: Scenario::ALL[i % Scenario::ALL.len()],
                request_id: rng.uuid(),
                item,
                description,
                reason,
                survey_score: if i % 4 == 3 {
                    2
                } else {
                    rng.between(3, 5) as i32
                },
                repeat: false,
            }
        })
        .collect();
    let first = planned[0].clone();
    planned.push(Complaint {
        scenario: Scenario::Received,
        request_id: rng.uuid(),
        repeat: true,
        ..first
    });
    planned
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::flavour;

    fn now() -> DateTime<Utc> {
        "2027-01-01T00:01:00+08:00".parse().unwrap()
    }

    #[test]
    fn the_same_seed_plans_the_same_company() {
        let f = flavour::of("health-chain").unwrap();
        assert_eq!(customers(7, f, 50, now()), customers(7, f, 50, now()));
        assert_ne!(customers(7, f, 50, now()), customers(8, f, 50, now()));
        assert_eq!(complaints(7, 50), complaints(7, 50));
    }

    #[test]
    fn purchases_fall_in_the_year_before_now_and_refunds_after_their_purchase() {
        for f in flavour::FLAVOURS {
            for c in customers(3, f, 120, now()) {
                assert!(!c.purchases.is_empty());
                for p in &c.purchases {
                    assert!(p.at < now() && p.at > now() - Duration::days(365), "{p:?}");
                    let yuan = p.amount_minor / 100;
                    assert!((f.purchase_yuan.0..=f.purchase_yuan.1).contains(&yuan));
                }
                if let Some(r) = &c.refund {
                    let bought = c
                        .purchases
                        .iter()
                        .find(|p| p.external_id == r.purchase && p.order_number == r.order_number);
                    let bought = bought.expect("a refund names its purchase");
                    assert!(r.at >= bought.at && r.at < now());
                    assert!(r.amount_minor < bought.amount_minor);
                }
                assert!(c.net_minor() > 0);
                assert_eq!(c.kind, f.kind);
                assert_eq!(c.birthday.is_some(), f.kind == Kind::Person);
                let today = now().date_naive();
                assert!(c.birthday.is_none_or(|d| d < today));
                assert!(
                    c.wedding_anniversary
                        .is_none_or(|d| d < today && Some(d) > c.birthday)
                );
            }
        }
    }

    #[test]
    fn customers_spread_over_every_branch_and_its_account_managers() {
        let f = flavour::of("retail-store").unwrap();
        let planned = customers(1, f, 40, now());
        let staff = staff();
        for c in &planned {
            let manager = staff
                .iter()
                .find(|s| s.id == c.manager)
                .expect("a staff member");
            assert_eq!(
                (manager.unit, manager.duty),
                (c.branch, Duty::AccountManager)
            );
        }
        let managers: std::collections::BTreeSet<_> = planned.iter().map(|c| &c.manager).collect();
        assert_eq!(managers.len(), 8);
        let numbers: std::collections::BTreeSet<_> =
            planned.iter().map(|c| &c.archive_number).collect();
        assert_eq!(numbers.len(), 40);
    }

    #[test]
    fn designations_and_credit_grades_come_out_near_their_shares() {
        let telecom = flavour::of("telecom-vip").unwrap();
        let planned = customers(5, telecom, 1000, now());
        let diamonds = planned
            .iter()
            .filter(|c| c.standing.as_ref().and_then(|s| s.designated) == Some("diamond"))
            .count();
        assert!((40..=130).contains(&diamonds), "{diamonds} of 1000 at 8%");
        let industrial = flavour::of("industrial-b2b").unwrap();
        assert!(customers(5, industrial, 50, now()).iter().all(|c| {
            c.standing
                .as_ref()
                .is_some_and(|s| s.credit_grade.is_some())
        }));
    }

    #[test]
    fn complaints_cover_every_scenario_and_one_repeat() {
        for n in [20, 61, 300] {
            let planned = complaints(9, n);
            for scenario in Scenario::ALL {
                assert!(
                    planned.iter().any(|c| c.scenario == scenario),
                    "{n}: {scenario:?}"
                );
            }
            let repeats: Vec<_> = planned.iter().filter(|c| c.repeat).collect();
            assert_eq!(repeats.len(), 1);
            assert_eq!(repeats[0].customer, planned[0].customer);
            assert!(planned.iter().all(|c| c.customer < n));
            let firsts: std::collections::BTreeSet<_> = planned
                .iter()
                .filter(|c| !c.repeat)
                .map(|c| c.customer)
                .collect();
            assert_eq!(firsts.len(), planned.len() - 1, "{n}: one complaint each");
        }
    }

    #[test]
    fn staff_hold_the_roles_their_branch_needs() {
        assert_eq!(holder_of("store_manager", "b"), "lead-b");
        assert_eq!(holder_of("responsible_leader", "b"), "lead-b");
        assert_eq!(holder_of("outreach_staff", "b"), "outreach-b");
        assert_eq!(holder_of("outreach_supervisor", "b"), "outreach-b");
        assert_eq!(holder_of("customer_service", "b"), "outreach-b");
        assert_eq!(region_of("guangzhou-tianhe"), "south");
        let staff = staff();
        assert_eq!(staff.len(), 1 + 2 + 4 * 4);
        assert!(staff.iter().all(|s| !s.name.is_empty()));
    }
}
