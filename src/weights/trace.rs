//! What loading a pickle imports, read as CPython's C unpickler (`Modules/_pickle.c`) reads it,
//! without executing anything and without holding the pickle in memory.
//!
//! The scanner's parser must accept everything CPython accepts, or whatever follows the point
//! where they part is hidden from it. So each opcode takes its arguments by CPython's rules
//! (base-0 `int()` and `strtol` for INT/LONG, base-10 keys for PUT/GET, `surrogatepass` UTF-8
//! for BINUNICODE, raw-unicode-escape for UNICODE, Python escapes for STRING, the C float
//! grammar for FLOAT), the stack has CPython's MARK fences, and the memo its key rules
//! (MEMOIZE uses the number of keys set). Values are tracked only as far as the scan needs:
//! their kind (a str, a list, an object some call returned…) and, for short strings, their text
//! (STACK_GLOBAL takes its module and name from the stack). Where CPython's outcome depends on
//! values hfgit does not track, the tracer goes on (it sees more, never less): it stops only
//! where CPython's unpickler certainly stops too.
//!
//! Cost: one pass, O(1) work per input byte; memory is bounded by the constants below whatever
//! the input (a pickle that needs more is reported as too complex to scan, which the scanner
//! counts as dangerous).

use super::compat::fix_import;
use super::pickle::Import;
use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

/// Values and marks on the stack.
pub const MAX_STACK: usize = 1 << 20;
/// Memo entries.
pub const MAX_MEMO: usize = 2 << 20;
/// Memo entries at keys far from the others (kept in a hash map).
pub const MAX_SPARSE_MEMO: usize = 1 << 16;
/// Strings whose text is kept, and their total size; longer or further strings are known to be
/// strings, without their text.
pub const MAX_STRINGS: usize = 256 << 10;
pub const MAX_STRING_BYTES: usize = 8 << 20;
/// The longest string kept (no module or name is longer).
pub const MAX_NAME: usize = 1024;
/// The longest protocol-0 text line read.
pub const MAX_LINE: usize = 1 << 20;
/// Distinct imports listed; distinct (module, name) string pairs STACK_GLOBAL may combine.
pub const MAX_IMPORTS: usize = 4096;
pub const MAX_PAIRS: usize = 1 << 16;

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{0}")]
    Io(#[from] io::Error),
    /// CPython's unpickler stops here too.
    #[error("at byte {at}: {what}")]
    Bad { at: u64, what: String },
    /// hfgit gave up (a resource bound); CPython might go on.
    #[error("at byte {at}: {what}")]
    Limit { at: u64, what: String },
}

/// A byte stream with its total length known (a file, a zip entry's declared size).
pub struct Stream<R> {
    r: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Absolute offset of `buf[start]`.
    pos: u64,
    /// Absolute offset where the stream ends.
    total: u64,
}

const BUF: usize = 64 << 10;

impl<R: Read> Stream<R> {
    /// `r` yields the bytes from absolute offset `start` up to `total`.
    pub fn new(r: R, start: u64, total: u64) -> Stream<R> {
        Stream { r, buf: vec![0; BUF], start: 0, end: 0, pos: start, total }
    }

    pub fn pos(&self) -> u64 {
        self.pos
    }

    pub fn remaining(&self) -> u64 {
        self.total.saturating_sub(self.pos)
    }

    /// Makes at least one byte available; false at the end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.start < self.end {
            return Ok(true);
        }
        if self.pos >= self.total {
            return Ok(false);
        }
        let want = (self.total - self.pos).min(BUF as u64) as usize;
        loop {
            match self.r.read(&mut self.buf[..want]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.start = 0;
                    self.end = n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn at_end(&mut self) -> io::Result<bool> {
        Ok(!self.fill()?)
    }

    fn truncated(&self) -> TraceError {
        TraceError::Bad { at: self.pos, what: "pickle data was truncated".into() }
    }

    fn byte(&mut self) -> Result<u8, TraceError> {
        if !self.fill()? {
            return Err(self.truncated());
        }
        let b = self.buf[self.start];
        self.start += 1;
        self.pos += 1;
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], TraceError> {
        let mut a = [0u8; N];
        for b in &mut a {
            *b = self.byte()?;
        }
        Ok(a)
    }

    /// Consumes `n` bytes, handing each chunk to `f`.
    fn take(&mut self, n: u64, f: &mut dyn FnMut(&[u8])) -> Result<(), TraceError> {
        if n > self.remaining() {
            return Err(self.truncated());
        }
        let mut left = n;
        while left > 0 {
            if !self.fill()? {
                return Err(self.truncated());
            }
            let k = ((self.end - self.start) as u64).min(left) as usize;
            f(&self.buf[self.start..self.start + k]);
            self.start += k;
            self.pos += k as u64;
            left -= k as u64;
        }
        Ok(())
    }

    /// The next `n` bytes (a format header before the pickle), at most 64 KiB.
    pub fn bytes(&mut self, n: usize) -> Result<Vec<u8>, TraceError> {
        let mut out = Vec::new();
        self.take(n.min(64 << 10) as u64, &mut |c| out.extend_from_slice(c))?;
        Ok(out)
    }

    /// A text line with its newline (CPython requires the newline).
    fn line(&mut self, out: &mut Vec<u8>) -> Result<(), TraceError> {
        out.clear();
        loop {
            if !self.fill()? {
                return Err(self.truncated());
            }
            let chunk = &self.buf[self.start..self.end];
            let (k, done) = match chunk.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (chunk.len(), false),
            };
            if out.len() + k > MAX_LINE {
                return Err(TraceError::Limit { at: self.pos, what: format!("a text line longer than {} MiB", MAX_LINE >> 20) });
            }
            out.extend_from_slice(&chunk[..k]);
            self.start += k;
            self.pos += k as u64;
            if done {
                return Ok(());
            }
        }
    }
}

