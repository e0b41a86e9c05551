// `sqlx::migrate!` embeds the migrations at compile time; without this, a
// migration added later is missed by an incremental build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
