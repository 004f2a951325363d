//! A pickle interpreter that never executes anything. Each opcode builds a symbolic node in an
//! arena: GLOBAL/STACK_GLOBAL become `Global` nodes, REDUCE/NEWOBJ/BUILD become `Call`/`Build`
//! nodes that record what *would* be called. The arena gives pickle's shared-reference semantics
//! (a memoized dict filled later is the same node) without copying, and bounds memory: every
//! opcode adds at most one node, and every length is checked against the remaining input before
//! anything is allocated.
//!
//! Protocols 0–5 are understood. Every import the pickle would perform is recorded in
//! `imports`, including ones that cannot be resolved statically (a STACK_GLOBAL whose operands are
//! not plain strings, extension-registry codes), which the scanner treats as dangerous.

use std::collections::HashMap;

pub type Id = usize;

#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too large for i64 (LONG1/LONG4/LONG); kept as little-endian two's complement.
    BigInt(Vec<u8>),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Id>),
    List(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    Global {
        module: String,
        name: String,
    },
    /// `func(*args)` as REDUCE, NEWOBJ or INST/OBJ would perform it.
    Call {
        func: Id,
        args: Id,
    },
    /// `obj.__setstate__(state)` as BUILD would perform it.
    Build {
        obj: Id,
        state: Id,
    },
    /// A persistent id (BINPERSID/PERSID): torch uses it to refer to storages.
    PersistentId(Id),
    /// Something the reader cannot represent (an out-of-band buffer).
    Opaque(&'static str),
}

/// One import the pickle performs when loaded.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Import {
    pub module: String,
    pub name: String,
}

impl Import {
    /// An import whose target could not be determined without running the pickle.
    pub fn unknown(how: &str) -> Import {
        Import { module: "unknown".into(), name: how.into() }
    }
    pub fn is_unknown(&self) -> bool {
        self.module == "unknown"
    }
}

impl std::fmt::Display for Import {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.module, self.name)
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PickleError {
    #[error("pickle ends unexpectedly at byte {0}")]
    Truncated(usize),
    #[error("unknown pickle opcode 0x{op:02x} at byte {at}")]
    UnknownOpcode { op: u8, at: usize },
    #[error("malformed pickle at byte {at}: {what}")]
    Malformed { at: usize, what: String },
    #[error("pickle too complex: more than {0} objects")]
    TooLarge(usize),
}

/// Upper bound on nodes (≈ opcodes) per pickle: a torch state dict of 10k tensors needs ~200k.
pub const MAX_NODES: usize = 50_000_000;

pub struct Pickle {
    pub nodes: Vec<Node>,
    pub root: Id,
    pub imports: Vec<Import>,
    /// Bytes consumed, up to and including STOP.
    pub len: usize,
    pub protocol: u8,
}

