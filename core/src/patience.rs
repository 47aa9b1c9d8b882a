//! How long drag waits for a registry: for response headers, for the next bytes of a body,
//! and for a body that trickles.
//!
//! A silence timeout alone does not bound a transfer: a server sending one byte every 20
//! seconds resets it forever. So, like curl's `--speed-limit`/`--speed-time`, a body that
//! averages under [`LowSpeed::bytes_per_sec`] over [`LowSpeed::time`] is stalled too. Blob
//! downloads answer a stall by resuming with a Range request (and fail after the retries);
//! small bodies (manifests, configs, tokens, tag lists) fail.

use std::fmt;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use tokio::time::Instant;

/// The waiting limits for every request of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Patience {
    /// From sending a request (connecting included) to its response headers.
    pub header_timeout: Duration,
    /// How long a body may stay silent.
    pub read_timeout: Duration,
    /// The slowest a body may be.
    pub low_speed: LowSpeed,
}

/// The minimum-throughput rule: under `bytes_per_sec` averaged over `time` is a stall.
/// `bytes_per_sec == 0` turns the rule off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LowSpeed {
    /// The minimum average speed.
    pub bytes_per_sec: u64,
    /// The window it is averaged over.
    pub time: Duration,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            // Generous: a pull-through cache may fetch a whole blob upstream before answering.
            header_timeout: Duration::from_secs(120),
            read_timeout: Duration::from_secs(30),
            low_speed: LowSpeed {
                bytes_per_sec: 1024,
                time: Duration::from_secs(60),
            },
        }
    }
}

/// Why a body was given up on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Stall {
    /// Nothing arrived for this long.
    Silent(Duration),
    /// Only `bytes` arrived in `over`, under the `limit` bytes per second.
    TooSlow {
        bytes: u64,
        over: Duration,
        limit: u64,
    },
}

impl fmt::Display for Stall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stall::Silent(d) => write!(f, "no data for {} s (--read-timeout)", d.as_secs()),
            Stall::TooSlow { bytes, over, limit } => write!(
                f,
                "only {bytes} bytes in {} s, under {limit} bytes/s (--low-speed-limit)",
                over.as_secs()
            ),
        }
    }
}

/// Watches one body: hands out its chunks, and a [`Stall`] when it goes silent or slow.
pub(crate) struct BodyWatch {
    patience: Patience,
    window_start: Instant,
    window_bytes: u64,
}

impl BodyWatch {
    /// Starts the clock: call just before reading the body.
    pub fn new(patience: Patience) -> BodyWatch {
        BodyWatch {
            patience,
            window_start: Instant::now(),
            window_bytes: 0,
        }
    }

    /// The next item of `body` (None at its end), or the stall that ended the wait.
    pub async fn next<S, T, E>(&mut self, body: &mut S) -> Result<Option<Result<T, E>>, Stall>
    where
        S: Stream<Item = Result<T, E>> + Unpin,
        T: AsRef<[u8]>,
    {
        let silent_until = later(Instant::now(), self.patience.read_timeout);
        loop {
            let deadline = match self.window_end() {
                Some(end) => end.min(silent_until),
                None => silent_until,
            };
            match tokio::time::timeout_at(deadline, body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    self.window_bytes = self
                        .window_bytes
                        .saturating_add(chunk.as_ref().len() as u64);
                    self.check_window()?;
                    return Ok(Some(Ok(chunk)));
                }
                Ok(other) => return Ok(other),
                Err(_) if Instant::now() >= silent_until => {
                    return Err(Stall::Silent(self.patience.read_timeout))
                }
                Err(_) => self.check_window()?,
            }
        }
    }

    fn window_end(&self) -> Option<Instant> {
        let rule = self.patience.low_speed;
        (rule.bytes_per_sec > 0).then(|| later(self.window_start, rule.time))
    }

    /// At the end of each window: too few bytes is a stall, enough starts the next window.
    fn check_window(&mut self) -> Result<(), Stall> {
        let rule = self.patience.low_speed;
        let over = self.window_start.elapsed();
        if rule.bytes_per_sec == 0 || over < rule.time {
            return Ok(());
        }
        let needed = (rule.bytes_per_sec as f64) * over.as_secs_f64();
        if (self.window_bytes as f64) < needed {
            return Err(Stall::TooSlow {
                bytes: self.window_bytes,
                over,
                limit: rule.bytes_per_sec,
            });
        }
        self.window_start = Instant::now();
        self.window_bytes = 0;
        Ok(())
    }
}

/// `start + d`, or about a century on for a `d` too long to add (`--read-timeout 2^64-1`).
fn later(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d)
        .or_else(|| start.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(start)
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn patience(read: Duration, limit: u64, time: Duration) -> Patience {
        Patience {
            header_timeout: Duration::from_secs(60),
            read_timeout: read,
            low_speed: LowSpeed {
                bytes_per_sec: limit,
                time,
            },
        }
    }

    /// `len` bytes every `every`, forever.
    fn drip(every: Duration, len: usize) -> impl Stream<Item = Result<Vec<u8>, ()>> + Unpin {
        Box::pin(stream::unfold((), move |()| async move {
            tokio::time::sleep(every).await;
            Some((Ok(vec![b'x'; len]), ()))
        }))
    }

    #[tokio::test]
    async fn a_drip_that_beats_the_read_timeout_is_stopped_by_the_speed_rule() {
        let mut body = drip(ms(100), 1);
        let mut watch = BodyWatch::new(patience(ms(300), 1024, ms(600)));
        let started = Instant::now();
        let stall = loop {
            match watch.next(&mut body).await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("a drip never ends"),
                Err(s) => break s,
            }
        };
        assert!(
            matches!(stall, Stall::TooSlow { bytes, .. } if bytes <= 7),
            "{stall:?}"
        );
        let took = started.elapsed();
        assert!(took >= ms(600) && took < ms(1500), "{took:?}");
    }

    #[tokio::test]
    async fn without_the_speed_rule_only_silence_stops_a_body() {
        let mut body = drip(ms(20), 1);
        let mut watch = BodyWatch::new(patience(ms(300), 0, ms(100)));
        for _ in 0..30 {
            assert!(watch.next(&mut body).await.unwrap().is_some());
        }
        let mut silent = drip(ms(5_000), 1);
        let mut watch = BodyWatch::new(patience(ms(200), 0, ms(100)));
        let started = Instant::now();
        assert_eq!(
            watch.next(&mut silent).await.unwrap_err(),
            Stall::Silent(ms(200))
        );
        assert!(started.elapsed() < ms(1000));
    }

    #[tokio::test]
    async fn limits_too_long_to_add_to_a_clock_mean_no_limit() {
        let mut body = drip(ms(10), 1);
        let mut watch = BodyWatch::new(patience(Duration::MAX, 1, Duration::MAX));
        for _ in 0..3 {
            assert!(watch.next(&mut body).await.unwrap().is_some());
        }
    }

    #[tokio::test]
    async fn a_fast_body_passes_window_after_window() {
        // 1 KiB every 10 ms is 100 KiB/s, well over 1 KiB/s, for 3 windows of 200 ms.
        let mut body = drip(ms(10), 1024);
        let mut watch = BodyWatch::new(patience(ms(300), 1024, ms(200)));
        let started = Instant::now();
        while started.elapsed() < ms(600) {
            assert!(watch.next(&mut body).await.unwrap().is_some());
        }
    }
}
