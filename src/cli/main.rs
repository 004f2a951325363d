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
    Fetch(commands::fetch::Args),
    Prune(commands::prune::Args),
    Du(commands::du::Args),
    Merge(commands::merge::Args),
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
    #[command(hide = true)]
    XetHash(commands::xet_hash::Args),
}

/// SIGINT and SIGTERM end hfgit after removing its temp files (exit 130 / 143, as a shell
/// reports a process killed by them). The signals are blocked in every thread (threads inherit
/// the mask; child processes get it reset by `std::process`) and taken by one thread with
/// `sigwait`, so the cleanup is ordinary code, not a signal handler. Must run before any other
/// thread starts.
fn watch_interrupts() {
    // SAFETY: plain libc calls on a local, initialised signal set; no other thread exists yet.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return; // signals keep their default action: the process just ends
        }
        set
    };
    std::thread::spawn(move || loop {
        let mut sig = 0;
        // SAFETY: `set` is a valid signal set and `sig` a valid out-pointer.
        if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
            hfgit::cleanup::remove_own_temps();
            std::process::exit(128 + sig);
        }
    });
}

fn main() -> ExitCode {
    // Like git: `hfgit log | head` ends quietly when the reader goes away.
    // SAFETY: restoring the default disposition of a signal before any thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    hfgit::cleanup::started();
    watch_interrupts();
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
        Command::Fetch(a) => commands::fetch::run(a, &ui),
        Command::Prune(a) => commands::prune::run(a, &ui),
        Command::Du(a) => commands::du::run(a, &ui),
        Command::Merge(a) => commands::merge::run(a, &ui),
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
        Command::XetHash(a) => commands::xet_hash::run(a, &ui),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            ui.error(&e);
            ExitCode::from(1)
        }
    }
}
