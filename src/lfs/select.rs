//! Which LFS files a clone or pull gives content (`--include` / `--exclude`, kept as git-lfs's
//! `lfs.fetchinclude` / `lfs.fetchexclude`, so git-lfs honours them too).

use crate::error::{Context, Error, Result};
use git2::Repository;
use globset::{GlobSet, GlobSetBuilder};

/// Which LFS paths get their content.
pub struct Selection {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

/// One pattern, gitignore-style as git-lfs reads fetchinclude: without `/` it matches a name at
/// any depth (and everything under a directory of that name); with `/` it is anchored.
fn add_pattern(b: &mut GlobSetBuilder, pat: &str) -> Result<()> {
    let p = pat.trim();
    if p.is_empty() {
        return Ok(());
    }
    let anchored = p.trim_start_matches('/').trim_end_matches('/');
    let bases: Vec<String> = if p.trim_end_matches('/').contains('/') {
        vec![anchored.to_string()]
    } else {
        vec![anchored.to_string(), format!("**/{anchored}")]
    };
    for base in bases {
        for g in [base.clone(), format!("{base}/**")] {
            let glob = globset::GlobBuilder::new(&g)
                .literal_separator(true)
                .build()
                .map_err(|e| Error::BadInput(format!("invalid pattern `{pat}`: {e}")))?;
            b.add(glob);
        }
    }
    Ok(())
}

fn build(patterns: &[String]) -> Result<Option<GlobSet>> {
    let pats: Vec<&str> = patterns.iter().flat_map(|p| p.split(',')).map(str::trim).filter(|p| !p.is_empty()).collect();
    if pats.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in pats {
        add_pattern(&mut b, p)?;
    }
    b.build().map(Some).map_err(|e| Error::BadInput(format!("invalid pattern: {e}")))
}

impl Selection {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Selection> {
        Ok(Selection { include: build(include)?, exclude: build(exclude)? })
    }

    /// `lfs.fetchinclude` / `lfs.fetchexclude` from git config.
    pub fn from_config(repo: &Repository) -> Result<Selection> {
        let cfg = repo.config().context("reading git config")?;
        let get = |k: &str| cfg.get_string(k).ok().map(|v| vec![v]).unwrap_or_default();
        Selection::new(&get("lfs.fetchinclude"), &get("lfs.fetchexclude"))
    }

    pub fn selects(&self, path: &str) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(path)) && !self.exclude.as_ref().is_some_and(|g| g.is_match(path))
    }
}

/// Saves the patterns so later pulls (and git-lfs) honour them.
pub fn save_selection(repo: &Repository, include: &[String], exclude: &[String]) -> Result<()> {
    let mut cfg = repo.config().context("opening git config")?;
    if !include.is_empty() {
        cfg.set_str("lfs.fetchinclude", &include.join(",")).context("saving lfs.fetchinclude")?;
    }
    if !exclude.is_empty() {
        cfg.set_str("lfs.fetchexclude", &exclude.join(",")).context("saving lfs.fetchexclude")?;
    }
    Ok(())
}

/// Makes the patterns the whole selection: each of `lfs.fetchinclude` / `lfs.fetchexclude` is
/// set to the given patterns, or removed when none are given (`pull --include` widening what
/// `clone --no-lfs` excluded must not leave the old exclusion in place).
pub fn replace_selection(repo: &Repository, include: &[String], exclude: &[String]) -> Result<()> {
    Selection::new(include, exclude)?; // refuse a bad pattern before anything is saved
    let mut cfg = repo.config().context("opening git config")?;
    for (key, pats) in [("lfs.fetchinclude", include), ("lfs.fetchexclude", exclude)] {
        if pats.is_empty() {
            match cfg.remove(key) {
                Err(e) if e.code() != git2::ErrorCode::NotFound => return Err(e).context(format!("removing {key}")),
                _ => {}
            }
        } else {
            cfg.set_str(key, &pats.join(",")).context(format!("saving {key}"))?;
        }
    }
    Ok(())
}
