use std::process::ExitCode;

use scanner::{
    app, checkpoint,
    cli::{self, Cli, Command},
    merge,
    plan::InputError,
    responder,
};

fn main() -> ExitCode {
    let args: Vec<_> = std::env::args_os().collect();
    let mut cli = match Cli::parse_nmap_style(args.clone()) {
        Ok(cli) => cli,
        Err(err) => match cli::one_line_error(&err) {
            Some(line) => {
                eprintln!("scanner: error: {line}");
                return ExitCode::from(2);
            }
            None => err.exit(),
        },
    };
    // `scanner --resume FILE` without targets repeats the command line FILE was written for.
    if let Some(path) = cli.resume.clone()
        && cli.targets.is_empty()
        && cli.input_list.is_none()
    {
        let resumed = checkpoint::Checkpoint::read(&path)
            .map(|checkpoint| checkpoint::resumed_args(&args, &checkpoint));
        cli = match resumed.map(Cli::parse_nmap_style) {
            Ok(Ok(cli)) => cli,
            Ok(Err(err)) => {
                eprintln!(
                    "scanner: error: the command line of {}: {}",
                    path.display(),
                    cli::one_line_error(&err).unwrap_or_else(|| err.to_string())
                );
                return ExitCode::from(2);
            }
            Err(err) => {
                eprintln!("scanner: error: {err}");
                return ExitCode::from(2);
            }
        };
    }
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
