use std::process::ExitCode;

use scanner::{
    app::{self, InputError},
    cli::Cli,
};

fn main() -> ExitCode {
    let cli = match Cli::parse_nmap_style(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    match app::run(cli) {
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