/// What the tracer knows of a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    None,
    Bool,
    Int,
    Float,
    /// A str; its text when kept (`strings[i]`, [`NOT_KEPT`] otherwise).
    Str(u32),
    Bytes,
    ByteArray,
    Tuple,
    List,
    Dict,
    Set,
    FrozenSet,
    /// Anything a global, a call or a persistent id produced: could be any object.
    Object,
}

/// The text of a `Kind::Str` that was not kept.
const NOT_KEPT: u32 = u32::MAX;

/// What a traced pickle did.
#[derive(Debug, Default)]
pub struct Traced {
    /// Every import performed, once each, in order.
    pub imports: Vec<Import>,
    /// Imports, calls, persistent ids, extension codes, methods of unknown objects: anything
    /// beyond building plain data.
    pub effects: usize,
}

struct Machine {
    stack: Vec<Kind>,
    marks: Vec<usize>,
    dense: Vec<Option<Kind>>,
    sparse: HashMap<u64, Kind>,
    memo_len: u64,
    strings: Vec<Box<str>>,
    string_bytes: usize,
    seen: HashSet<Import>,
    pairs: HashSet<(u32, u32)>,
    proto: u8,
    out: Traced,
    line: Vec<u8>,
}

/// Traces one pickle from the stream's position to its STOP, leaving the stream after it.
/// Returns what it did, and the error if it did not reach STOP.
pub fn trace<R: Read>(s: &mut Stream<R>) -> (Traced, Result<(), TraceError>) {
    let mut m = Machine {
        stack: Vec::new(),
        marks: Vec::new(),
        dense: Vec::new(),
        sparse: HashMap::new(),
        memo_len: 0,
        strings: Vec::new(),
        string_bytes: 0,
        seen: HashSet::new(),
        pairs: HashSet::new(),
        proto: 0,
        out: Traced::default(),
        line: Vec::new(),
    };
    let r = m.run(s);
    (m.out, r)
}

fn bad<T>(at: u64, what: impl Into<String>) -> Result<T, TraceError> {
    Err(TraceError::Bad { at, what: what.into() })
}

fn limit<T>(at: u64, what: impl Into<String>) -> Result<T, TraceError> {
    Err(TraceError::Limit { at, what: what.into() })
}

impl Machine {
    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn push(&mut self, k: Kind, at: u64) -> Result<(), TraceError> {
        if self.stack.len() + self.marks.len() >= MAX_STACK {
            return limit(at, format!("more than {MAX_STACK} values on the stack"));
        }
        self.stack.push(k);
        Ok(())
    }

    fn underflow<T>(at: u64) -> Result<T, TraceError> {
        bad(at, "unpickling stack underflow")
    }

    fn pop(&mut self, at: u64) -> Result<Kind, TraceError> {
        if self.stack.len() <= self.fence() {
            return Self::underflow(at);
        }
        Ok(self.stack.pop().unwrap())
    }

    fn top(&self, at: u64) -> Result<Kind, TraceError> {
        if self.stack.len() <= self.fence() {
            return Self::underflow(at);
        }
        Ok(*self.stack.last().unwrap())
    }

    /// Pops the topmost MARK; returns the stack length it marked.
    fn marker(&mut self, at: u64) -> Result<usize, TraceError> {
        self.marks.pop().map_or_else(|| bad(at, "could not find MARK"), Ok)
    }

    /// A kept string, or a string known only by kind.
    fn string(&mut self, text: Option<String>) -> Kind {
        match text {
            Some(t) if t.len() <= MAX_NAME && self.strings.len() < MAX_STRINGS && self.string_bytes + t.len() <= MAX_STRING_BYTES => {
                self.string_bytes += t.len();
                self.strings.push(t.into_boxed_str());
                Kind::Str((self.strings.len() - 1) as u32)
            }
            _ => Kind::Str(NOT_KEPT),
        }
    }

    fn import(&mut self, module: String, name: String, at: u64) -> Result<(), TraceError> {
        let (module, name) = if self.proto < 3 { fix_import(&module, &name).unwrap_or((module, name)) } else { (module, name) };
        let imp = Import { module, name };
        self.out.effects += 1;
        if !self.seen.contains(&imp) {
            if self.seen.len() >= MAX_IMPORTS {
                return limit(at, format!("more than {MAX_IMPORTS} distinct imports"));
            }
            self.seen.insert(imp.clone());
            self.out.imports.push(imp);
        }
        Ok(())
    }

