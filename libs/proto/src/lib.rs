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

/// Who reads which topic. Subscriptions belong to the contract, like the
/// topics: a producer keeps each entry of a stream until every group that
/// reads the topic has acknowledged it, including a group whose service has
/// not started yet (it would otherwise find the entries the early readers
/// acknowledged already trimmed away).
pub mod readers {
    use crate::{Topic, topics};

    /// A consumer group and the topics it reads.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Reader {
        pub group: &'static str,
        pub topics: &'static [Topic],
    }

    /// Tiering: profile's purchases, archives and directory, and complaint's
    /// complaints and surveys (for the churn early warning).
    pub const TIERING: Reader = Reader {
        group: "tiering",
        topics: &[
            topics::PROFILE_TRANSACTIONS,
            topics::PROFILE_CUSTOMERS,
            topics::PROFILE_DIRECTORY,
            topics::COMPLAINT_COMPLAINTS,
        ],
    };

    /// Complaint: customers, the directory, tiers and the policy in force.
    pub const COMPLAINT: Reader = Reader {
        group: "complaint",
        topics: &[
            topics::PROFILE_CUSTOMERS,
            topics::PROFILE_DIRECTORY,
            topics::TIERING_TIERS,
            topics::TIERING_POLICIES,
        ],
    };

    /// Scheduling: the same facts as complaint, to plan contacts.
    pub const SCHEDULING: Reader = Reader {
        group: "scheduling",
        topics: &[
            topics::PROFILE_CUSTOMERS,
            topics::PROFILE_DIRECTORY,
            topics::TIERING_TIERS,
            topics::TIERING_POLICIES,
        ],
    };

    /// Every consumer group of the suite.
    pub const ALL: &[Reader] = &[TIERING, COMPLAINT, SCHEDULING];

    /// The groups among `readers` that read the topic named `topic`.
    pub fn groups_of<'a>(
        readers: &'a [Reader],
        topic: &'a str,
    ) -> impl Iterator<Item = &'static str> + 'a {
        readers
            .iter()
            .filter(move |r| r.topics.iter().any(|t| t.name() == topic))
            .map(|r| r.group)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn groups_are_named_once_and_read_what_others_publish() {
            let mut groups: Vec<_> = ALL.iter().map(|r| r.group).collect();
            groups.sort();
            groups.dedup();
            assert_eq!(groups.len(), ALL.len());
            for reader in ALL {
                for topic in reader.topics {
                    assert!(
                        !topic.name().starts_with(&format!("{}.", reader.group)),
                        "{} reads its own topic {topic}",
                        reader.group
                    );
                }
            }
            let policies: Vec<_> = groups_of(ALL, "tiering.policies").collect();
            assert_eq!(policies, ["complaint", "scheduling"]);
        }
    }
}

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
