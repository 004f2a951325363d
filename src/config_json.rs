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
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| Error::BadInput(format!("--set `{s}` has no `=`: use --set KEY=VALUE")))?;
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
