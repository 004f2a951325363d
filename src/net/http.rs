//! How hfgit talks HTTP: one agent setup for the LFS API, storage and the Hub API, with time
//! limits so a server that never answers, or drips, cannot hang a command:
//!
//! | setting | meaning | default |
//! | --- | --- | --- |
//! | `lfs.dialtimeout` | seconds to connect (git-lfs's key) | 30 |
//! | `lfs.activitytimeout` | seconds without a byte before a request fails (git-lfs's key) | 30 |
//! | `http.lowSpeedLimit`, `http.lowSpeedTime` | a body slower than LIMIT bytes/s for TIME seconds fails (git's keys) | 1000, 30 |
//!
//! A failure of any of these is a transfer failure, retried like a dropped connection
//! (`lfs.transfer.maxretries`). The same connect and activity limits are given to libgit2 for
//! git over HTTP. Redirects are never followed by the agent: callers follow them by hand, so
//! that no header or credential crosses to another origin (see `lfs::http`).

use std::io::Read;
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub connect: Duration,
    pub activity: Duration,
    /// Bytes per second; 0 turns the low-speed check off.
    pub low_speed_limit: u64,
    pub low_speed_time: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connect: Duration::from_secs(30),
            activity: Duration::from_secs(30),
            low_speed_limit: 1000,
            low_speed_time: Duration::from_secs(30),
        }
    }
}

impl Limits {
    /// The limits from git config (any scope); bad or missing values keep the defaults.
    pub fn from_config(cfg: &git2::Config) -> Limits {
        let mut l = Limits::default();
        let secs = |k: &str| cfg.get_i64(k).ok().filter(|n| *n > 0).map(|n| Duration::from_secs(n.min(86_400) as u64));
        if let Some(d) = secs("lfs.dialtimeout") {
            l.connect = d;
        }
        if let Some(d) = secs("lfs.activitytimeout") {
            l.activity = d;
        }
        if let Ok(n) = cfg.get_i64("http.lowspeedlimit") {
            l.low_speed_limit = n.max(0) as u64;
        }
        if let Some(d) = secs("http.lowspeedtime") {
            l.low_speed_time = d;
        }
        l
    }

    /// The limits of the user's global git config (for commands outside a repository).
    pub fn global() -> Limits {
        git2::Config::open_default().map(|c| Limits::from_config(&c)).unwrap_or_default()
    }

    /// Gives libgit2 (git over HTTP) the same connect and activity limits. Process-wide.
    pub fn apply_to_libgit2(&self) {
        let ms = |d: Duration| d.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: these only set two integers in libgit2's global options; hfgit sets them
        // before any transfer starts, from one thread.
        unsafe {
            let _ = git2::opts::set_server_connect_timeout_in_milliseconds(ms(self.connect));
            let _ = git2::opts::set_server_timeout_in_milliseconds(ms(self.activity));
        }
    }
}

/// An agent that follows no redirects and gives up on a silent server.
pub fn agent(limits: &Limits) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout_connect(limits.connect)
        .timeout_read(limits.activity)
        .timeout_write(limits.activity.max(Duration::from_secs(60)))
        .redirects(0)
        .max_idle_connections_per_host(64)
        .user_agent(concat!("hfgit/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Reads a response body and fails (`TimedOut`) when, over any window of `low_speed_time`, fewer
/// than `low_speed_limit` bytes per second arrived: a server that drips one byte a second keeps
/// every read short of the activity timeout, and would otherwise hold a transfer for ever.
pub struct LowSpeed<R> {
    inner: R,
    limits: Limits,
    window_start: Instant,
    window_bytes: u64,
}

impl<R: Read> LowSpeed<R> {
    pub fn new(inner: R, limits: Limits) -> LowSpeed<R> {
        LowSpeed { inner, limits, window_start: Instant::now(), window_bytes: 0 }
    }
}

impl<R: Read> Read for LowSpeed<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.limits.low_speed_limit == 0 {
            return Ok(n);
        }
        self.window_bytes += n as u64;
        let elapsed = self.window_start.elapsed();
        if elapsed >= self.limits.low_speed_time {
            let rate = self.window_bytes as f64 / elapsed.as_secs_f64();
            if n > 0 && rate < self.limits.low_speed_limit as f64 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "transfer slower than {} bytes/s for {} s (http.lowSpeedLimit / http.lowSpeedTime); timed out",
                        self.limits.low_speed_limit,
                        self.limits.low_speed_time.as_secs()
                    ),
                ));
            }
            self.window_start = Instant::now();
            self.window_bytes = 0;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Yields one byte per read, sleeping between reads.
    struct Drip(Duration);
    impl Read for Drip {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            std::thread::sleep(self.0);
            buf[0] = b'x';
            Ok(1)
        }
    }

    #[test]
    fn a_drip_fails_after_the_low_speed_time_and_a_fast_body_does_not() {
        let limits = Limits { low_speed_limit: 1000, low_speed_time: Duration::from_millis(200), ..Limits::default() };
        let mut r = LowSpeed::new(Drip(Duration::from_millis(20)), limits);
        let started = Instant::now();
        let mut buf = [0u8; 16];
        let err = loop {
            if let Err(e) = r.read(&mut buf) {
                break e;
            }
            assert!(started.elapsed() < Duration::from_secs(5), "the drip was never cut off");
        };
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
        assert!(err.to_string().contains("slower than 1000 bytes/s"), "{err}");
        let mut fast = LowSpeed::new(std::io::repeat(7).take(10 << 20), limits);
        assert_eq!(std::io::copy(&mut fast, &mut std::io::sink()).unwrap(), 10 << 20);
    }
}