impl Pickle {
    pub fn node(&self, id: Id) -> &Node {
        &self.nodes[id]
    }
    pub fn str(&self, id: Id) -> Option<&str> {
        match &self.nodes[id] {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn int(&self, id: Id) -> Option<i64> {
        match self.nodes[id] {
            Node::Int(i) => Some(i),
            Node::Bool(b) => Some(b as i64),
            _ => None,
        }
    }
    /// The (module, name) of a Global node.
    pub fn global(&self, id: Id) -> Option<(&str, &str)> {
        match &self.nodes[id] {
            Node::Global { module, name } => Some((module, name)),
            _ => None,
        }
    }
    pub fn items(&self, id: Id) -> Option<&[Id]> {
        match &self.nodes[id] {
            Node::Tuple(v) | Node::List(v) => Some(v),
            _ => None,
        }
    }
}

enum Slot {
    Mark,
    Value(Id),
}

struct Machine<'a> {
    data: &'a [u8],
    pos: usize,
    nodes: Vec<Node>,
    stack: Vec<Slot>,
    memo: HashMap<u64, Id>,
    imports: Vec<Import>,
    max_nodes: usize,
    protocol: u8,
}

/// Parses one pickle from the start of `data`, stopping at its STOP opcode.
pub fn parse(data: &[u8]) -> Result<Pickle, PickleError> {
    parse_limited(data, MAX_NODES)
}

pub fn parse_limited(data: &[u8], max_nodes: usize) -> Result<Pickle, PickleError> {
    parse_inner(data, max_nodes).map_err(|(e, _)| e)
}

/// What loading a pickle does, as far as it gets.
#[derive(Debug, Default)]
pub struct Trace {
    /// The imports performed, in order.
    pub imports: Vec<Import>,
    /// How many calls (REDUCE, NEWOBJ, BUILD, INST, OBJ) were made.
    pub calls: usize,
}

/// What a scanner needs: the imports and calls performed before the pickle ended or broke, and
/// the error if it broke (Python's unpickler has already run everything before that point).
pub fn trace(data: &[u8]) -> (Trace, Result<usize, PickleError>) {
    match parse_inner(data, MAX_NODES) {
        Ok(p) => {
            let calls = p.nodes.iter().filter(|n| matches!(n, Node::Call { .. } | Node::Build { .. })).count();
            (Trace { imports: p.imports, calls }, Ok(p.len))
        }
        Err((e, t)) => (t, Err(e)),
    }
}

fn parse_inner(data: &[u8], max_nodes: usize) -> Result<Pickle, (PickleError, Trace)> {
    let mut m =
        Machine { data, pos: 0, nodes: Vec::new(), stack: Vec::new(), memo: HashMap::new(), imports: Vec::new(), max_nodes, protocol: 0 };
    let mut protocol = 0;
    match run(&mut m, &mut protocol) {
        Ok(root) => Ok(Pickle { nodes: m.nodes, root, imports: m.imports, len: m.pos, protocol }),
        Err(e) => {
            let calls = m.nodes.iter().filter(|n| matches!(n, Node::Call { .. } | Node::Build { .. })).count();
            Err((e, Trace { imports: m.imports, calls }))
        }
    }
}

fn run(m: &mut Machine, protocol: &mut u8) -> Result<Id, PickleError> {
    loop {
        let at = m.pos;
        let op = m.byte()?;
        match op {
            0x80 => {
                *protocol = m.byte()?;
                m.protocol = *protocol;
                if *protocol > 5 {
                    return Err(m.bad(at, format!("unsupported protocol {protocol}")));
                }
            }
            0x95 => {
                m.take(8)?; // FRAME: a length hint only
            }
            b'.' => return m.pop(at),
            _ => m.step(op, at)?,
        }
    }
}

impl<'a> Machine<'a> {
    fn bad(&self, at: usize, what: impl Into<String>) -> PickleError {
        PickleError::Malformed { at, what: what.into() }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        match end {
            Some(end) => {
                let s = &self.data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(PickleError::Truncated(self.data.len())),
        }
    }

    fn byte(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<usize, PickleError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()) as usize)
    }

