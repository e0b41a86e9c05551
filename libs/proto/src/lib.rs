//! Wire types and gRPC stubs for every Patron contract, generated at build time
//! from `proto/`. Nothing else in the workspace hand-writes a wire type.

/// The encoded `FileDescriptorSet` of every Patron proto and its imports, with
/// custom options (HTTP routes, field behaviour) intact. Serves server
/// reflection and drives the gateway's transcoding and OpenAPI document.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/patron_descriptor.bin"));

/// A stream of events, as the contract names it (the `patron.common.v1.topic`
/// option of each event message). Only the contract makes topics, so a
/// consumer cannot subscribe to a misspelled one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Topic(&'static str);

impl Topic {
    /// The topic's name, e.g. `profile.customers`.
    pub const fn name(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// An event message and the topic the contract sends it on, so an event
/// cannot be published to the wrong one.
pub trait Event: prost::Message + prost::Name + Default {
    const TOPIC: Topic;
}

include!(concat!(env!("OUT_DIR"), "/patron_events.rs"));

pub mod google {
    pub mod api {
        tonic::include_proto!("google.api");
    }
}

pub mod common {
    pub mod v1 {
        tonic::include_proto!("patron.common.v1");
    }
}

pub mod profile {
    pub mod v1 {
        tonic::include_proto!("patron.profile.v1");
    }
}

pub mod tiering {
    pub mod v1 {
        tonic::include_proto!("patron.tiering.v1");
    }
}

pub mod complaint {
    pub mod v1 {
        tonic::include_proto!("patron.complaint.v1");
    }
}

pub mod scheduling {
    pub mod v1 {
        tonic::include_proto!("patron.scheduling.v1");
    }
}