    fn memo_put(&mut self, key: u64, at: u64) -> Result<(), TraceError> {
        let v = self.top(at)?;
        let new = if (key as usize as u64) == key && (key as usize) < self.dense.len() {
            self.dense[key as usize].replace(v).is_none()
        } else if key < (self.dense.len() as u64) * 2 + 1024 && (key as usize) < MAX_MEMO {
            self.dense.resize(key as usize + 1, None);
            self.dense[key as usize] = Some(v);
            true
        } else {
            if self.sparse.len() >= MAX_SPARSE_MEMO && !self.sparse.contains_key(&key) {
                return limit(at, format!("more than {MAX_SPARSE_MEMO} scattered memo keys"));
            }
            self.sparse.insert(key, v).is_none()
        };
        if new {
            self.memo_len += 1;
            if self.memo_len as usize > MAX_MEMO + MAX_SPARSE_MEMO {
                return limit(at, format!("more than {MAX_MEMO} memo entries"));
            }
        }
        Ok(())
    }

    fn memo_get(&mut self, key: u64, at: u64) -> Result<(), TraceError> {
        let v = match self.dense.get(key as usize) {
            Some(Some(v)) if (key as usize as u64) == key => Some(*v),
            _ => self.sparse.get(&key).copied(),
        };
        match v {
            Some(v) => self.push(v, at),
            None => bad(at, format!("Memo value not found at index {key}")),
        }
    }

    fn read_line(&mut self, s: &mut Stream<impl Read>, min: usize) -> Result<Vec<u8>, TraceError> {
        let mut line = std::mem::take(&mut self.line);
        s.line(&mut line)?;
        if line.len() < min {
            self.line = line;
            return bad(s.pos(), "pickle data was truncated");
        }
        line.pop(); // the newline
        Ok(line)
    }

    fn give_back(&mut self, line: Vec<u8>) {
        self.line = line;
    }

    /// Reads `n` bytes of a string argument: the bytes when short enough to keep, and whether
    /// they are valid `surrogatepass` UTF-8 (checked over all of them).
    fn counted(&mut self, s: &mut Stream<impl Read>, n: u64, utf8: bool) -> Result<(Option<Vec<u8>>, bool), TraceError> {
        let mut kept = (n as usize <= MAX_NAME * 4).then(|| Vec::with_capacity(n as usize));
        let mut check = Utf8::default();
        s.take(n, &mut |chunk| {
            if utf8 {
                check.feed(chunk);
            }
            if let Some(k) = kept.as_mut() {
                k.extend_from_slice(chunk);
            }
        })?;
        let ok = !utf8 || check.finish();
        if let Some(k) = kept.as_mut() {
            if k.len() > MAX_NAME * 4 {
                kept = None;
            }
        }
        Ok((kept, ok))
    }

    fn run(&mut self, s: &mut Stream<impl Read>) -> Result<(), TraceError> {
        loop {
            let at = s.pos();
            let op = s.byte()?;
            match op {
                b'.' => {
                    self.pop(at)?;
                    return Ok(());
                }
                0x80 => {
                    let p = s.byte()?;
                    if p > 5 {
                        return bad(at, format!("unsupported pickle protocol: {p}"));
                    }
                    self.proto = p;
                }
                0x95 => {
                    let n = u64::from_le_bytes(s.array()?);
                    if n > isize::MAX as u64 {
                        return bad(at, "FRAME length exceeds system's maximum");
                    }
                    if n > s.remaining() {
                        return bad(at, "pickle data was truncated (FRAME longer than the data)");
                    }
                }
                _ => self.step(op, at, s)?,
            }
        }
    }