    fn u32(&mut self) -> Result<usize, PickleError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()) as usize)
    }

    fn u64(&mut self) -> Result<usize, PickleError> {
        let v = u64::from_le_bytes(self.take(8)?.try_into().unwrap());
        usize::try_from(v).map_err(|_| PickleError::Truncated(self.data.len()))
    }

    /// A text line (protocol 0 arguments), without its newline.
    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.data[self.pos..];
        let n = rest.iter().position(|&b| b == b'\n').ok_or(PickleError::Truncated(self.data.len()))?;
        let at = self.pos;
        let s = std::str::from_utf8(&rest[..n]).map_err(|_| self.bad(at, "text argument is not UTF-8"))?;
        self.pos += n + 1;
        Ok(s)
    }

    fn text(&mut self, n: usize, at: usize) -> Result<String, PickleError> {
        let b = self.take(n)?;
        String::from_utf8(b.to_vec()).map_err(|_| self.bad(at, "string is not valid UTF-8"))
    }

    fn add(&mut self, node: Node) -> Result<Id, PickleError> {
        if self.nodes.len() >= self.max_nodes {
            return Err(PickleError::TooLarge(self.max_nodes));
        }
        self.nodes.push(node);
        Ok(self.nodes.len() - 1)
    }

    fn push(&mut self, node: Node) -> Result<(), PickleError> {
        let id = self.add(node)?;
        self.stack.push(Slot::Value(id));
        Ok(())
    }

    fn pop(&mut self, at: usize) -> Result<Id, PickleError> {
        match self.stack.pop() {
            Some(Slot::Value(id)) => Ok(id),
            Some(Slot::Mark) => Err(self.bad(at, "unexpected MARK on the stack")),
            None => Err(self.bad(at, "stack underflow")),
        }
    }

    fn top(&self, at: usize) -> Result<Id, PickleError> {
        match self.stack.last() {
            Some(Slot::Value(id)) => Ok(*id),
            _ => Err(self.bad(at, "stack underflow")),
        }
    }

    /// Pops everything down to the topmost MARK.
    fn pop_mark(&mut self, at: usize) -> Result<Vec<Id>, PickleError> {
        let mark = self.stack.iter().rposition(|s| matches!(s, Slot::Mark)).ok_or_else(|| self.bad(at, "no MARK on the stack"))?;
        let items = self
            .stack
            .drain(mark + 1..)
            .map(|s| match s {
                Slot::Value(id) => id,
                Slot::Mark => unreachable!(),
            })
            .collect();
        self.stack.pop();
        Ok(items)
    }

    fn memo_get(&self, key: u64, at: usize) -> Result<Id, PickleError> {
        self.memo.get(&key).copied().ok_or_else(|| self.bad(at, format!("memo key {key} is not set")))
    }

    fn memo_put(&mut self, key: u64, at: usize) -> Result<(), PickleError> {
        let id = self.top(at)?;
        self.memo.insert(key, id);
        Ok(())
    }

    fn global(&mut self, module: String, name: String) -> Result<Id, PickleError> {
        // Python 3 reads protocol 0–2 pickles with fix_imports: Python 2 module names are
        // mapped to their Python 3 homes (`commands.Popen` loads `subprocess.Popen`).
        let module = if self.protocol < 3 { python3_module(&module).map(str::to_string).unwrap_or(module) } else { module };
        self.imports.push(Import { module: module.clone(), name: name.clone() });
        self.add(Node::Global { module, name })
    }

    fn int_node(bytes: &[u8]) -> Node {
        if bytes.is_empty() {
            return Node::Int(0);
        }
        if bytes.len() <= 8 {
            let neg = bytes[bytes.len() - 1] & 0x80 != 0;
            let mut buf = [if neg { 0xff } else { 0 }; 8];
            buf[..bytes.len()].copy_from_slice(bytes);
            return Node::Int(i64::from_le_bytes(buf));
        }
        Node::BigInt(bytes.to_vec())
    }

    fn container_add(&mut self, target: Id, items: Vec<Id>, at: usize) -> Result<(), PickleError> {
        match &mut self.nodes[target] {
            Node::List(v) | Node::Set(v) => v.extend(items),
            // appending to an arbitrary object calls its `append`/`extend`: record nothing more,
            // the object's constructor is already an import.
            Node::Call { .. } | Node::Build { .. } => {}
            _ => return Err(self.bad(at, "APPEND on something that is not a list")),
        }
        Ok(())
    }

    fn dict_add(&mut self, target: Id, items: Vec<Id>, at: usize) -> Result<(), PickleError> {
        if !items.len().is_multiple_of(2) {
            return Err(self.bad(at, "SETITEMS with an odd number of items"));
        }
        match &mut self.nodes[target] {
            Node::Dict(v) => v.extend(items.chunks(2).map(|p| (p[0], p[1]))),
            Node::Call { .. } | Node::Build { .. } => {}
            _ => return Err(self.bad(at, "SETITEM on something that is not a dict")),
        }
        Ok(())
    }

    /// What calling `func(*args)` yields, symbolically. An `OrderedDict()` is a dict (its items
    /// arrive through SETITEMS); anything else is a Call node.
    fn call(&mut self, func: Id, args: Id) -> Result<Id, PickleError> {
        if let Node::Global { module, name } = &self.nodes[func] {
            let empty_args = matches!(&self.nodes[args], Node::Tuple(v) if v.is_empty());
            if module == "collections" && ((name == "OrderedDict" && empty_args) || name == "defaultdict") {
                return self.add(Node::Dict(Vec::new()));
            }
        }
        self.add(Node::Call { func, args })
    }

    fn step(&mut self, op: u8, at: usize) -> Result<(), PickleError> {
        match op {
            b'(' => self.stack.push(Slot::Mark),
            b'0' => {
                self.stack.pop().ok_or_else(|| self.bad(at, "stack underflow"))?;
            }
            b'1' => {
                self.pop_mark(at)?;
            }
            b'2' => {
                let id = self.top(at)?;
                self.stack.push(Slot::Value(id));
            }
            b'N' => self.push(Node::None)?,
            0x88 => self.push(Node::Bool(true))?,
            0x89 => self.push(Node::Bool(false))?,
            b'J' => {
                let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap());
                self.push(Node::Int(v as i64))?
            }
            b'K' => {
                let v = self.byte()?;
                self.push(Node::Int(v as i64))?
            }
            b'M' => {
                let v = self.u16()?;
                self.push(Node::Int(v as i64))?
            }
            0x8a => {
                let n = self.byte()? as usize;
                let b = self.take(n)?;
                self.push(Self::int_node(b))?
            }
            0x8b => {
                let n = self.u32()?;
                let b = self.take(n)?;
                self.push(Self::int_node(b))?
            }
            b'I' | b'L' => {
                let line = self.line()?;
                let t = line.trim_end_matches('L');
                let node = match t {
                    "00" => Node::Bool(false),
                    "01" => Node::Bool(true),
                    _ => match t.parse::<i64>() {
                        Ok(v) => Node::Int(v),
                        Err(_) if !t.is_empty() && t.trim_start_matches('-').bytes().all(|c| c.is_ascii_digit()) => {
                            Node::BigInt(t.as_bytes().to_vec())
                        }
                        Err(_) => return Err(self.bad(at, format!("bad integer {line:?}"))),
                    },
                };
                self.push(node)?
            }
            b'F' => {
                let line = self.line()?;
                let v = line.parse::<f64>().map_err(|_| self.bad(at, format!("bad float {line:?}")))?;
                self.push(Node::Float(v))?
            }
            b'G' => {
                let v = f64::from_be_bytes(self.take(8)?.try_into().unwrap());
                self.push(Node::Float(v))?
            }
            b'X' => {
                let n = self.u32()?;
                let s = self.text(n, at)?;
                self.push(Node::Str(s))?
            }
            0x8c => {
                let n = self.byte()? as usize;
                let s = self.text(n, at)?;
                self.push(Node::Str(s))?
            }
            0x8d => {
                let n = self.u64()?;
                let s = self.text(n, at)?;
                self.push(Node::Str(s))?
            }
            b'V' => {
                let s = self.line()?.to_string();
                self.push(Node::Str(s))?
            }
            b'S' => {
                let line = self.line()?;
                let s = line.trim_matches(|c| c == '\'' || c == '"').to_string();
                self.push(Node::Str(s))?
            }
            b'T' => {
                let n = self.u32()?;
                let b = self.take(n)?.to_vec();
                self.push(Node::Bytes(b))?
            }
            b'U' => {
                let n = self.byte()? as usize;
                let b = self.take(n)?.to_vec();
                // Python 2 strings: text when they decode, bytes otherwise
                let node = match String::from_utf8(b) {
                    Ok(s) => Node::Str(s),
                    Err(e) => Node::Bytes(e.into_bytes()),
                };
                self.push(node)?
            }
            b'B' => {
                let n = self.u32()?;
                let b = self.take(n)?.to_vec();
                self.push(Node::Bytes(b))?
            }
            b'C' => {
                let n = self.byte()? as usize;
                let b = self.take(n)?.to_vec();
                self.push(Node::Bytes(b))?
            }
            0x8e | 0x96 => {
                let n = self.u64()?;
                let b = self.take(n)?.to_vec();
                self.push(Node::Bytes(b))?
            }
            0x97 => self.push(Node::Opaque("out-of-band buffer"))?,
            0x98 => {
                self.top(at)?;
            }
            b')' => self.push(Node::Tuple(Vec::new()))?,
            b't' => {
                let items = self.pop_mark(at)?;
                self.push(Node::Tuple(items))?
            }
            0x85..=0x87 => {
                let n = (op - 0x84) as usize;
                if self.stack.len() < n {
                    return Err(self.bad(at, "stack underflow"));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.pop(at)?);
                }
                items.reverse();
                self.push(Node::Tuple(items))?
            }
            b']' => self.push(Node::List(Vec::new()))?,
            b'l' => {
                let items = self.pop_mark(at)?;
                self.push(Node::List(items))?
            }
            b'a' => {
                let item = self.pop(at)?;
                let list = self.top(at)?;
                self.container_add(list, vec![item], at)?
            }
            b'e' => {
                let items = self.pop_mark(at)?;
                let list = self.top(at)?;
                self.container_add(list, items, at)?
            }
            b'}' => self.push(Node::Dict(Vec::new()))?,
            b'd' => {
                let items = self.pop_mark(at)?;
                if !items.len().is_multiple_of(2) {
                    return Err(self.bad(at, "DICT with an odd number of items"));
                }
                self.push(Node::Dict(items.chunks(2).map(|p| (p[0], p[1])).collect()))?
            }
            b's' => {
                let value = self.pop(at)?;
                let key = self.pop(at)?;
                let dict = self.top(at)?;
                self.dict_add(dict, vec![key, value], at)?
            }
            b'u' => {
                let items = self.pop_mark(at)?;
                let dict = self.top(at)?;
                self.dict_add(dict, items, at)?
            }
            0x8f => self.push(Node::Set(Vec::new()))?,
            0x90 => {
                let items = self.pop_mark(at)?;
                let set = self.top(at)?;
                self.container_add(set, items, at)?
            }
            0x91 => {
                let items = self.pop_mark(at)?;
                self.push(Node::Set(items))?
            }
            b'p' => {
                let key = self.line()?.parse::<u64>().map_err(|_| self.bad(at, "bad PUT key"))?;
                self.memo_put(key, at)?
            }
            b'q' => {
                let key = self.byte()? as u64;
                self.memo_put(key, at)?
            }
            b'r' => {
                let key = self.u32()? as u64;
                self.memo_put(key, at)?
            }
            0x94 => {
                let key = self.memo.len() as u64;
                self.memo_put(key, at)?
            }
            b'g' => {
                let key = self.line()?.parse::<u64>().map_err(|_| self.bad(at, "bad GET key"))?;
                let id = self.memo_get(key, at)?;
                self.stack.push(Slot::Value(id))
            }
            b'h' => {
                let key = self.byte()? as u64;
                let id = self.memo_get(key, at)?;
                self.stack.push(Slot::Value(id))
            }
            b'j' => {
                let key = self.u32()? as u64;
                let id = self.memo_get(key, at)?;
                self.stack.push(Slot::Value(id))
            }
            b'c' => {
                let module = self.line()?.to_string();
                let name = self.line()?.to_string();
                let id = self.global(module, name)?;
                self.stack.push(Slot::Value(id))
            }
            0x93 => {
                let name = self.pop(at)?;
                let module = self.pop(at)?;
                let id = match (&self.nodes[module], &self.nodes[name]) {
                    (Node::Str(m), Node::Str(n)) => {
                        let (m, n) = (m.clone(), n.clone());
                        self.global(m, n)?
                    }
                    _ => {
                        self.imports.push(Import::unknown("STACK_GLOBAL with computed operands"));
                        self.add(Node::Global { module: "unknown".into(), name: "?".into() })?
                    }
                };
                self.stack.push(Slot::Value(id))
            }
            0x82..=0x84 => {
                let code = match op {
                    0x82 => self.byte()? as usize,
                    0x83 => self.u16()?,
                    _ => self.u32()?,
                };
                self.imports.push(Import::unknown(&format!("extension code {code}")));
                let id = self.add(Node::Global { module: "unknown".into(), name: format!("ext{code}") })?;
                self.stack.push(Slot::Value(id))
            }
            b'i' => {
                let module = self.line()?.to_string();
                let name = self.line()?.to_string();
                let args = self.pop_mark(at)?;
                let func = self.global(module, name)?;
                let args = self.add(Node::Tuple(args))?;
                let id = self.add(Node::Call { func, args })?;
                self.stack.push(Slot::Value(id))
            }
            b'o' => {
                let mut items = self.pop_mark(at)?;
                if items.is_empty() {
                    return Err(self.bad(at, "OBJ without a class"));
                }
                let func = items.remove(0);
                let args = self.add(Node::Tuple(items))?;
                let id = self.add(Node::Call { func, args })?;
                self.stack.push(Slot::Value(id))
            }
            b'R' | 0x81 => {
                let args = self.pop(at)?;
                let func = self.pop(at)?;
                let id = self.call(func, args)?;
                self.stack.push(Slot::Value(id))
            }
            0x92 => {
                let _kwargs = self.pop(at)?;
                let args = self.pop(at)?;
                let func = self.pop(at)?;
                let id = self.call(func, args)?;
                self.stack.push(Slot::Value(id))
            }
            b'b' => {
                let state = self.pop(at)?;
                let obj = self.pop(at)?;
                // BUILD mutates in place; a dict's state (OrderedDict `_metadata`) is not data
                let id = if matches!(self.nodes[obj], Node::Dict(_)) { obj } else { self.add(Node::Build { obj, state })? };
                self.stack.push(Slot::Value(id))
            }
            b'Q' => {
                let pid = self.pop(at)?;
                self.push(Node::PersistentId(pid))?
            }
            b'P' => {
                let s = self.line()?.to_string();
                let pid = self.add(Node::Str(s))?;
                self.push(Node::PersistentId(pid))?
            }
            _ => return Err(PickleError::UnknownOpcode { op, at }),
        }
        Ok(())
    }
}

