//! The model card: `README.md` with the Hub's YAML front matter (`library_name`, `license`,
//! `tags`, `base_model`), written by `hfgit init` when there is none, and checked on commit —
//! the Hub rejects a push whose README metadata does not parse.

use serde::Serialize;

/// What goes into a new card's front matter.
#[derive(Debug, Clone, Serialize)]
pub struct CardMeta {
    pub library_name: String,
    /// A Hub license id (`apache-2.0`, `mit`, …); `unknown` when none was given.
    pub license: String,
    pub tags: Vec<String>,
    pub base_model: Option<String>,
}

impl Default for CardMeta {
    fn default() -> Self {
        CardMeta { library_name: "pytorch".into(), license: "unknown".into(), tags: vec!["pytorch".into()], base_model: None }
    }
}

/// YAML needs quotes for values that would otherwise change type or meaning.
fn scalar(v: &str) -> String {
    let plain = !v.is_empty()
        && v.chars().all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        && !["true", "false", "yes", "no", "null", "~", "on", "off"].contains(&v.to_ascii_lowercase().as_str())
        && v.parse::<f64>().is_err();
    if plain {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

pub fn render(meta: &CardMeta, name: &str) -> String {
    let mut s = String::from("---\n");
    s.push_str(&format!("library_name: {}\n", scalar(&meta.library_name)));
    s.push_str(&format!("license: {}\n", scalar(&meta.license)));
    if !meta.tags.is_empty() {
        s.push_str("tags:\n");
        for t in &meta.tags {
            s.push_str(&format!("- {}\n", scalar(t)));
        }
    }
    if let Some(b) = &meta.base_model {
        s.push_str(&format!("base_model: {}\n", scalar(b)));
    }
    s.push_str("---\n\n");
    s.push_str(&format!("# {name}\n\n"));
    s.push_str("A PyTorch model. Its weights are `pytorch_model.bin` (a state dict) and its hyper-parameters are in `config.json`.\n\n");
    s.push_str("## Usage\n\n```python\nimport json, torch\n\nstate_dict = torch.load(\"pytorch_model.bin\", weights_only=True)\nconfig = json.load(open(\"config.json\"))\n```\n");
    s
}

/// The YAML between a README's opening `---` and its closing one: `None` without front matter,
/// `Some(None)` when the block is never closed.
pub fn front_matter(readme: &str) -> Option<Option<&str>> {
    let text = readme.strip_prefix('\u{feff}').unwrap_or(readme);
    let rest = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n"))?;
    let end = rest.find("\n---\n").or_else(|| rest.find("\n---\r\n")).or_else(|| rest.strip_suffix("\n---").map(|r| r.len()));
    Some(end.map(|e| &rest[..e]))
}

/// A warning when `readme` opens a front-matter block that is unterminated, not valid YAML,
/// or not a mapping. `None` when there is no front matter or it is fine.
pub fn front_matter_problem(readme: &str) -> Option<String> {
    let yaml = match front_matter(readme)? {
        Some(y) => y,
        None => return Some("README.md opens a YAML front matter block (---) that is never closed".into()),
    };
    match yaml_rust2::YamlLoader::load_from_str(yaml) {
        Err(e) => Some(format!("README.md front matter is not valid YAML: {e}")),
        Ok(docs) => match docs.first() {
            None | Some(yaml_rust2::Yaml::Hash(_)) => None,
            Some(_) => Some("README.md front matter must be a mapping of keys (library_name: …, license: …)".into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_cards_parse_and_carry_the_fields() {
        let meta = CardMeta {
            library_name: "pytorch".into(),
            license: "apache-2.0".into(),
            tags: vec!["mnist".into(), "yes".into()],
            base_model: Some("alice/base: v1".into()),
        };
        let card = render(&meta, "mlp");
        assert_eq!(front_matter_problem(&card), None);
        assert!(
            card.starts_with(
                "---\nlibrary_name: pytorch\nlicense: apache-2.0\ntags:\n- mnist\n- \"yes\"\nbase_model: \"alice/base: v1\"\n---\n"
            ),
            "{card}"
        );
    }

    #[test]
    fn broken_front_matter_is_reported() {
        assert_eq!(front_matter_problem("# no front matter\n"), None);
        assert!(front_matter_problem("---\nlicense: mit\n").unwrap().contains("never closed"));
        assert!(front_matter_problem("---\nlicense: [mit\n---\n").unwrap().contains("not valid YAML"));
        assert!(front_matter_problem("---\n- a\n- b\n---\n").unwrap().contains("mapping"));
        assert_eq!(front_matter_problem("---\nlicense: mit\ntags:\n- x\n---\nbody\n"), None);
    }
}
