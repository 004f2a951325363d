//! How long operations report progress without printing: the library calls a `Progress` it was
//! given; the CLI decides whether that draws a bar (terminal) or nothing (pipe, `--no-progress`).

pub trait Progress: Sync {
    /// A phase starts: `label`, total bytes and items (0 when unknown).
    fn begin(&self, _label: &str, _total_bytes: u64, _total_items: u64) {}
    /// `n` more bytes were processed in the current phase.
    fn bytes(&self, _n: u64) {}
    /// One more item (file, object) finished in the current phase.
    fn item_done(&self) {}
    /// The phase is over.
    fn end(&self) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}
