//! `epmd-conformance --reference HOST:PORT --candidate HOST:PORT [--relaxed]`:
//! runs the battery against both servers, prints every difference, and exits
//! 0 only if none is unexplained.

use std::process::ExitCode;

use epmd_conformance::args::{self, Command};
use epmd_conformance::{battery, runner};

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("epmd-conformance: {e}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("epmd-conformance: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let exchanges = battery::for_mode(args.relaxed);
    println!(
        "conformance: reference {}, candidate {}, {} command check, {} exchanges",
        args.reference,
        args.candidate,
        if args.relaxed { "relaxed" } else { "strict" },
        exchanges.len() + 1
    );
    let servers = runner::Servers {
        reference: args.reference,
        candidate: args.candidate,
    };
    match runtime.block_on(runner::run(servers, exchanges)) {
        Ok(report) => {
            print!("{report}");
            if report.unexplained() == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("epmd-conformance: {e}");
            ExitCode::FAILURE
        }
    }
}
