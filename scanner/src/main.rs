use std::process::ExitCode;

use scanner::{
    app,
    cli::{self, Cli, Command},
    merge,
    plan::InputError,
    responder,
};

fn main() -> ExitCode {
    let mut cli = match Cli::parse_nmap_style(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => match cli::one_line_error(&err) {
            Some(line) => {
                eprintln!("scanner: error: {line}");
                return ExitCode::from(2);
            }
            None => err.exit(),
        },
    };
    let result = match cli.command.take() {
        Some(Command::Responder(args)) => responder::run(args),
        Some(Command::Merge(args)) => merge::run(args),
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
