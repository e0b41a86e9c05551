//! Conversions between chrono times and protobuf timestamps. (The years a
//! business date may fall in are `patron_vocab::calendar`'s.)

use chrono::{DateTime, Utc};

/// The protobuf form of `t`.
pub fn to_proto(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// The chrono form of `t`, or `None` if it is out of range.
pub fn from_proto(t: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    u32::try_from(t.nanos)
        .ok()
        .and_then(|nanos| DateTime::from_timestamp(t.seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        assert_eq!(from_proto(&to_proto(t)), Some(t));
        assert_eq!(
            from_proto(&prost_types::Timestamp {
                seconds: 0,
                nanos: -1
            }),
            None
        );
    }
}
