//! The demo's own small random source (SplitMix64): the same seed gives the
//! same company on every machine and every release, which a library's
//! generator does not promise.

/// A seeded sequence of pseudo-random numbers.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// A generator for one part of the company (`"customers"`,
    /// `"complaints"`…): each part draws from its own sequence, so adding
    /// draws to one part leaves the others as they were.
    pub fn part(seed: u64, part: &str) -> Self {
        let mut mixed = seed;
        for byte in part.bytes() {
            mixed = mix(mixed ^ u64::from(byte));
        }
        Self::new(mixed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.state)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: i64, high: i64) -> i64 {
        debug_assert!(low <= high);
        let span = high.abs_diff(low) + 1;
        low.wrapping_add((self.next_u64() % span) as i64)
    }

    /// A number in `[0, 1)`.
    pub fn fraction(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `percent` in 100.
    pub fn chance(&mut self, percent: u32) -> bool {
        self.next_u64() % 100 < u64::from(percent)
    }

    /// One of `items` (not empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }

    /// A version-4 UUID from the sequence: request ids that repeat with the seed.
    pub fn uuid(&mut self) -> uuid::Uuid {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        uuid::Builder::from_random_bytes(bytes).into_uuid()
    }
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_sequence_and_another_seed_another() {
        let draw = |seed| {
            let mut r = Rng::new(seed);
            (0..5).map(|_| r.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        // SplitMix64's published first output for seed 0.
        assert_eq!(Rng::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
    }

    #[test]
    fn parts_draw_from_sequences_of_their_own() {
        let mut a = Rng::part(1, "customers");
        let mut b = Rng::part(1, "complaints");
        assert_ne!(a.next_u64(), b.next_u64());
        assert_eq!(
            Rng::part(1, "customers").uuid(),
            Rng::part(1, "customers").uuid()
        );
    }

    #[test]
    fn draws_stay_within_their_bounds() {
        let mut r = Rng::new(42);
        for _ in 0..10_000 {
            let n = r.between(-3, 3);
            assert!((-3..=3).contains(&n));
            let f = r.fraction();
            assert!((0.0..1.0).contains(&f));
        }
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[(r.between(-3, 3) + 3) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s), "every value comes up: {seen:?}");
        assert!(!(0..100).any(|_| r.chance(0)));
        assert!((0..100).all(|_| r.chance(100)));
    }
}
