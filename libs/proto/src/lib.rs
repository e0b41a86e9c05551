//! Wire types and gRPC stubs for every Patron contract, generated at build time
//! from `proto/`. Nothing else in the workspace hand-writes a wire type.

/// The encoded `FileDescriptorSet` of every Patron proto and its imports, with
/// custom options (HTTP routes, field behaviour) intact. Serves server
/// reflection and drives the gateway's transcoding and OpenAPI document.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/patron_descriptor.bin"));

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
