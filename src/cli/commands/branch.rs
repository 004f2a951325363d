use crate::ui::{self, Ui};
use hfgit::Result;
use std::process::ExitCode;

/// List, create or delete branches
///
/// With no NAME, lists local branches, the current one marked `*`. `hfgit branch <NAME>
/// [<START>]` creates NAME at START (default HEAD) without switching to it. `-d` deletes a
/// branch HEAD contains; `-D` deletes it even when its commits would be lost.
#[derive(clap::Args)]
pub struct Args {
    /// The branch to create or delete
    name: Option<String>,
    /// Where a new branch starts (default HEAD)
    #[arg(value_name = "START")]
    start: Option<String>,
    /// Delete NAME (refused when HEAD does not contain it)
    #[arg(short = 'd', long = "delete", conflicts_with = "start")]
    delete: bool,
    /// Delete NAME even when it is not merged
    #[arg(short = 'D', conflicts_with_all = ["start", "delete"])]
    force_delete: bool,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { name, start, delete, force_delete, json } = args;
    let repo = super::open_repo()?;
    match name {
        None if delete || force_delete => Err(hfgit::Error::BadInput("name the branch to delete".into())),
        None => {
            let list = hfgit::ops::branch::list(&repo)?;
            if json {
                ui::print_json(&list);
            } else {
                for b in &list {
                    println!("{} {}", if b.current { "*" } else { " " }, b.name);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(n) if delete || force_delete => {
            let was = hfgit::ops::branch::delete(&repo, &n, force_delete)?;
            ui.status(format!("Deleted branch {n} (was {})", &was[..7]));
            Ok(ExitCode::SUCCESS)
        }
        Some(n) => {
            let b = hfgit::ops::branch::create(&repo, &n, start.as_deref())?;
            if json {
                ui::print_json(&b);
            } else {
                ui.status(format!("Created branch {} at {}", b.name, &b.commit[..7]));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
