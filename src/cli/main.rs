//! The `hfgit` command line: argument parsing, output policy and error rendering. stdout carries
//! data; progress, status and warnings go to stderr; bars only on a terminal.

mod commands;
mod ui;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Version ML model weights as real git repositories, with Git LFS built in.
#[derive(Parser)]
#[command(name = "hfgit", version, about, max_term_width = 100)]
struct Cli {
    /// Run as if hfgit was started in DIR
    #[arg(short = 'C', global = true, value_name = "DIR", id = "chdir")]
    chdir: Option<PathBuf>,
    /// Print only errors
    #[arg(short, long, global = true)]
    quiet: bool,
    /// Print more about what is being done
    #[arg(short, long, global = true)]
    verbose: bool,
    /// Never draw progress bars
    #[arg(long, global = true)]
    no_progress: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Init(commands::init::Args),
    Add(commands::add::Args),
    Commit(commands::commit::Args),
    Status(commands::status::Args),
    Log(commands::log::Args),
    Fsck(commands::fsck::Args),
    Push(commands::push::Args),
    Clone(commands::clone::Args),
    Pull(commands::pull::Args),
    Diff(commands::diff::Args),
    Checkout(commands::checkout::Args),
    Restore(commands::restore::Args),
    Switch(commands::switch::Args),
    Branch(commands::branch::Args),
    Tag(commands::tag::Args),
    Scan(commands::scan::Args),
    Login(commands::login::LoginArgs),
    Logout(commands::login::LogoutArgs),
    Whoami(commands::login::WhoamiArgs),
    #[command(hide = true)]
    LfsPrePush(commands::lfs_pre_push::Args),
}

fn main() -> ExitCode {
    // Like git: `hfgit log | head` ends quietly when the reader goes away.
    // SAFETY: restoring the default disposition of a signal before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Some(dir) = &cli.chdir {
        if let Err(e) = std::env::set_current_dir(dir) {
            eprintln!("error: cannot change to {}: {e}", dir.display());
            return ExitCode::from(1);
        }
    }
    let ui = ui::Ui::new(cli.quiet, cli.verbose, cli.no_progress);
    let result = match cli.command {
        Command::Init(a) => commands::init::run(a, &ui),
        Command::Add(a) => commands::add::run(a, &ui),
        Command::Commit(a) => commands::commit::run(a, &ui),
        Command::Status(a) => commands::status::run(a, &ui),
        Command::Log(a) => commands::log::run(a, &ui),
        Command::Fsck(a) => commands::fsck::run(a, &ui),
        Command::Push(a) => commands::push::run(a, &ui),
        Command::Clone(a) => commands::clone::run(a, &ui),
        Command::Pull(a) => commands::pull::run(a, &ui),
        Command::Diff(a) => commands::diff::run(a, &ui),
        Command::Checkout(a) => commands::checkout::run(a, &ui),
        Command::Restore(a) => commands::restore::run(a, &ui),
        Command::Switch(a) => commands::switch::run(a, &ui),
        Command::Branch(a) => commands::branch::run(a, &ui),
        Command::Tag(a) => commands::tag::run(a, &ui),
        Command::Scan(a) => commands::scan::run(a, &ui),
        Command::Login(a) => commands::login::login(a, &ui),
        Command::Logout(a) => commands::login::logout(a, &ui),
        Command::Whoami(a) => commands::login::whoami(a, &ui),
        Command::LfsPrePush(a) => commands::lfs_pre_push::run(a, &ui),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            ui.error(&e);
            ExitCode::from(1)
        }
    }
}
