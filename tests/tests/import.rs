//! `patron import` against the running service: files with good and bad
//! rows, in CSV and in Excel; rejected rows leave nothing behind, every
//! problem names its row and column, and a re-run changes nothing.

use std::path::PathBuf;

use patron::import::{self, CellDefaults, Dataset, Options, Report, Target};
use patron_proto::profile::v1 as pb;
use patron_proto::profile::v1::customer_service_client::CustomerServiceClient;
use patron_proto::profile::v1::transaction_service_client::TransactionServiceClient;
use patron_suite_tests::Suite;

fn file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("patron-import-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

async fn target(suite: &Suite) -> Target {
    Target {
        channel: tonic::transport::Endpoint::from_shared(suite.profile_url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap(),
        authorization: format!("Bearer {}", suite.token("admin")),
    }
}

fn options() -> Options {
    Options {
        sheet: None,
        defaults: CellDefaults {
            currency: "CNY".into(),
            zone: chrono_tz::Asia::Shanghai,
        },
        customer_kind: None,
        progress: false,
    }
}

async fn run(suite: &Suite, dataset: Dataset, path: &std::path::Path) -> Report {
    import::run(dataset, path, &target(suite).await, &options())
        .await
        .unwrap()
}

/// (customers, outbox events, change-audit rows): what an import leaves.
async fn footprint(suite: &Suite) -> (i64, i64, i64) {
    let mut conn = suite.db.admin_connection().await;
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM profile.customers),
                (SELECT count(*) FROM profile.outbox),
                (SELECT count(*) FROM profile.change_audit)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// The live customer with `archive_number`, read as the administrator.
async fn by_archive_number(suite: &Suite, archive_number: &str) -> pb::Customer {
    let mut request = tonic::Request::new(pb::ListCustomersRequest {
        archive_number: archive_number.into(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", suite.token("admin")).parse().unwrap(),
    );
    CustomerServiceClient::new(target(suite).await.channel)
        .list_customers(request)
        .await
        .unwrap()
        .into_inner()
        .customers
        .remove(0)
}

fn problems(report: &Report) -> Vec<(usize, &str)> {
    report
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str()))
        .collect()
}

const CUSTOMERS: &str = "\
档案编号,姓名,类型,性别,生日,手机,身份证号,hobbies,organization.current_annual_sales,推荐人
VIP-001,王丽,个人,女,1980-03-08,138-0013-8000,11010519491231002X,tea;golf,,
VIP-002,Broken Phone,person,male,,call me,,,,
VIP-003,Zhang Wei,person,robot,1975-02-30,139 1111 2222,,,,VIP-001
VIP-004,Shanghai Steel,organization,,,,,,\"1,234,567.50\",
VIP-005,No Such Referrer,person,,,,,,,VIP-404
VIP-006,Chen Jing,person,female,03-08,,,,,VIP-001
";

#[tokio::test]
async fn customers_import_good_rows_and_report_bad_ones_by_row_and_column() {
    let suite = Suite::start().await;
    let path = file("customers.csv", CUSTOMERS);
    let report = run(&suite, Dataset::Customers, &path).await;
    assert_eq!(
        (report.rows, report.created, report.rejected),
        (6, 3, 3),
        "{report:?}"
    );
    assert_eq!(
        problems(&report),
        [(3, "手机"), (4, "性别"), (4, "生日"), (6, "推荐人"),]
    );
    assert!(
        report.problems[0].reason.contains("digits"),
        "{:?}",
        report.problems[0]
    );
    // The rejected rows left nothing: three archives, three events, three audits.
    assert_eq!(footprint(&suite).await, (3, 3, 3));

    let mut client = CustomerServiceClient::new(target(&suite).await.channel);
    let found = |number: &str| pb::ListCustomersRequest {
        archive_number: number.into(),
        ..Default::default()
    };
    let token = suite.token("admin");
    let with_token = |message| {
        let mut r = tonic::Request::new(message);
        r.metadata_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        r
    };
    let wang = client
        .list_customers(with_token(found("VIP-001")))
        .await
        .unwrap()
        .into_inner()
        .customers
        .remove(0);
    assert_eq!(wang.display_name, "王丽");
    let person = wang.person.clone().unwrap();
    assert_eq!(person.gender, pb::Gender::Female as i32);
    assert_eq!(person.id_card_number, "11010519491231002X");
    assert_eq!(wang.soft_facts.unwrap().hobbies, ["tea", "golf"]);
    let chen = client
        .list_customers(with_token(found("VIP-006")))
        .await
        .unwrap()
        .into_inner()
        .customers
        .remove(0);
    assert_eq!(chen.referred_by, wang.name, "referrals by archive number");
    assert_eq!(
        chen.person.unwrap().birthday.unwrap().year,
        0,
        "year unknown"
    );
    let steel = client
        .list_customers(with_token(found("VIP-004")))
        .await
        .unwrap()
        .into_inner()
        .customers
        .remove(0);
    assert_eq!(
        steel
            .organization
            .unwrap()
            .current_annual_sales
            .unwrap()
            .amount_minor,
        123_456_750
    );

    // Running the same file again, later, changes nothing.
    suite.clock.advance(chrono::Duration::minutes(5));
    let again = run(&suite, Dataset::Customers, &path).await;
    assert_eq!(
        (again.created, again.unchanged, again.rejected),
        (0, 3, 3),
        "{again:?}"
    );
    assert_eq!(footprint(&suite).await, (3, 3, 3));

    // The report is a CSV a user opens beside the file.
    let report_path = path.with_extension("errors.csv");
    import::write_problems(&report_path, &report.problems).unwrap();
    let written = std::fs::read_to_string(&report_path).unwrap();
    assert!(
        written.starts_with("row,column,reason\n3,手机,"),
        "{written}"
    );
}

#[tokio::test]
async fn a_file_with_an_unknown_column_is_refused_before_any_row() {
    let suite = Suite::start().await;
    let path = file(
        "customers.csv",
        "display_name,kind,shoe_size,create_time\nWang,person,38,2026-01-01\n",
    );
    let report = run(&suite, Dataset::Customers, &path).await;
    assert_eq!(problems(&report), [(1, "shoe_size"), (1, "create_time")]);
    assert_eq!((report.created, report.rejected), (0, 1));
    assert_eq!(footprint(&suite).await.0, 0);
}

/// The kinds of the customers with these archive numbers.
async fn kinds(suite: &Suite, numbers: &[&str]) -> Vec<pb::CustomerKind> {
    let mut kinds = Vec::new();
    for number in numbers {
        kinds.push(by_archive_number(suite, number).await.kind());
    }
    kinds
}

#[tokio::test]
async fn a_sheet_of_a_persons_columns_needs_no_kind_and_the_whole_file_may_be_given_one() {
    let suite = Suite::start().await;
    // The 资料卡's own headers: a person's card, with no kind column.
    let card = file(
        "card.csv",
        "档案编号,姓名,手机,身份证号,生日\nP-1,王丽,138-0013-8000,11010519491231002X,1980-03-08\n",
    );
    let report = run(&suite, Dataset::Customers, &card).await;
    assert_eq!((report.created, report.rejected), (1, 0), "{report:?}");
    assert_eq!(kinds(&suite, &["P-1"]).await, [pb::CustomerKind::Person]);

    // Columns that fit both kinds: refused before any row, saying how to
    // give the kind…
    let plain = file(
        "accounts.csv",
        "档案编号,名称,手机\nO-1,上海钢铁,021-5555-0101\nO-2,华东电力,021-5555-0102\n",
    );
    let report = run(&suite, Dataset::Customers, &plain).await;
    assert_eq!((report.created, report.rejected), (0, 2), "{report:?}");
    assert!(
        report.problems[0].reason.contains("--kind"),
        "{:?}",
        report.problems
    );
    // …which the whole file then takes.
    let options = Options {
        customer_kind: Some(import::CustomerKind::Organization),
        ..options()
    };
    let report = import::run(Dataset::Customers, &plain, &target(&suite).await, &options)
        .await
        .unwrap();
    assert_eq!((report.created, report.rejected), (2, 0), "{report:?}");
    assert_eq!(
        kinds(&suite, &["O-1", "O-2"]).await,
        [pb::CustomerKind::Organization; 2]
    );
}

#[tokio::test]
async fn workbooks_import_like_csv_with_numbers_and_dates_as_typed() {
    let suite = Suite::start().await;
    let dir = std::env::temp_dir().join(format!("patron-import-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("archive.xlsx");
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, header) in [
        "archive_number",
        "display_name",
        "kind",
        "mobile_phone",
        "birthday",
    ]
    .iter()
    .enumerate()
    {
        sheet.write_string(0, col as u16, *header).unwrap();
    }
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    sheet.write_string(1, 0, "X-1").unwrap();
    sheet.write_string(1, 1, "Liu Yang").unwrap();
    sheet.write_string(1, 2, "person").unwrap();
    // Excel keeps a typed phone number as a number.
    sheet.write_number(1, 3, 13_800_138_000.0).unwrap();
    let birthday = rust_xlsxwriter::ExcelDateTime::from_ymd(1990, 7, 1).unwrap();
    sheet
        .write_datetime_with_format(1, 4, &birthday, &date_format)
        .unwrap();
    sheet.write_string(2, 0, "X-2").unwrap();
    sheet.write_string(2, 1, "").unwrap();
    sheet.write_string(2, 2, "person").unwrap();
    workbook.save(&path).unwrap();

    let report = run(&suite, Dataset::Customers, &path).await;
    assert_eq!((report.created, report.rejected), (1, 1), "{report:?}");
    assert_eq!(problems(&report), [(3, "display_name")]);

    let liu = by_archive_number(&suite, "X-1").await;
    assert_eq!(liu.contact.unwrap().mobile_phone, "13800138000");
    let birthday = liu.person.unwrap().birthday.unwrap();
    assert_eq!((birthday.year, birthday.month, birthday.day), (1990, 7, 1));
}

#[tokio::test]
async fn transactions_import_once_per_external_id() {
    let suite = Suite::start().await;
    let customers = file(
        "customers.csv",
        "archive_number,display_name,kind\nVIP-1,Wang Li,person\n",
    );
    assert_eq!(run(&suite, Dataset::Customers, &customers).await.created, 1);
    let transactions = file(
        "transactions.csv",
        "档案编号,交易编号,交易时间,商品,数量,单位,金额,付款方式,kind\n\
         VIP-1,T-1,2026-03-08 14:30,Diesel,2.5,t,\"18,000.00\",转账,\n\
         VIP-1,T-2,2026-03-09,Lubricant,1,barrel,800,cash,refund\n\
         VIP-9,T-3,2026-03-09,Diesel,1,t,100,,\n\
         VIP-1,T-4,tomorrowish,Diesel,1,t,100.123,,\n\
         VIP-1,T-5,2026-03-10,,1,t,100,,\n",
    );
    let report = run(&suite, Dataset::Transactions, &transactions).await;
    assert_eq!((report.created, report.rejected), (2, 3), "{report:?}");
    assert_eq!(
        problems(&report),
        [(4, "档案编号"), (5, "交易时间"), (5, "金额"), (6, "商品")]
    );
    suite.clock.advance(chrono::Duration::minutes(5));
    let again = run(&suite, Dataset::Transactions, &transactions).await;
    assert_eq!((again.created, again.unchanged), (0, 2), "{again:?}");

    let customer = CustomerServiceClient::new(target(&suite).await.channel)
        .list_customers({
            let mut r = tonic::Request::new(pb::ListCustomersRequest {
                archive_number: "VIP-1".into(),
                ..Default::default()
            });
            r.metadata_mut().insert(
                "authorization",
                format!("Bearer {}", suite.token("admin")).parse().unwrap(),
            );
            r
        })
        .await
        .unwrap()
        .into_inner()
        .customers
        .remove(0);
    let mut request = tonic::Request::new(pb::SummarizeTransactionsRequest {
        parent: customer.name,
        ..Default::default()
    });
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", suite.token("admin")).parse().unwrap(),
    );
    let summary = TransactionServiceClient::new(target(&suite).await.channel)
        .summarize_transactions(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!((summary.purchase_count, summary.refund_count), (1, 1));
    let totals = &summary.totals[0];
    assert_eq!(totals.purchased.as_ref().unwrap().amount_minor, 1_800_000);
    assert_eq!(totals.net.as_ref().unwrap().amount_minor, 1_720_000);
}

#[tokio::test]
async fn rows_sent_together_still_find_the_referrers_above_them_and_refuse_a_repeated_number() {
    let suite = Suite::start().await;
    // A chain of referrals longer than the calls in flight, each row naming
    // the one above it, and one archive number given twice.
    let mut csv = String::from("档案编号,姓名,类型,推荐人\n");
    let chain = 2 * import::CONCURRENCY + 3;
    for i in 0..chain {
        let referrer = if i == 0 {
            String::new()
        } else {
            format!("C-{:03}", i - 1)
        };
        csv.push_str(&format!("C-{i:03},Chained {i},person,{referrer}\n"));
    }
    csv.push_str("C-005,Twice,person,\n");
    let report = run(&suite, Dataset::Customers, &file("chain.csv", &csv)).await;
    assert_eq!(
        (report.created, report.rejected),
        (chain, 1),
        "{:?}",
        report.problems
    );
    assert_eq!(
        report.problems.iter().map(|p| p.row).collect::<Vec<_>>(),
        [chain + 2],
        "the later row of the number is the one refused"
    );

    let mut names = Vec::new();
    for i in 0..chain {
        let customer = by_archive_number(&suite, &format!("C-{i:03}")).await;
        assert_eq!(customer.display_name, format!("Chained {i}"));
        if i > 0 {
            assert_eq!(customer.referred_by, names[i - 1], "row {i}'s referrer");
        }
        names.push(customer.name);
    }
}