    fn step(&mut self, op: u8, at: u64, s: &mut Stream<impl Read>) -> Result<(), TraceError> {
        use Kind::*;
        match op {
            b'(' => {
                if self.stack.len() + self.marks.len() >= MAX_STACK {
                    return limit(at, format!("more than {MAX_STACK} values on the stack"));
                }
                self.marks.push(self.stack.len());
            }
            b'0' => {
                if self.marks.last() == Some(&self.stack.len()) {
                    self.marks.pop();
                } else {
                    self.pop(at)?;
                }
            }
            b'1' => {
                let i = self.marker(at)?;
                self.stack.truncate(i);
            }
            b'2' => {
                let v = self.top(at)?;
                self.push(v, at)?;
            }
            b'N' => self.push(None, at)?,
            0x88 | 0x89 => self.push(Bool, at)?,
            b'J' => {
                s.array::<4>()?;
                self.push(Int, at)?
            }
            b'K' => {
                s.byte()?;
                self.push(Int, at)?
            }
            b'M' => {
                s.array::<2>()?;
                self.push(Int, at)?
            }
            0x8a => {
                let n = s.byte()? as u64;
                s.take(n, &mut |_| {})?;
                self.push(Int, at)?
            }
            0x8b => {
                let n = i32::from_le_bytes(s.array()?);
                if n < 0 {
                    return bad(at, "LONG pickle has negative byte count");
                }
                s.take(n as u64, &mut |_| {})?;
                self.push(Int, at)?
            }
            b'I' => {
                let line = self.read_line(s, 2)?;
                let ok = strtol_base0(&line) || py_int(&line, 0).is_some();
                self.give_back(line);
                if !ok {
                    return bad(at, "could not convert string to int (INT)");
                }
                self.push(Int, at)?
            }
            b'L' => {
                let mut line = self.read_line(s, 2)?;
                if line.last() == Some(&b'L') {
                    line.pop();
                }
                let ok = py_int(&line, 0).is_some();
                self.give_back(line);
                if !ok {
                    return bad(at, "invalid literal for int() (LONG)");
                }
                self.push(Int, at)?
            }
            b'F' => {
                let line = self.read_line(s, 2)?;
                let ok = c_float(&line);
                self.give_back(line);
                if !ok {
                    return bad(at, "could not convert string to float");
                }
                self.push(Float, at)?
            }
            b'G' => {
                s.array::<8>()?;
                self.push(Float, at)?
            }
            b'S' => {
                let line = self.read_line(s, 2)?;
                let quoted = line.len() >= 2 && line[0] == line[line.len() - 1] && (line[0] == b'\'' || line[0] == b'"');
                if !quoted {
                    self.give_back(line);
                    return bad(at, "the STRING opcode argument must be quoted");
                }
                let decoded = escape_decode(&line[1..line.len() - 1]);
                self.give_back(line);
                match decoded {
                    Ok(b) => {
                        let k = self.string(Some(py2_str(b)));
                        self.push(k, at)?
                    }
                    Err(e) => return bad(at, e),
                }
            }
            b'T' | b'U' => {
                let n = if op == b'T' {
                    let n = i32::from_le_bytes(s.array()?);
                    if n < 0 {
                        return bad(at, "BINSTRING pickle has negative byte count");
                    }
                    n as u64
                } else {
                    s.byte()? as u64
                };
                let (b, _) = self.counted(s, n, false)?;
                let k = self.string(b.map(py2_str));
                self.push(k, at)?
            }
            b'V' => {
                let line = self.read_line(s, 1)?;
                let decoded = raw_unicode_escape(&line);
                self.give_back(line);
                match decoded {
                    Ok(t) => {
                        let k = self.string(Some(t));
                        self.push(k, at)?
                    }
                    Err(e) => return bad(at, e),
                }
            }
            b'X' | 0x8c | 0x8d => {
                let n = match op {
                    b'X' => u32::from_le_bytes(s.array()?) as u64,
                    0x8c => s.byte()? as u64,
                    _ => u64::from_le_bytes(s.array()?),
                };
                if n > isize::MAX as u64 {
                    return bad(at, "BINUNICODE8 exceeds system's maximum size");
                }
                let (b, ok) = self.counted(s, n, true)?;
                if !ok {
                    return bad(at, "'utf-8' codec can't decode the string (surrogatepass)");
                }
                let k = self.string(b.map(|b| decode_surrogatepass(&b)));
                self.push(k, at)?
            }
            b'B' | b'C' | 0x8e | 0x96 => {
                let n = match op {
                    b'B' => u32::from_le_bytes(s.array()?) as u64,
                    b'C' => s.byte()? as u64,
                    _ => u64::from_le_bytes(s.array()?),
                };
                if n > isize::MAX as u64 {
                    return bad(at, "BINBYTES8 exceeds system's maximum size");
                }
                s.take(n, &mut |_| {})?;
                self.push(if op == 0x96 { ByteArray } else { Bytes }, at)?
            }
            // out-of-band buffers: loaders pass none (CPython then stops); read on regardless
            0x97 => self.push(Object, at)?,
            0x98 => {
                self.top(at)?;
            }
            b')' => self.push(Tuple, at)?,
            b't' => {
                let i = self.marker(at)?;
                self.stack.truncate(i);
                self.push(Tuple, at)?
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n || self.stack.len() - n < self.fence() {
                    return Self::underflow(at);
                }
                self.stack.truncate(self.stack.len() - n);
                self.push(Tuple, at)?
            }
            b']' => self.push(List, at)?,
            b'l' => {
                let i = self.marker(at)?;
                self.stack.truncate(i);
                self.push(List, at)?
            }
            b'}' => self.push(Dict, at)?,
            b'd' => {
                let i = self.marker(at)?;
                if !(self.stack.len() - i).is_multiple_of(2) {
                    return bad(at, "odd number of items for DICT");
                }
                self.hashable_keys(i, at)?;
                self.stack.truncate(i);
                self.push(Dict, at)?
            }
            0x8f => self.push(Set, at)?,
            0x91 => {
                let i = self.marker(at)?;
                self.stack.truncate(i);
                self.push(FrozenSet, at)?
            }
            b'a' => {
                let x = self.stack.len().wrapping_sub(1);
                self.append(x, at)?
            }
            b'e' => {
                let x = self.marker(at)?;
                self.append(x, at)?
            }
            b's' => {
                let x = self.stack.len().wrapping_sub(2);
                self.setitems(x, at)?
            }
            b'u' => {
                let x = self.marker(at)?;
                self.setitems(x, at)?
            }
            0x90 => {
                let x = self.marker(at)?;
                let len = self.stack.len();
                if x > len || x <= self.fence() {
                    return Self::underflow(at);
                }
                if x < len {
                    match self.stack[x - 1] {
                        Set => self.hashable(x, len, at)?,
                        Object => self.out.effects += 1,
                        k => return bad(at, format!("{k:?} has no attribute 'add' (ADDITEMS)")),
                    }
                    self.stack.truncate(x);
                }
            }
            b'p' | b'g' => {
                let line = self.read_line(s, 2)?;
                let key = py_int(&line, 10);
                self.give_back(line);
                let key = match key {
                    Some(k) if k >= 0 => k as u64,
                    Some(_) if op == b'p' => return bad(at, "negative PUT argument"),
                    _ => return bad(at, "invalid memo key"),
                };
                if op == b'p' {
                    self.memo_put(key, at)?
                } else {
                    self.memo_get(key, at)?
                }
            }
            b'q' => {
                let k = s.byte()? as u64;
                self.memo_put(k, at)?
            }
            b'r' => {
                let k = u32::from_le_bytes(s.array()?) as u64;
                self.memo_put(k, at)?
            }
            0x94 => {
                let k = self.memo_len;
                self.memo_put(k, at)?
            }
            b'h' => {
                let k = s.byte()? as u64;
                self.memo_get(k, at)?
            }
            b'j' => {
                let k = u32::from_le_bytes(s.array()?) as u64;
                self.memo_get(k, at)?
            }
            b'c' => {
                let (module, name) = self.global_lines(s, at, false)?;
                self.import(module, name, at)?;
                self.push(Object, at)?
            }
            b'i' => {
                let i = self.marker(at)?;
                let (module, name) = self.global_lines(s, at, true)?;
                self.import(module, name, at)?;
                self.stack.truncate(i);
                self.out.effects += 1;
                self.push(Object, at)?
            }
            0x93 => {
                let name = self.pop(at)?;
                let module = self.pop(at)?;
                match (module, name) {
                    (Str(m), Str(n)) => {
                        let fresh = if m != NOT_KEPT && n != NOT_KEPT {
                            if !self.pairs.contains(&(m, n)) && self.pairs.len() >= MAX_PAIRS {
                                return limit(at, format!("more than {MAX_PAIRS} distinct STACK_GLOBAL operands"));
                            }
                            self.pairs.insert((m, n))
                        } else {
                            true
                        };
                        if fresh {
                            let text = |i: u32| match self.strings.get(i as usize) {
                                Some(t) => t.to_string(),
                                Option::None => "<a string hfgit did not keep>".to_string(),
                            };
                            let (m, n) = (text(m), text(n));
                            self.import(m, n, at)?;
                        } else {
                            self.out.effects += 1;
                        }
                    }
                    (Object, Str(_) | Object) | (Str(_), Object) => {
                        self.import("unknown".into(), "STACK_GLOBAL with computed operands".into(), at)?
                    }
                    _ => return bad(at, "STACK_GLOBAL requires str"),
                }
                self.push(Object, at)?
            }
            0x82..=0x84 => {
                let code = match op {
                    0x82 => s.byte()? as u32,
                    0x83 => u16::from_le_bytes(s.array()?) as u32,
                    _ => i32::from_le_bytes(s.array()?).max(0) as u32,
                };
                if code == 0 {
                    return bad(at, "EXT specifies code <= 0");
                }
                // the registry is empty unless the loading program fills it: CPython then
                // stops here, so alone this runs nothing (it still makes a pickle dangerous)
                self.import("unknown".into(), format!("extension code {code}"), at)?;
                self.out.effects -= 1;
                self.push(Object, at)?
            }
            b'o' => {
                let i = self.marker(at)?;
                if self.stack.len() < i + 1 {
                    return Self::underflow(at);
                }
                let cls = self.stack[i];
                self.stack.truncate(i);
                if cls != Object {
                    return bad(at, format!("{cls:?} is not callable (OBJ)"));
                }
                self.out.effects += 1;
                self.push(Object, at)?
            }
            b'R' | 0x81 => {
                let args = self.pop(at)?;
                let func = self.pop(at)?;
                if func != Object {
                    return bad(at, format!("{func:?} is not callable"));
                }
                if !matches!(args, Tuple | Object) {
                    return bad(at, "argument list must be a tuple");
                }
                self.out.effects += 1;
                self.push(Object, at)?
            }
            0x92 => {
                let kwargs = self.pop(at)?;
                let args = self.pop(at)?;
                let cls = self.pop(at)?;
                if cls != Object || !matches!(args, Tuple | Object) || !matches!(kwargs, Dict | Object) {
                    return bad(at, "NEWOBJ_EX arguments of the wrong types");
                }
                self.out.effects += 1;
                self.push(Object, at)?
            }
            b'b' => {
                if self.stack.len() < self.fence() + 2 {
                    return Self::underflow(at);
                }
                let state = self.stack.pop().unwrap();
                let inst = *self.stack.last().unwrap();
                if inst == Object {
                    self.out.effects += 1;
                } else if !matches!(state, None | Tuple | Object) {
                    return bad(at, "state is not a dictionary, or the object has no __dict__ (BUILD)");
                }
            }
            b'Q' => {
                self.pop(at)?;
                self.out.effects += 1;
                self.push(Object, at)?
            }
            b'P' => {
                let line = self.read_line(s, 1)?;
                let ascii = line.is_ascii();
                self.give_back(line);
                if !ascii {
                    return bad(at, "persistent IDs in protocol 0 must be ASCII strings");
                }
                self.out.effects += 1;
                self.push(Object, at)?
            }
            _ => return bad(at, format!("invalid load key, '\\x{op:02x}'")),
        }
        Ok(())
    }

