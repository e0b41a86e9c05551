//! The sample files the README's walk-through imports (`samples/`), made
//! here so they cannot drift: the test builds them afresh and fails when the
//! committed ones differ (`PATRON_WRITE_SAMPLES=1` writes them instead), and
//! imports them into a running suite to show what the walk-through shows.

use std::path::{Path, PathBuf};

use patron::import::{self, CellDefaults, Dataset, Options, Target};
use patron_suite_tests::Suite;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};

/// The archive workbook's headers: the 资料卡's own (000 §3.3, 003 附表四),
/// with no kind column — the columns are a person's.
const ARCHIVE_HEADERS: [&str; 10] = [
    "档案编号",
    "姓名",
    "性别",
    "生日",
    "手机",
    "身份证号",
    "邮箱",
    "家庭住址",
    "结婚纪念日",
    "个人爱好",
];

/// One archive card: number, name, gender, birthday, mobile, ID card,
/// email, address, wedding anniversary, hobbies.
type Card = (
    &'static str,
    &'static str,
    &'static str,
    (i32, u8, u8),
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Option<(i32, u8, u8)>,
    &'static str,
);

/// The cards; VIP-0003's ID-card number has a wrong check character, the
/// one row the import refuses (and reports).
const CARDS: [Card; 4] = [
    (
        "VIP-0001",
        "张敏",
        "女",
        (1975, 6, 12),
        "139-1000-0001",
        "310104197506121236",
        "zhang.min@example.com",
        "上海市徐汇区漕溪北路 18 号",
        Some((2001, 10, 1)),
        "茶;书法",
    ),
    (
        "VIP-0002",
        "刘洋",
        "男",
        (1982, 9, 17),
        "139 1000 0002",
        "310115198209171230",
        "liu.yang@example.com",
        "上海市浦东新区张杨路 500 号",
        None,
        "高尔夫",
    ),
    (
        "VIP-0003",
        "陈静",
        "女",
        (1988, 2, 14),
        "13910000003",
        "320503198802141234",
        "",
        "苏州市姑苏区人民路 8 号",
        None,
        "瑜伽",
    ),
    (
        "VIP-0004",
        "赵强",
        "男",
        (1990, 5, 20),
        "13910000004",
        "110108199005201235",
        "zhao.qiang@example.com",
        "北京市海淀区中关村大街 1 号",
        Some((2018, 5, 20)),
        "钓鱼;摄影",
    ),
];

/// Purchases of the imported customers, all before the earliest day the
/// suite's tests run at (so none is "in the future" at any of them).
const SALES: &str = "\
档案编号,交易编号,日期,商品,数量,单位,金额
VIP-0001,S-2026-0001,2026-03-02,体检套餐,1,套,1280.00
VIP-0001,S-2026-0002,2026-04-18,保健品,2,盒,360.00
VIP-0002,S-2026-0003,2026-05-06,体检套餐,1,套,980.00
VIP-0004,S-2026-0004,2026-05-30,理疗,3,次,450.00
";

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

fn date((year, month, day): (i32, u8, u8)) -> ExcelDateTime {
    ExcelDateTime::from_ymd(year as u16, month, day).expect("a date")
}

/// The archive workbook's bytes: dates typed as dates, one mobile number
/// typed as a number (as Excel keeps it), a fixed creation time so the same
/// cards give the same bytes.
fn archive_workbook() -> Vec<u8> {
    let mut workbook = Workbook::new();
    workbook.set_properties(
        &DocProperties::new()
            .set_title("客户资料卡")
            .set_creation_datetime(&date((2026, 1, 1))),
    );
    let sheet = workbook.add_worksheet();
    sheet.set_name("资料卡").expect("a sheet name");
    let bold = Format::new().set_bold();
    let day = Format::new().set_num_format("yyyy-mm-dd");
    for (col, header) in ARCHIVE_HEADERS.iter().enumerate() {
        sheet
            .write_string_with_format(0, col as u16, *header, &bold)
            .expect("a header");
    }
    for (i, card) in CARDS.iter().enumerate() {
        let row = i as u32 + 1;
        let (number, name, gender, birthday, mobile, id_card, email, address, wedding, hobbies) =
            *card;
        let text = [
            (0, number),
            (1, name),
            (2, gender),
            (5, id_card),
            (6, email),
            (7, address),
            (9, hobbies),
        ];
        for (col, value) in text {
            sheet.write_string(row, col, value).expect("a cell");
        }
        sheet
            .write_datetime_with_format(row, 3, date(birthday), &day)
            .expect("a birthday");
        match mobile.parse::<f64>() {
            Ok(number) => sheet.write_number(row, 4, number),
            Err(_) => sheet.write_string(row, 4, mobile),
        }
        .expect("a mobile number");
        if let Some(wedding) = wedding {
            sheet
                .write_datetime_with_format(row, 8, date(wedding), &day)
                .expect("an anniversary");
        }
    }
    sheet.autofit();
    workbook.save_to_buffer().expect("the workbook")
}

/// Compares `bytes` with the committed `samples/name`, or writes it when
/// `PATRON_WRITE_SAMPLES` is set.
fn check_sample(name: &str, bytes: &[u8]) {
    let path = samples_dir().join(name);
    if std::env::var_os("PATRON_WRITE_SAMPLES").is_some() {
        std::fs::write(&path, bytes).expect("writing the sample");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == bytes,
        "samples/{name} differs from what tests/tests/samples.rs makes: \
         run `PATRON_WRITE_SAMPLES=1 cargo test -p patron-suite-tests --test samples` and commit it"
    );
}

#[test]
fn the_committed_samples_are_what_the_generator_makes() {
    check_sample("archive.xlsx", &archive_workbook());
    check_sample("sales.csv", SALES.as_bytes());
}

#[tokio::test]
async fn the_samples_import_with_the_one_bad_card_reported() {
    let suite = Suite::start().await;
    let target = Target {
        channel: tonic::transport::Endpoint::from_shared(suite.profile_url.clone())
            .unwrap()
            .connect()
            .await
            .unwrap(),
        authorization: format!("Bearer {}", suite.token("admin")),
    };
    let options = Options {
        sheet: None,
        defaults: CellDefaults {
            currency: "CNY".into(),
            zone: chrono_tz::Asia::Shanghai,
        },
        customer_kind: None,
        progress: false,
    };
    let dir = std::env::temp_dir().join(format!("patron-samples-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let archive = dir.join("archive.xlsx");
    std::fs::write(&archive, archive_workbook()).unwrap();
    let report = import::run(Dataset::Customers, &archive, &target, &options)
        .await
        .unwrap();
    assert_eq!((report.rows, report.created, report.rejected), (4, 3, 1));
    let problems: Vec<(usize, &str, &str)> = report
        .problems
        .iter()
        .map(|p| (p.row, p.column.as_str(), p.reason.as_str()))
        .collect();
    assert_eq!(
        problems,
        [(4, "身份证号", "check character does not match")],
        "VIP-0003, the workbook's fourth row"
    );

    let sales = dir.join("sales.csv");
    std::fs::write(&sales, SALES).unwrap();
    let report = import::run(Dataset::Transactions, &sales, &target, &options)
        .await
        .unwrap();
    assert_eq!((report.created, report.rejected), (4, 0), "{report:?}");
}