/// The module part of Python's `_compat_pickle.IMPORT_MAPPING`.
fn python3_module(module: &str) -> Option<&'static str> {
    Some(match module {
        "__builtin__" | "exceptions" => "builtins",
        "copy_reg" => "copyreg",
        "commands" => "subprocess",
        "cPickle" => "pickle",
        "UserDict" | "UserList" | "UserString" => "collections",
        "StringIO" | "cStringIO" => "io",
        "urllib2" => "urllib.request",
        "urlparse" => "urllib.parse",
        "httplib" => "http.client",
        "cookielib" => "http.cookiejar",
        "BaseHTTPServer" | "SimpleHTTPServer" | "CGIHTTPServer" => "http.server",
        "SocketServer" => "socketserver",
        "thread" => "_thread",
        "xmlrpclib" => "xmlrpc.client",
        "Queue" => "queue",
        "ConfigParser" => "configparser",
        "repr" => "reprlib",
        "whichdb" => "dbm",
        "anydbm" => "dbm",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_2_ordered_dict_with_shared_memo() {
        // OrderedDict() ; BINPUT 0 ; MARK 'a' 1 'b' [BINGET 0] SETITEMS ; STOP
        let mut p = vec![0x80, 2, b'c'];
        p.extend_from_slice(b"collections\nOrderedDict\n");
        p.extend_from_slice(&[b')', b'R', b'q', 0, b'(', b'X', 1, 0, 0, 0, b'a', b'K', 1]);
        p.extend_from_slice(&[b'X', 1, 0, 0, 0, b'b', b'h', 0, b'u', b'.']);
        let pk = parse(&p).unwrap();
        let Node::Dict(items) = pk.node(pk.root) else { panic!("not a dict") };
        assert_eq!(items.len(), 2);
        // the dict contains itself (same node), not a copy of its empty past
        assert_eq!(items[1].1, pk.root);
        assert_eq!(pk.imports, vec![Import { module: "collections".into(), name: "OrderedDict".into() }]);
        assert_eq!(pk.len, p.len());
    }

    #[test]
    fn stack_global_resolves_through_memo_and_unknown_when_computed() {
        // protocol 4: 'os' MEMOIZE 'system' STACK_GLOBAL
        let p = [&[0x80, 4, 0x8c, 2][..], b"os", &[0x94, 0x8c, 6], b"system", &[0x93, b'N', b'.']].concat();
        let pk = parse(&p).unwrap();
        assert_eq!(pk.imports[0].to_string(), "os.system");
        // the module comes from a tuple: cannot be resolved without running the pickle
        let p = [&[0x80, 4, b')', 0x8c, 6][..], b"system", &[0x93, b'.']].concat();
        let pk = parse(&p).unwrap();
        assert!(pk.imports[0].is_unknown());
    }

    #[test]
    fn bad_input_is_an_error_not_a_panic() {
        assert_eq!(parse(&[0x80, 2, 0xff]).err(), Some(PickleError::UnknownOpcode { op: 0xff, at: 2 }));
        assert!(matches!(parse(&[0x80, 2, b'X', 0xff, 0xff, 0xff, 0x7f]), Err(PickleError::Truncated(_))));
        assert!(matches!(parse(&[b'h', 3, b'.']), Err(PickleError::Malformed { .. })));
        assert!(matches!(parse(b"."), Err(PickleError::Malformed { .. })));
        assert!(matches!(parse(&[0x80, 2, b'N']), Err(PickleError::Truncated(_))));
        assert!(matches!(parse_limited(&[b'N'; 100], 10), Err(PickleError::TooLarge(10))));
    }

    #[test]
    fn long1_and_protocol_0_ints() {
        let pk = parse(&[0x8a, 2, 0xff, 0x7f, b'.']).unwrap();
        assert_eq!(pk.int(pk.root), Some(0x7fff));
        let pk = parse(&[0x8a, 1, 0xff, b'.']).unwrap();
        assert_eq!(pk.int(pk.root), Some(-1));
        let pk = parse(b"I-42\n.").unwrap();
        assert_eq!(pk.int(pk.root), Some(-42));
    }
}