    /// The module and name lines of GLOBAL (UTF-8) or INST (ASCII).
    fn global_lines(&mut self, s: &mut Stream<impl Read>, at: u64, ascii: bool) -> Result<(String, String), TraceError> {
        let mut parts = Vec::with_capacity(2);
        for _ in 0..2 {
            let line = self.read_line(s, 2)?;
            let text = if ascii && !line.is_ascii() { None } else { std::str::from_utf8(&line).ok().map(bounded_name) };
            self.give_back(line);
            match text {
                Some(t) => parts.push(t),
                None => return bad(at, if ascii { "INST argument is not ASCII" } else { "GLOBAL argument is not UTF-8" }),
            }
        }
        let name = parts.pop().unwrap();
        Ok((parts.pop().unwrap(), name))
    }

    /// Keys of known unhashable kinds make CPython stop (`stack[from..to]`, key, value, …).
    fn hashable_keys(&self, from: usize, at: u64) -> Result<(), TraceError> {
        for k in self.stack[from..].iter().step_by(2) {
            if matches!(k, Kind::List | Kind::Dict | Kind::Set | Kind::ByteArray) {
                return bad(at, "unhashable type used as a key");
            }
        }
        Ok(())
    }

    fn hashable(&self, from: usize, to: usize, at: u64) -> Result<(), TraceError> {
        if self.stack[from..to].iter().any(|k| matches!(k, Kind::List | Kind::Dict | Kind::Set | Kind::ByteArray)) {
            return bad(at, "unhashable type added to a set");
        }
        Ok(())
    }

