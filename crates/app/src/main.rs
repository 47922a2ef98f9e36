//! `roomwarden`: run the server, or `roomwarden keys` to print the keys.

use roomwarden::config::Config;
use roomwarden::startup::{Application, open_store};
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "usage: roomwarden [serve | keys | openapi]";

fn main() -> ExitCode {
    roomwarden::init_tracing();
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    let result = match command.as_str() {
        "serve" => serve(),
        "keys" => keys(),
        "openapi" => print(&roomwarden::openapi::document_json()),
        "-h" | "--help" | "help" => print(USAGE),
        other => Err(anyhow::anyhow!("unknown command {other:?}; {USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roomwarden: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` and a newline to standard output.
fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")?;
    out.flush()?;
    Ok(())
}

fn serve() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let app = Application::build(&config)?;
    if let Some(banner) = app.banner() {
        print(banner)?;
    }
    tracing::info!(address = %app.addr(), "listening on http://{}", app.addr());
    tracing::info!("moderator console at http://{}/console", app.addr());
    actix_web::rt::System::new().block_on(app.run())?;
    tracing::info!("stopped");
    Ok(())
}

fn keys() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let (_, keys) = open_store(&config)?;
    match roomwarden::keys::banner(&keys, false) {
        Some(text) => print(&text),
        None => Ok(()),
    }
}
