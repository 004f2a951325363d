//! `config.json`: merging a JSON object from a file and `--set KEY=VALUE` pairs into it, keeping
//! existing keys and their order, written pretty-printed with a trailing newline.

use crate::error::{Error, Result};
use serde_json::{Map, Value};

/// A parsed `--set`: the dotted key path and its value (JSON when it parses, else a string).
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub key: Vec<String>,
    pub value: Value,
}

pub fn parse_setting(s: &str) -> Result<Setting> {
    let (k, v) = s.split_once('=').ok_or_else(|| Error::BadInput(format!("--set `{s}` has no `=`: use --set KEY=VALUE")))?;
    let key: Vec<String> = k.trim().split('.').map(str::to_string).collect();
    if key.iter().any(|p| p.is_empty()) {
        return Err(Error::BadInput(format!("--set `{s}`: invalid key `{k}`")));
    }
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
    Ok(Setting { key, value })
}

/// Parses text that must hold one JSON object.
pub fn parse_object(text: &str, what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(other) => Err(Error::BadInput(format!("{what} must hold a JSON object, not {}", kind(&other)))),
        Err(e) => Err(Error::BadInput(format!("{what} is not valid JSON: {e}"))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Merges `from` into `into`: nested objects merge key by key, anything else replaces.
pub fn merge(into: &mut Map<String, Value>, from: Map<String, Value>) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

pub fn apply(into: &mut Map<String, Value>, s: &Setting) -> Result<()> {
    let (last, parents) = s.key.split_last().expect("keys are non-empty");
    let mut cur = into;
    for (i, p) in parents.iter().enumerate() {
        let slot = cur.entry(p.clone()).or_insert_with(|| Value::Object(Map::new()));
        cur = match slot {
            Value::Object(m) => m,
            other => {
                return Err(Error::BadInput(format!(
                    "cannot set `{}`: `{}` is {}, not an object",
                    s.key.join("."),
                    s.key[..=i].join("."),
                    kind(other)
                )))
            }
        };
    }
    cur.insert(last.clone(), s.value.clone());
    Ok(())
}

/// The value at a dotted key path, if every step is an object holding it.
pub fn lookup<'a>(m: &'a Map<String, Value>, key: &[String]) -> Option<&'a Value> {
    let (last, parents) = key.split_last()?;
    let mut cur = m;
    for p in parents {
        cur = cur.get(p)?.as_object()?;
    }
    cur.get(last)
}

/// The file's bytes: 2-space pretty JSON plus a newline.
pub fn render(m: &Map<String, Value>) -> Vec<u8> {
    let mut s = serde_json::to_string_pretty(m).expect("a JSON map always serialises");
    s.push('\n');
    s.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_are_json_typed_with_nested_keys() {
        let mut m = parse_object(r#"{"z": 1, "model": {"act": "relu"}}"#, "x").unwrap();
        for s in ["hidden_size=128", "name=mlp", "flag=true", "model.layers=[784,128,10]", "model.dropout=0.1", "s=\"7\""] {
            apply(&mut m, &parse_setting(s).unwrap()).unwrap();
        }
        assert_eq!(
            Value::Object(m.clone()),
            json!({"z": 1, "model": {"act": "relu", "layers": [784,128,10], "dropout": 0.1}, "hidden_size": 128, "name": "mlp", "flag": true, "s": "7"})
        );
        // order kept: existing keys first
        assert_eq!(m.keys().next().unwrap(), "z");
        assert!(apply(&mut m, &parse_setting("z.a=1").unwrap()).is_err());
        assert!(parse_setting("novalue").is_err());
        assert!(parse_setting("a..b=1").is_err());
        assert!(parse_object("[1]", "f").is_err());
        assert!(render(&m).ends_with(b"}\n"));
    }
}

/// Keys added, removed and changed between two config objects; nested objects are compared
/// key by key and named with dots (`a.b`), other values (arrays included) as a whole.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct ConfigDiff {
    pub added: Map<String, Value>,
    pub removed: Map<String, Value>,
    pub changed: Vec<ChangedKey>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ChangedKey {
    pub key: String,
    pub old: Value,
    pub new: Value,
}

impl ConfigDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.changed.is_empty()
    }

    pub fn summary(&self) -> String {
        format!("{} added, {} removed, {} changed keys", self.added.len(), self.removed.len(), self.changed.len())
    }
}

fn flatten(prefix: &str, m: &Map<String, Value>, out: &mut Map<String, Value>) {
    for (k, v) in m {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            Value::Object(inner) if !inner.is_empty() => flatten(&key, inner, out),
            _ => {
                out.insert(key, v.clone());
            }
        }
    }
}

pub fn diff(old: &Map<String, Value>, new: &Map<String, Value>) -> ConfigDiff {
    let (mut a, mut b) = (Map::new(), Map::new());
    flatten("", old, &mut a);
    flatten("", new, &mut b);
    let mut d = ConfigDiff::default();
    for (k, v) in &a {
        match b.get(k) {
            None => {
                d.removed.insert(k.clone(), v.clone());
            }
            Some(nv) if nv != v => d.changed.push(ChangedKey { key: k.clone(), old: v.clone(), new: nv.clone() }),
            Some(_) => {}
        }
    }
    for (k, v) in &b {
        if !a.contains_key(k) {
            d.added.insert(k.clone(), v.clone());
        }
    }
    d
}

#[cfg(test)]
mod diff_tests {
    use super::*;

    #[test]
    fn nested_keys_are_compared_one_by_one() {
        let old = parse_object(r#"{"lr": 0.1, "layers": [1, 2], "opt": {"name": "adam", "beta": 0.9}, "gone": 1}"#, "a").unwrap();
        let new = parse_object(r#"{"lr": 0.05, "layers": [1, 2], "opt": {"name": "adam", "eps": 1e-8}, "new": "x"}"#, "b").unwrap();
        let d = diff(&old, &new);
        assert_eq!(d.added.keys().collect::<Vec<_>>(), ["opt.eps", "new"]);
        assert_eq!(d.removed.keys().collect::<Vec<_>>(), ["opt.beta", "gone"]);
        assert_eq!(d.changed.len(), 1);
        assert_eq!((d.changed[0].key.as_str(), &d.changed[0].old, &d.changed[0].new), ("lr", &Value::from(0.1), &Value::from(0.05)));
    }
}