    /// APPEND/APPENDS: `stack[x..]` appended to `stack[x - 1]`.
    fn append(&mut self, x: usize, at: u64) -> Result<(), TraceError> {
        let len = self.stack.len();
        if x > len || x <= self.fence() {
            return Self::underflow(at);
        }
        if x == len {
            return Ok(());
        }
        match self.stack[x - 1] {
            Kind::List | Kind::ByteArray => {}
            Kind::Object => self.out.effects += 1,
            k => return bad(at, format!("{k:?} has no attribute 'append'")),
        }
        self.stack.truncate(x);
        Ok(())
    }

    /// SETITEM/SETITEMS: key/value pairs `stack[x..]` set on `stack[x - 1]`.
    fn setitems(&mut self, x: usize, at: u64) -> Result<(), TraceError> {
        let len = self.stack.len();
        if x > len || x <= self.fence() {
            return Self::underflow(at);
        }
        if x == len {
            return Ok(());
        }
        if !(len - x).is_multiple_of(2) {
            return bad(at, "odd number of items for SETITEMS");
        }
        match self.stack[x - 1] {
            Kind::Dict => self.hashable_keys(x, at)?,
            Kind::List | Kind::ByteArray => {}
            Kind::Object => self.out.effects += 1,
            k => return bad(at, format!("{k:?} does not support item assignment")),
        }
        self.stack.truncate(x);
        Ok(())
    }
}

/// A module or class name as reported: long ones are cut (and so never match the allowlist).
fn bounded_name(s: &str) -> String {
    if s.len() <= MAX_NAME {
        return s.to_string();
    }
    let mut end = MAX_NAME;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…({} bytes)", &s[..end], s.len())
}

/// A Python 2 str as Python 3 decodes it: the loader's encoding is ASCII, UTF-8 (torch) or
/// latin-1 (numpy); UTF-8 when it decodes, latin-1 otherwise (either way, non-ASCII text never
/// names an allowed global).
fn py2_str(b: Vec<u8>) -> String {
    match String::from_utf8(b) {
        Ok(s) => s,
        Err(e) => e.into_bytes().iter().map(|&c| c as char).collect(),
    }
}

/// Py_ISSPACE.
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// C `strtol(s, &end, 0)` succeeding with `*end` at the end of the line or a NUL, without
/// overflow.
fn strtol_base0(line: &[u8]) -> bool {
    let s = &line[..line.iter().position(|&c| c == 0).unwrap_or(line.len())];
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    if i < s.len() && (s[i] == b'+' || s[i] == b'-') {
        i += 1;
    }
    let (base, digits_from) = if s[i..].len() >= 3 && s[i] == b'0' && (s[i + 1] | 0x20) == b'x' && s[i + 2].is_ascii_hexdigit() {
        (16, i + 2)
    } else if i < s.len() && s[i] == b'0' {
        (8, i)
    } else {
        (10, i)
    };
    let digits = s[digits_from..].iter().take_while(|c| (**c as char).is_digit(base)).count();
    if digits == 0 || digits_from + digits != s.len() {
        return false;
    }
    // overflow makes CPython fall back to int(), which the caller tries
    i64::from_str_radix(std::str::from_utf8(&s[digits_from..]).unwrap_or("x"), base).is_ok()
}

