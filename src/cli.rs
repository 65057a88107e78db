//! The `towerkit` command, as a library: a program of one's own can offer
//! the same `serve` and `check` with factories of its own registered.
//!
//! ```no_run
//! use towerkit::deploy::{boxed_app, Registry};
//! use towerkit::core::app::Text;
//!
//! fn main() -> std::process::ExitCode {
//!     let mut registry = Registry::with_builtins();
//!     registry.app("motd", |section| {
//!         Ok(boxed_app(Text::new(section.require::<String>("message")?)))
//!     });
//!     towerkit::cli::main_with(registry)
//! }
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use crate::deploy::{parse_listen, Deployment, Registry};
use crate::server::{Server, DEFAULT_SHUTDOWN_GRACE};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Exit status of a config error, as the issue tracker and scripts expect.
const CONFIG_ERROR: u8 = 2;

#[derive(Parser)]
#[command(name = "towerkit", version, about = "Serve and check towerkit stacks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the stack a TOML file describes; with no file, serve a folder.
    Serve {
        /// The stack file. Without it, the folder `--root` (default: the
        /// current one) is served with listings on 127.0.0.1:8000.
        config: Option<PathBuf>,
        /// The folder to serve when no stack file is given.
        #[arg(long, value_name = "DIR", conflicts_with = "config")]
        root: Option<PathBuf>,
        /// Listen here instead of `[server] listen` (repeatable), e.g. 127.0.0.1:0.
        #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
        listen: Vec<std::net::SocketAddr>,
    },
    /// Check a stack file and print the assembled stack as a tree.
    Check {
        /// The stack file.
        config: PathBuf,
    },
}

fn parse_addr(text: &str) -> Result<std::net::SocketAddr, String> {
    parse_listen(text).ok_or_else(|| format!("`{text}` is not IP:PORT (e.g. 127.0.0.1:8080)"))
}

/// Runs the `towerkit` command line (`serve`, `check`, `--help`,
/// `--version`) with the factories of `registry`, and returns the exit
/// status: 0, 1 when serving fails, 2 for a config error.
pub fn main_with(registry: Registry) -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    match cli.command {
        Command::Check { config } => match load(&registry, &config) {
            Ok(deployment) => {
                print!("{}", deployment.tree);
                for section in &deployment.unused {
                    println!("(not served: [{section}])");
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Command::Serve {
            config,
            root,
            listen,
        } => {
            let deployment = match config {
                Some(config) => load(&registry, &config),
                None => load_folder(&registry, root.unwrap_or_else(|| PathBuf::from("."))),
            };
            match deployment {
                Ok(deployment) => serve(deployment, listen),
                Err(code) => code,
            }
        }
    }
}

fn load(registry: &Registry, config: &PathBuf) -> Result<Deployment, ExitCode> {
    registry.load(config).map_err(|err| {
        eprintln!("towerkit: {err}");
        ExitCode::from(CONFIG_ERROR)
    })
}

fn load_folder(registry: &Registry, root: PathBuf) -> Result<Deployment, ExitCode> {
    let root = std::fs::canonicalize(&root).map_err(|err| {
        eprintln!("towerkit: cannot serve {}: {err}", root.display());
        ExitCode::from(CONFIG_ERROR)
    })?;
    let stack = crate::deploy::folder_stack(&root);
    registry
        .load_str(&root.join("(folder stack)"), &stack)
        .map_err(|err| {
            eprintln!("towerkit: {err}");
            ExitCode::from(CONFIG_ERROR)
        })
}

fn serve(deployment: Deployment, listen: Vec<std::net::SocketAddr>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("towerkit: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let addrs = if listen.is_empty() {
        deployment.server.listen.clone()
    } else {
        listen
    };
    let grace = deployment
        .server
        .shutdown_grace
        .unwrap_or(DEFAULT_SHUTDOWN_GRACE);
    runtime.block_on(async move {
        let server = match Server::bind(addrs).await {
            Ok(server) => server.shutdown_grace(grace),
            Err(err) => {
                eprintln!("towerkit: {err}");
                return ExitCode::FAILURE;
            }
        };
        for addr in server.local_addrs() {
            eprintln!("towerkit: listening on http://{addr}");
        }
        match server.serve(deployment.app).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("towerkit: {err}");
                ExitCode::FAILURE
            }
        }
    })
}
