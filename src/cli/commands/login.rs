use crate::ui::{self, Ui};
use hfgit::net::credentials::hf_token;
use hfgit::{Error, Result};
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

/// Store a Hugging Face token (checked with the Hub first), where huggingface_hub keeps it
#[derive(clap::Args)]
pub struct LoginArgs {
    /// Read the token from standard input instead of prompting
    #[arg(long)]
    token_stdin: bool,
}

/// Remove the stored Hugging Face token
#[derive(clap::Args)]
pub struct LogoutArgs {}

/// Show the Hub account of the current token
#[derive(clap::Args)]
pub struct WhoamiArgs {
    /// Print JSON on stdout
    #[arg(long)]
    json: bool,
}

fn env_token_set() -> bool {
    ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"].iter().any(|v| std::env::var(v).is_ok_and(|t| !t.trim().is_empty()))
}

pub fn login(args: LoginArgs, ui: &Ui) -> Result<ExitCode> {
    let LoginArgs { token_stdin } = args;
    let raw = if token_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| Error::failed(format!("reading the token from stdin: {e}")))?;
        s
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Hugging Face token (input hidden): ").map_err(|e| Error::failed(format!("reading the token: {e}")))?
    } else {
        return Err(Error::with_hint("no terminal to ask for the token", "pipe it in: `echo \"$TOKEN\" | hfgit login --token-stdin`"));
    };
    let token = hfgit::hub::api::clean_token(&raw)?;
    let endpoint = hfgit::net::remote::hub_endpoint();
    let who = hfgit::hub::api::whoami(&endpoint, &token)?;
    let path = hfgit::hub::api::save_token(&token)?;
    ui.status(format!(
        "Logged in as {}{} (token saved to {})",
        who.name,
        who.role.map(|r| format!(", token role: {r}")).unwrap_or_default(),
        path.display()
    ));
    if env_token_set() {
        ui.warn("HF_TOKEN (or HUGGING_FACE_HUB_TOKEN) is set in the environment and takes precedence over the saved token");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn logout(_args: LogoutArgs, ui: &Ui) -> Result<ExitCode> {
    if hfgit::hub::api::delete_token()? {
        ui.status(format!("Removed {}", hfgit::hub::api::token_path()?.display()));
    } else {
        ui.status("Not logged in (no token file)");
    }
    if env_token_set() {
        ui.warn("HF_TOKEN (or HUGGING_FACE_HUB_TOKEN) is still set in the environment: unset it to log out completely");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn whoami(args: WhoamiArgs, _ui: &Ui) -> Result<ExitCode> {
    let WhoamiArgs { json } = args;
    let token = hf_token().ok_or_else(|| Error::with_hint("not logged in to the Hub", "run `hfgit login`, or set HF_TOKEN"))?;
    let who = hfgit::hub::api::whoami(&hfgit::net::remote::hub_endpoint(), &token)?;
    if json {
        ui::print_json(&who);
    } else {
        println!("{}", who.name);
        if !who.orgs.is_empty() {
            println!("orgs: {}", who.orgs.join(","));
        }
    }
    Ok(ExitCode::SUCCESS)
}