/// Python's `int(s, base)` for base 0 or 10, as PyLong_FromString reads a C string (stopping at
/// a NUL): surrounding whitespace, a sign, underscores between digits, and for base 0 the
/// 0x/0o/0b prefixes and no leading zeros. The value is saturated (only its sign and small
/// values matter here).
fn py_int(line: &[u8], base: u32) -> Option<i64> {
    let s = &line[..line.iter().position(|&c| c == 0).unwrap_or(line.len())];
    let mut i = 0;
    while i < s.len() && is_space(s[i]) {
        i += 1;
    }
    let mut j = s.len();
    while j > i && is_space(s[j - 1]) {
        j -= 1;
    }
    let mut t = &s[i..j];
    let neg = match t.first() {
        Some(b'-') => {
            t = &t[1..];
            true
        }
        Some(b'+') => {
            t = &t[1..];
            false
        }
        _ => false,
    };
    let mut radix = 10;
    let mut prefixed = false;
    if base == 0 && t.len() >= 2 && t[0] == b'0' {
        radix = match t[1] | 0x20 {
            b'x' => 16,
            b'o' => 8,
            b'b' => 2,
            _ => 10,
        };
        if radix != 10 {
            t = &t[2..];
            prefixed = true;
            // one underscore may follow the prefix
            if t.first() == Some(&b'_') {
                t = &t[1..];
            }
        }
    }
    if t.is_empty() || t[0] == b'_' || t[t.len() - 1] == b'_' || t.windows(2).any(|w| w == b"__") {
        return None;
    }
    let mut value: i64 = 0;
    let mut nonzero = false;
    for &c in t {
        if c == b'_' {
            continue;
        }
        let d = (c as char).to_digit(radix)?;
        nonzero |= d != 0;
        value = value.saturating_mul(radix as i64).saturating_add(d as i64);
    }
    // base 0: a decimal literal other than zero cannot start with 0
    if base == 0 && !prefixed && t[0] == b'0' && nonzero {
        return None;
    }
    Some(if neg { -value } else { value })
}

/// FLOAT's argument as `PyOS_string_to_double` reads it (no whitespace or underscores,
/// overflow is an error), ending at the newline or a NUL.
fn c_float(line: &[u8]) -> bool {
    let s = &line[..line.iter().position(|&c| c == 0).unwrap_or(line.len())];
    let Ok(t) = std::str::from_utf8(s) else { return false };
    let body = t.strip_prefix(['+', '-']).unwrap_or(t);
    let lower = body.to_ascii_lowercase();
    if matches!(lower.as_str(), "inf" | "infinity" | "nan") {
        return true;
    }
    let b = body.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] | 0x20) == b'e' {
        let mut k = i + 1;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        let e = b[k..].iter().take_while(|c| c.is_ascii_digit()).count();
        if e == 0 {
            return false; // `1e` stops before the e, which is not the end of the line
        }
        i = k + e;
    }
    i == b.len() && body.parse::<f64>().map_or(true, |v| v.is_finite())
}

/// Python's escape decoding of a STRING argument (`PyBytes_DecodeEscape`).
fn escape_decode(s: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != b'\\' {
            out.push(c);
            continue;
        }
        let Some(&e) = s.get(i) else { return Err("Trailing \\ in string".into()) };
        i += 1;
        match e {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(e),
            b'b' => out.push(8),
            b'f' => out.push(12),
            b't' => out.push(9),
            b'n' => out.push(10),
            b'r' => out.push(13),
            b'v' => out.push(11),
            b'a' => out.push(7),
            b'0'..=b'7' => {
                let mut v = (e - b'0') as u32;
                for _ in 0..2 {
                    match s.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + (d - b'0') as u32;
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push(v as u8); // values over 0o377 wrap, as CPython's do
            }
            b'x' => {
                let h = s.get(i..i + 2).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                let Some(h) = h else { return Err(format!("invalid \\x escape at position {}", i - 2)) };
                out.push(u8::from_str_radix(std::str::from_utf8(h).unwrap(), 16).unwrap());
                i += 2;
            }
            other => {
                out.push(b'\\');
                out.push(other);
            }
        }
    }
    Ok(out)
}

/// Lone surrogates in reported text: U+FFFD (no allowed name contains one).
fn push_code(out: &mut String, cp: u32) {
    out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
}

