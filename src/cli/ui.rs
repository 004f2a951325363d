//! Output policy: data to stdout, everything else to stderr; progress bars only when stderr is a
//! terminal and neither `--quiet` nor `--no-progress` was given.

use hfgit::progress::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

pub struct Ui {
    pub quiet: bool,
    pub verbose: bool,
    bars: bool,
}

/// What hfgit prints on stderr keeps its own line breaks, and nothing else that could drive the
/// terminal: any other control character (an escape sequence a server or a tree slipped into a
/// message) is shown escaped. Text from servers is escaped where it is read as well.
fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control() && c != '\n') {
        return s.into();
    }
    s.split('\n').map(hfgit::net::remote::escape_text).collect::<Vec<_>>().join("\n").into()
}

impl Ui {
    pub fn new(quiet: bool, verbose: bool, no_progress: bool) -> Ui {
        let bars = !quiet && !no_progress && std::io::stderr().is_terminal();
        Ui { quiet, verbose, bars }
    }

    /// A status line on stderr (suppressed by --quiet).
    pub fn status(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", terminal_safe(msg.as_ref()));
        }
    }

    pub fn warn(&self, msg: impl AsRef<str>) {
        eprintln!("warning: {}", terminal_safe(msg.as_ref()));
    }

    pub fn error(&self, e: &hfgit::Error) {
        eprintln!("error: {}", terminal_safe(&e.to_string()));
        if let Some(h) = e.hint() {
            for line in h.lines() {
                eprintln!("hint: {}", terminal_safe(line));
            }
        }
    }

    /// Credential helpers may prompt only when a person is at the terminal.
    pub fn interactive(&self) -> bool {
        std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
    }

    pub fn progress(&self) -> Bar {
        Bar {
            enabled: self.bars,
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bar: Mutex::new(None),
            items: Mutex::new((0, 0)),
            files: Mutex::new(HashMap::new()),
            wait: Mutex::new(None),
        }
    }
}

/// Files at least this large get a bar of their own under the phase's bar.
const FILE_BAR_MIN: u64 = 32 * 1024 * 1024;

/// A `Progress` that draws an indicatif bar per phase (bytes, rate, files done/total) and one
/// per large file in flight, or nothing.
pub struct Bar {
    enabled: bool,
    multi: MultiProgress,
    bar: Mutex<Option<ProgressBar>>,
    items: Mutex<(u64, u64)>,
    files: Mutex<HashMap<String, ProgressBar>>,
    wait: Mutex<Option<ProgressBar>>,
}

impl Progress for Bar {
    fn begin(&self, label: &str, total_bytes: u64, total_items: u64) {
        if !self.enabled {
            return;
        }
        let pb = self.multi.add(ProgressBar::new(total_bytes));
        pb.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} {msg} ({eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_prefix(label.to_string());
        pb.set_message(format!("0/{total_items} files"));
        pb.set_length(total_bytes);
        pb.set_position(0);
        pb.tick();
        *self.bar.lock().expect("bar lock") = Some(pb);
        *self.items.lock().expect("items lock") = (0, total_items);
    }
    fn bytes(&self, n: u64) {
        if let Some(pb) = self.bar.lock().expect("bar lock").as_ref() {
            pb.inc(n);
        }
    }
    fn item_done(&self) {
        if let Some(pb) = self.bar.lock().expect("bar lock").as_ref() {
            let mut it = self.items.lock().expect("items lock");
            it.0 += 1;
            pb.set_message(format!("{}/{} files", it.0, it.1));
        }
    }
    fn end(&self) {
        if let Some(pb) = self.bar.lock().expect("bar lock").take() {
            pb.finish_and_clear();
            self.multi.remove(&pb);
        }
    }
    fn file_started(&self, name: &str, size: u64) {
        if !self.enabled || size < FILE_BAR_MIN {
            return;
        }
        let pb = self.multi.add(ProgressBar::new(size));
        pb.set_style(
            ProgressStyle::with_template("  {msg:<40!} [{bar:25}] {bytes}/{total_bytes} {binary_bytes_per_sec}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        pb.set_message(terminal_safe(name).into_owned());
        pb.tick(); // drawn at once, however fast the file goes
        self.files.lock().expect("files lock").insert(name.to_string(), pb);
    }
    fn file_bytes(&self, name: &str, n: u64) {
        if let Some(pb) = self.files.lock().expect("files lock").get(name) {
            pb.inc(n);
        }
    }
    fn file_finished(&self, name: &str) {
        if let Some(pb) = self.files.lock().expect("files lock").remove(name) {
            pb.finish_and_clear();
            self.multi.remove(&pb);
        }
    }
    fn waiting(&self, why: &str, seconds_left: u64) {
        if !self.enabled {
            return;
        }
        let mut w = self.wait.lock().expect("wait lock");
        if seconds_left == 0 {
            if let Some(pb) = w.take() {
                pb.finish_and_clear();
                self.multi.remove(&pb);
            }
            return;
        }
        let pb = w.get_or_insert_with(|| {
            let pb = self.multi.add(ProgressBar::new_spinner());
            pb.set_style(ProgressStyle::with_template("  {msg}").expect("valid template"));
            pb
        });
        pb.set_message(format!("{}: continuing in {seconds_left} s", terminal_safe(why)));
        pb.tick();
    }
}

/// Human-readable byte counts (binary units).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `s` as a POSIX shell word, for commands printed in hints (quoted only when it needs to be).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%=,".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

pub fn print_json<T: serde::Serialize>(v: &T) {
    println!("{}", serde_json::to_string_pretty(v).expect("serialisable"));
}

/// `YYYY-MM-DD HH:MM:SS +HHMM` in the given offset.
pub fn date(secs: i64, offset_minutes: i32) -> String {
    let t = secs + offset_minutes as i64 * 60;
    let (days, rem) = (t.div_euclid(86400), t.rem_euclid(86400));
    // civil_from_days (Howard Hinnant)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let o = offset_minutes.abs();
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} {sign}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60, o / 60, o % 60)
}
