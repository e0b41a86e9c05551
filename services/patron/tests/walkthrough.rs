//! The README's walk-through, run as written: the `bash` block under
//! "## Walk-through" is taken from README.md and run as one script against a
//! suite started here, with this package's `patron` binary, so the
//! walk-through cannot drift from what the suite does. The block stops at
//! the first command that fails (`set -euo pipefail`, every call checked).

use std::path::{Path, PathBuf};
use std::process::Stdio;

use patron_kit::auth::VerificationKeys;
use patron_suite_tests::Suite;

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The first `bash` (or `sh`) code block under the `## Walk-through` heading.
fn walkthrough_block(readme: &str) -> Option<String> {
    let section = readme.split("\n## Walk-through\n").nth(1)?;
    let section = section.split("\n## ").next()?;
    let mut lines = section.lines();
    lines.find(|l| matches!(l.trim(), "```bash" | "```sh"))?;
    let block: Vec<&str> = lines.take_while(|l| l.trim() != "```").collect();
    Some(block.join("\n") + "\n")
}

#[test]
fn the_block_is_found_under_its_heading() {
    let readme = "# P\n\n## Walk-through\n\ntext\n\n```bash\necho one\necho two\n```\n\n## Next\n\n```bash\nno\n```\n";
    assert_eq!(
        walkthrough_block(readme).as_deref(),
        Some("echo one\necho two\n")
    );
    assert_eq!(
        walkthrough_block("## Walk-through\n\nno block\n\n## Next\n```sh\nx\n```\n"),
        None
    );
}

#[tokio::test]
async fn the_readme_walkthrough_runs_as_written() {
    let root = repository_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let script = walkthrough_block(&readme).expect("a bash block under ## Walk-through");

    let suite = Suite::start().await;
    let VerificationKeys::Shared(secret) = &suite.auth_config.keys else {
        panic!("the suite signs tokens with a shared secret");
    };
    let state = std::env::temp_dir().join(format!("patron-walkthrough-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&state).expect("a state directory");
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&root)
        .env("GATEWAY", &suite.base_url)
        .env("PATRON", env!("CARGO_BIN_EXE_patron"))
        .env(
            "NOW",
            suite
                .now()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
        .env("PATRON_PROFILE_URL", &suite.profile_url)
        .env("PATRON_JWT_SECRET", secret.expose())
        .env("PATRON_STATE_DIR", &state)
        .env("WORK", &state)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the walk-through stopped ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    println!("{stdout}\n{stderr}");
    std::fs::remove_dir_all(&state).expect("removing the state directory");
}
