use std::process::ExitCode;

use scanner::{
    app,
    cli::{Cli, Command},
    plan::InputError,
    responder,
};

fn main() -> ExitCode {
    let mut cli = match Cli::parse_nmap_style(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let result = match cli.command.take() {
        Some(Command::Responder(args)) => responder::run(args),
        Some(Command::Generate { what }) => what
            .write(&mut std::io::stdout().lock())
            .map(|()| ExitCode::SUCCESS)
            .map_err(Into::into),
        None => app::run(cli),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("scanner: error: {err:#}");
            if err.is::<InputError>() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
