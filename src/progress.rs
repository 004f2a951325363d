//! How long operations report progress without printing: the library calls a `Progress` it was
//! given; the CLI decides whether that draws bars (terminal) or nothing (pipe, `--no-progress`).

pub trait Progress: Sync {
    /// A phase starts: `label`, total bytes and items (0 when unknown).
    fn begin(&self, _label: &str, _total_bytes: u64, _total_items: u64) {}
    /// `n` more bytes were processed in the current phase.
    fn bytes(&self, _n: u64) {}
    /// One more item (file, object) finished in the current phase.
    fn item_done(&self) {}
    /// The phase is over.
    fn end(&self) {}
    /// One file of `size` bytes starts (so large ones can get their own bar).
    fn file_started(&self, _name: &str, _size: u64) {}
    /// `n` more bytes of that file.
    fn file_bytes(&self, _name: &str, _n: u64) {}
    /// That file is done (or given up).
    fn file_finished(&self, _name: &str) {}
    /// Waiting because the server asked to (a rate limit): `why`, and `seconds_left` (0: the wait
    /// is over). Called about once a second.
    fn waiting(&self, _why: &str, _seconds_left: u64) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}

/// The progress of one file: its bytes count for the phase and for the file's own bar.
pub struct FileProgress<'a> {
    parent: &'a dyn Progress,
    name: String,
}

impl<'a> FileProgress<'a> {
    pub fn new(parent: &'a dyn Progress, name: &str, size: u64) -> FileProgress<'a> {
        parent.file_started(name, size);
        FileProgress { parent, name: name.to_string() }
    }
}

impl Progress for FileProgress<'_> {
    fn bytes(&self, n: u64) {
        self.parent.bytes(n);
        self.parent.file_bytes(&self.name, n);
    }
    fn item_done(&self) {
        self.parent.item_done();
    }
    fn waiting(&self, why: &str, seconds_left: u64) {
        self.parent.waiting(why, seconds_left);
    }
}

impl Drop for FileProgress<'_> {
    fn drop(&mut self) {
        self.parent.file_finished(&self.name);
    }
}
