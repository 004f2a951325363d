use crate::ui::{self, Ui};
use hfgit::Result;
use std::process::ExitCode;

/// List, create or delete tags
///
/// With no NAME, lists tags. `hfgit tag <NAME> [<REV>]` tags REV (default HEAD); with `-m` the
/// tag is annotated (a tag object with the message and the committer as tagger). `-d` deletes.
#[derive(clap::Args)]
pub struct Args {
    /// The tag to create or delete
    name: Option<String>,
    /// What to tag (default HEAD)
    #[arg(value_name = "REV")]
    rev: Option<String>,
    /// Make an annotated tag with this message
    #[arg(short, long, value_name = "MSG")]
    message: Option<String>,
    /// Delete NAME
    #[arg(short = 'd', long = "delete", conflicts_with_all = ["rev", "message"])]
    delete: bool,
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, ui: &Ui) -> Result<ExitCode> {
    let Args { name, rev, message, delete, json } = args;
    let repo = super::open_repo()?;
    match name {
        None if delete || message.is_some() => Err(hfgit::Error::BadInput("name the tag".into())),
        None => {
            let list = hfgit::ops::tag::list(&repo)?;
            if json {
                ui::print_json(&list);
            } else {
                for t in &list {
                    println!("{}", t.name);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(n) if delete => {
            let was = hfgit::ops::tag::delete(&repo, &n)?;
            ui.status(format!("Deleted tag '{n}' (was {})", &was[..was.len().min(7)]));
            Ok(ExitCode::SUCCESS)
        }
        Some(n) => {
            let t = hfgit::ops::tag::create(&repo, &n, rev.as_deref(), message.as_deref())?;
            if json {
                ui::print_json(&t);
            } else {
                ui.status(format!("Tagged {} as {}", &t.commit[..7], t.name));
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