/// `raw-unicode-escape` decoding of a UNICODE argument.
fn raw_unicode_escape(s: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        i += 1;
        if c != b'\\' || i >= s.len() {
            out.push(c as char);
            continue;
        }
        let n = match s[i] {
            b'u' => 4,
            b'U' => 8,
            other => {
                out.push('\\');
                out.push(other as char);
                i += 1;
                continue;
            }
        };
        i += 1;
        let hex = s.get(i..i + n).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
        let Some(hex) = hex else { return Err(format!("truncated \\{} escape", if n == 4 { "uXXXX" } else { "UXXXXXXXX" })) };
        let cp = u32::from_str_radix(std::str::from_utf8(hex).unwrap(), 16).unwrap();
        if cp > 0x10ffff {
            return Err("\\Uxxxxxxxx out of range".into());
        }
        push_code(&mut out, cp);
        i += n;
    }
    Ok(out)
}

/// UTF-8 with encoded surrogates allowed (`surrogatepass`), fed in chunks.
#[derive(Default)]
struct Utf8 {
    need: u8,
    cp: u32,
    min: u32,
    bad: bool,
}

impl Utf8 {
    fn feed(&mut self, b: &[u8]) {
        for &c in b {
            if self.bad {
                return;
            }
            if self.need == 0 {
                match c {
                    0x00..=0x7f => {}
                    0xc2..=0xdf => (self.need, self.cp, self.min) = (1, (c & 0x1f) as u32, 0x80),
                    0xe0..=0xef => (self.need, self.cp, self.min) = (2, (c & 0x0f) as u32, 0x800),
                    0xf0..=0xf4 => (self.need, self.cp, self.min) = (3, (c & 0x07) as u32, 0x10000),
                    _ => self.bad = true,
                }
            } else if c & 0xc0 == 0x80 {
                self.cp = (self.cp << 6) | (c & 0x3f) as u32;
                self.need -= 1;
                if self.need == 0 && (self.cp < self.min || self.cp > 0x10ffff) {
                    self.bad = true;
                }
                // an overlong or out-of-range sequence is refused at its second byte by CPython;
                // the outcome (an error) is the same
            } else {
                self.bad = true;
            }
        }
    }

    fn finish(&self) -> bool {
        !self.bad && self.need == 0
    }
}

/// Text of validated `surrogatepass` UTF-8.
fn decode_surrogatepass(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut out = String::new();
            let mut i = 0;
            while i < b.len() {
                match std::str::from_utf8(&b[i..]) {
                    Ok(s) => {
                        out.push_str(s);
                        break;
                    }
                    Err(e) => {
                        let ok = e.valid_up_to();
                        out.push_str(std::str::from_utf8(&b[i..i + ok]).unwrap());
                        i += ok;
                        // an encoded surrogate: ED A0..BF xx
                        out.push('\u{fffd}');
                        i += 3;
                    }
                }
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &[u8]) -> (Vec<String>, Result<(), String>) {
        let mut s = Stream::new(p, 0, p.len() as u64);
        let (t, r) = trace(&mut s);
        (t.imports.iter().map(|i| i.to_string()).collect(), r.map_err(|e| e.to_string()))
    }

    #[test]
    fn integers_follow_python() {
        for ok in ["0x10", "1_000", " 7 ", "-0b1", "0o17", "00", "0_0", "010"] {
            assert!(strtol_base0(ok.as_bytes()) || py_int(ok.as_bytes(), 0).is_some(), "{ok}");
        }
        for bad in ["1__0", "_1", "1_", "", "0x", "08", "1.0", "abc"] {
            assert!(!(strtol_base0(bad.as_bytes()) || py_int(bad.as_bytes(), 0).is_some()), "{bad}");
        }
        assert_eq!(py_int(b" 1_2 ", 10), Some(12));
        assert_eq!(py_int(b"007", 10), Some(7));
        assert_eq!(py_int(b"0x7", 10), None);
    }

    #[test]
    fn hidden_behind_what_the_old_parser_refused() {
        // SETITEM on a list, then os.system
        let (i, r) = run(b"(lI0\nI1\nscos\nsystem\n.");
        assert_eq!(i, ["os.system"]);
        assert!(r.is_ok(), "{r:?}");
        // STRING escapes: S'p\x6fsix' + 'system' is posix.system
        let (i, r) = run(b"\x80\x04S'p\\x6fsix'\n\x8c\x06system\x93.");
        assert_eq!(i, ["posix.system"], "{r:?}");
        // PUT/GET keys with spaces and underscores; INT in base 0
        let (i, _) = run(b"\x80\x04\x8c\x02osp 1_0 \nI0x10\n0\x8c\x06systemg10\n\x8c\x06system\x93.");
        assert!(i.contains(&"os.system".to_string()), "{i:?}");
        // a surrogate encoded in BINUNICODE
        let (_, r) = run(b"\x80\x04\x8c\x03\xed\xa0\x80N.");
        assert!(r.is_ok(), "{r:?}");
        // APPEND on a bytearray
        let (_, r) = run(b"\x80\x05\x96\x00\x00\x00\x00\x00\x00\x00\x00K\x01aN.");
        assert!(r.is_ok(), "{r:?}");
    }

    #[test]
    fn marks_fence_the_stack() {
        let (_, r) = run(b"N(R.");
        assert!(r.unwrap_err().contains("underflow"));
        let (_, r) = run(b"N(0.");
        assert!(r.is_ok());
    }
}
