//! `epmd-bench`: a loopback load generator for any EPMD, the side-by-side
//! run of OTP's `epmd`, `epmd-rs` and the in-VM server behind `make bench`,
//! and the endurance run behind `make soak`.
//! Every load is bounded in time and in requests; every server it starts is
//! stopped by its own pid.

mod args;
mod capacity;
mod load;
mod machine;
mod registrations;
mod report;
mod responder;
mod results;
mod servers;
mod settings;
mod soak;
mod stats;
mod suite;
mod targets;
mod text;
mod vm;
mod wire;

use std::process::ExitCode;
use std::sync::Arc;

use args::Command;
use load::{Query, Work};
use registrations::Held;

/// Descriptors this process may need: every registration the capacity run
/// holds, plus the load's connections. Servers started from here inherit it.
const NOFILE: u64 = 262_144;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let (command, threads) = match args::parse(&argv) {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("epmd-bench: {e}\n\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    let nofile = servers::raise_nofile(NOFILE);
    // Only capacity, alone or in the suite, needs more than a few hundred.
    if nofile < NOFILE && matches!(command, Command::Suite { .. } | Command::Capacity { .. }) {
        eprintln!("epmd-bench: only {nofile} descriptors allowed; capacity is limited by that");
    }
    let runtime = if threads > 1 {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("epmd-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(command, nofile)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("epmd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, nofile: u64) -> std::io::Result<ExitCode> {
    match command {
        Command::Suite {
            mut settings,
            programs,
            markdown,
            json,
        } => {
            settings.fit_to_fd_limit(nofile);
            let machine = machine::describe(&programs);
            let results = suite::run(settings, &programs).await?;
            let report = report::Report::new(&results, &machine);
            println!("{}", report.tables());
            report.write_markdown(&markdown)?;
            report.write_json(&json)?;
            eprintln!(
                "epmd-bench: wrote {} and {}",
                markdown.display(),
                json.display()
            );
            Ok(if report.complete() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Lookups { addr, nodes, load } => {
            let mut held = Held::default();
            held.register(addr, "node", 0, nodes, LIMIT)
                .await
                .map_err(|e| std::io::Error::other(format!("registering: {e}")))?;
            let queries: Arc<[Query]> = (0..nodes)
                .map(|i| Query::port_please(&registrations::name("node", i)))
                .collect();
            let work = Work::Queries(queries);
            load::warm_up(addr, load, &work).await;
            print_summary("PORT2", load::run(addr, load, work).await);
            Ok(ExitCode::SUCCESS)
        }
        Command::Names { addr, nodes, load } => {
            let mut held = Held::default();
            held.register(addr, "node", 0, nodes, LIMIT)
                .await
                .map_err(|e| std::io::Error::other(format!("registering: {e}")))?;
            let queries: Arc<[Query]> = Arc::new([Query::names(nodes)]);
            let work = Work::Queries(queries);
            load::warm_up(addr, load, &work).await;
            print_summary("NAMES", load::run(addr, load, work).await);
            Ok(ExitCode::SUCCESS)
        }
        Command::Churn { addr, load } => {
            let tag = format!("churn{}", std::process::id());
            print_summary(
                "churn",
                load::run(addr, load, Work::Churn(tag.into())).await,
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Soak { options, programs } => {
            let passed = soak::run(&options, &programs).await?;
            eprintln!("epmd-bench: wrote {}", options.json.display());
            Ok(if passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Responder { port } => {
            tokio::task::spawn_blocking(move || responder::serve(port))
                .await
                .map_err(std::io::Error::other)??;
            Ok(ExitCode::SUCCESS)
        }
        Command::Capacity { addr, count, pid } => {
            let c = capacity::measure(addr, pid.unwrap_or(0), count).await;
            println!(
                "capacity: {} registrations held, answered: {}, stopped: {}, NAMES {:.1} ms",
                c.held,
                c.answered,
                c.stopped.as_deref().unwrap_or("no"),
                c.names_ms
            );
            if pid.is_some() {
                println!("RSS per registration: {:.0} bytes", c.rss_per_registration);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Registration timeout for the single commands.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(5);

fn print_summary(what: &str, sample: stats::Sample) {
    let s = sample.summary();
    println!(
        "{what}: {:.0}/s, p50 {:.0} µs, p99 {:.0} µs, {} answered, {} errors",
        s.rate, s.p50_us, s.p99_us, s.ok, s.errors
    );
}
