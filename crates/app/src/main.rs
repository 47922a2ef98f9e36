//! `roomwarden`: run the server, `roomwarden keys` to print the keys, `roomwarden openapi`
//! to print the OpenAPI document, or `roomwarden audit verify [--room ID]` to check the
//! audit log's chains (docs/api.md §14.2).

use roomwarden::config::Config;
use roomwarden::startup::{Application, open_store};
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "usage: roomwarden [serve | keys | openapi | audit verify [--room ID]]";

fn main() -> ExitCode {
    roomwarden::init_tracing();
    let command = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "serve".to_owned());
    let result = match command.as_str() {
        "serve" => serve(),
        "keys" => keys(),
        "openapi" => print(&roomwarden::openapi::document_json()),
        "audit" => match audit_verify(&std::env::args().skip(2).collect::<Vec<_>>()) {
            Ok(code) => return code,
            Err(e) => Err(e),
        },
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

/// `audit verify [--room ID]`: recomputes the chains of deletion records (one room's, or every
/// room's) against the database; one line per broken room, then a summary. Exit status 0
/// when every chain holds, 1 otherwise (docs/operations.md, "Verifying the audit log").
fn audit_verify(args: &[String]) -> anyhow::Result<ExitCode> {
    use roomwarden_domain::ids::RoomId;
    use roomwarden_domain::usecases::audit;
    let room = match args {
        [verify] if verify == "verify" => None,
        [verify, flag, room] if verify == "verify" && flag == "--room" => {
            Some(RoomId::parse(room).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
        _ => anyhow::bail!("{USAGE}"),
    };
    let config = Config::from_env()?;
    let (store, _) = open_store(&config)?;
    let reports = match room {
        Some(room) => {
            let report = audit::verify_chain(&store, &room).map_err(|e| anyhow::anyhow!("{e}"))?;
            std::iter::once((room, report)).collect()
        }
        None => audit::verify_all(&store).map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let records: u64 = reports.values().map(|r| r.records).sum();
    let mut broken = 0;
    for (room, report) in &reports {
        if let Some(first) = &report.first_invalid {
            broken += 1;
            print(&format!(
                "room {}: chain broken at record {first} ({} records)",
                room.as_str(),
                report.records
            ))?;
        }
    }
    print(&format!(
        "{records} records in {} rooms: {}",
        reports.len(),
        if broken == 0 {
            "every chain holds".to_owned()
        } else {
            format!("{broken} broken")
        }
    ))?;
    Ok(if broken == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
