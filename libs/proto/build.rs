//! Compiles `proto/` with protox (pure Rust, so no system protoc is needed)
//! and writes two things: the generated Rust, and the raw descriptor set.
//! The raw bytes keep custom options such as `google.api.http`, which prost
//! would drop on a decode/re-encode round trip; the gateway transcodes from them.

use std::path::PathBuf;

use prost::Message;

/// `impl Event` for every message the contract gives a topic (the
/// `patron.common.v1.topic` option), and a constant per topic.
fn event_impls(descriptor_bytes: &[u8]) -> Result<String, Box<dyn std::error::Error>> {
    let pool = prost_reflect::DescriptorPool::decode(descriptor_bytes)?;
    let option = pool
        .get_extension_by_name("patron.common.v1.topic")
        .ok_or("the contract lost its patron.common.v1.topic option")?;
    let mut impls = String::new();
    let mut topics = std::collections::BTreeSet::new();
    for message in pool.all_messages() {
        let options = message.options();
        if !options.has_extension(&option) {
            continue;
        }
        let topic = options.get_extension(&option);
        let topic = topic
            .as_str()
            .ok_or("a topic option that is not a string")?;
        let rust_path = message
            .full_name()
            .strip_prefix("patron.")
            .ok_or("an event outside the patron package")?
            .replace('.', "::");
        impls.push_str(&format!(
            "impl crate::Event for crate::{rust_path} {{\n    const TOPIC: crate::Topic = crate::Topic({topic:?});\n}}\n"
        ));
        topics.insert(topic.to_owned());
    }
    let mut out = String::from(
        "/// Every topic the contract names.\npub mod topics {\n    use crate::Topic;\n",
    );
    for topic in &topics {
        let constant = topic.to_ascii_uppercase().replace(['.', '-'], "_");
        out.push_str(&format!(
            "    pub const {constant}: Topic = Topic({topic:?});\n"
        ));
    }
    out.push_str("}\n");
    out.push_str(&impls);
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest.join("../../proto");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    let files = [
        "patron/common/v1/common.proto",
        "patron/profile/v1/customer.proto",
        "patron/profile/v1/customer_service.proto",
        "patron/profile/v1/transaction.proto",
        "patron/profile/v1/audit.proto",
        "patron/profile/v1/consent.proto",
        "patron/profile/v1/events.proto",
        "patron/profile/v1/organization.proto",
        "patron/tiering/v1/tiering.proto",
        "patron/tiering/v1/points.proto",
        "patron/complaint/v1/complaint.proto",
        "patron/scheduling/v1/scheduling.proto",
    ];

    let mut compiler = protox::Compiler::new([&proto_root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(files)?;
    let descriptor_bytes = compiler.encode_file_descriptor_set();
    std::fs::write(out_dir.join("patron_descriptor.bin"), &descriptor_bytes)?;

    let fds = prost_types::FileDescriptorSet::decode(descriptor_bytes.as_slice())?;
    // Type names let generic code (update masks, events) find a message's
    // descriptor from its Rust type.
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds_with_config(fds, config)?;

    std::fs::write(
        out_dir.join("patron_events.rs"),
        event_impls(&descriptor_bytes)?,
    )?;

    println!("cargo:rerun-if-changed={}", proto_root.display());
    Ok(())
}
