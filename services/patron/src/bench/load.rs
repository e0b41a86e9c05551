//! A load generator of fixed concurrency: a number of workers, each making
//! one call after another, until the time is up or a count of calls is
//! made. Every call's answer is checked by the call itself; only the
//! successes' latencies are kept, exactly (sorted, not bucketed).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// When the workers stop taking new calls.
#[derive(Debug, Clone, Copy)]
pub enum Bound {
    /// Until this long has passed (calls in flight then still finish).
    For(Duration),
    /// Until this many calls were made, shared among the workers.
    Count(u64),
}

/// Which call a worker is making: its worker (to pick a connection of its
/// own) and the call's number in the whole run (to pick its data).
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub worker: usize,
    pub seq: u64,
}

/// Latencies in ascending order.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut latencies: Vec<Duration>) -> Self {
        latencies.sort_unstable();
        Self(latencies)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The latency at fraction `p` (0.5 for the median), nearest rank;
    /// `None` without any.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        let last = self.0.len().checked_sub(1)?;
        Some(self.0[((last as f64) * p).round() as usize])
    }
}

/// What a run of calls gave.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// The successes'.
    pub latencies: Latencies,
    /// Calls answered with an error (or a wrong answer).
    pub errors: u64,
    /// What the first error said.
    pub first_error: Option<String>,
    /// From the first call to the last answer.
    pub elapsed: Duration,
}

impl Measured {
    /// Successful calls per second.
    pub fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.latencies.len() as f64 / secs
        } else {
            0.0
        }
    }
}

/// Runs `call` from `workers` concurrent workers until `bound`. A call
/// answers `Err` with what was wrong.
pub async fn run<F, Fut>(workers: usize, bound: Bound, call: F) -> Measured
where
    F: Fn(Call) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let call = Arc::new(call);
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers.max(1))
        .map(|worker| {
            let call = call.clone();
            let next = next.clone();
            tokio::spawn(async move {
                let mut mine = Measured::default();
                let mut latencies = Vec::new();
                loop {
                    let seq = next.fetch_add(1, Ordering::Relaxed);
                    let more = match bound {
                        Bound::For(limit) => started.elapsed() < limit,
                        Bound::Count(count) => seq < count,
                    };
                    if !more {
                        break;
                    }
                    let t0 = Instant::now();
                    match call(Call { worker, seq }).await {
                        Ok(()) => latencies.push(t0.elapsed()),
                        Err(why) => {
                            mine.errors += 1;
                            mine.first_error.get_or_insert(why);
                        }
                    }
                }
                (latencies, mine)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut measured = Measured::default();
    for task in tasks {
        match task.await {
            Ok((latencies, mine)) => {
                all.extend(latencies);
                measured.errors += mine.errors;
                if measured.first_error.is_none() {
                    measured.first_error = mine.first_error;
                }
            }
            Err(e) => {
                measured.errors += 1;
                measured
                    .first_error
                    .get_or_insert(format!("a worker failed: {e}"));
            }
        }
    }
    measured.elapsed = started.elapsed();
    measured.latencies = Latencies::new(all);
    measured
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let ms = |n| Duration::from_millis(n);
        let l = Latencies::new((1..=100).rev().map(ms).collect());
        assert_eq!(l.percentile(0.0), Some(ms(1)));
        assert_eq!(l.percentile(0.5), Some(ms(51)));
        assert_eq!(l.percentile(0.99), Some(ms(99)));
        assert_eq!(l.percentile(1.0), Some(ms(100)));
        assert_eq!(Latencies::default().percentile(0.5), None);
    }

    #[tokio::test]
    async fn a_count_is_shared_by_the_workers_and_errors_are_counted_apart() {
        let measured = run(4, Bound::Count(100), |call| async move {
            if call.seq % 10 == 0 {
                Err(format!("call {} refused", call.seq))
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(measured.latencies.len(), 90);
        assert_eq!(measured.errors, 10);
        assert!(measured.first_error.is_some_and(|e| e.ends_with("refused")));
    }

    #[tokio::test]
    async fn a_time_bound_stops_the_workers() {
        let measured = run(2, Bound::For(Duration::from_millis(50)), |_| async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Ok(())
        })
        .await;
        assert!(!measured.latencies.is_empty());
        assert_eq!(measured.errors, 0);
    }
}
