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

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use crate::deploy::{parse_listen, Deployment, Registry};
use crate::server::{Reloadable, Server};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

mod metrics;
mod watch;

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
        /// Serve metrics here instead of `[metrics] listen` (each of several
        /// instances on one machine needs its own), e.g. 127.0.0.1:9101.
        #[arg(long, value_name = "ADDR", value_parser = parse_addr)]
        metrics_listen: Option<std::net::SocketAddr>,
        /// Development: rebuild the stack whenever the stack file or a file
        /// or folder it names changes (SIGHUP does the same at any time).
        #[arg(long)]
        reload: bool,
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
            metrics_listen,
            reload,
        } => {
            let source = match config {
                Some(config) => Source::Config(config),
                None => match std::fs::canonicalize(root.as_deref().unwrap_or(Path::new("."))) {
                    Ok(root) => Source::Folder(root),
                    Err(err) => {
                        let root = root.unwrap_or_else(|| PathBuf::from("."));
                        eprintln!("towerkit: cannot serve {}: {err}", root.display());
                        return ExitCode::from(CONFIG_ERROR);
                    }
                },
            };
            match source.load(&registry) {
                Ok(mut deployment) => {
                    if metrics_listen.is_some() {
                        deployment.server.metrics = metrics_listen;
                    }
                    serve(registry, source, deployment, listen, reload)
                }
                Err(err) => {
                    eprintln!("towerkit: {err}");
                    ExitCode::from(CONFIG_ERROR)
                }
            }
        }
    }
}

fn load(registry: &Registry, config: &Path) -> Result<Deployment, ExitCode> {
    registry.load(config).map_err(|err| {
        eprintln!("towerkit: {err}");
        ExitCode::from(CONFIG_ERROR)
    })
}

/// What `serve` builds its stack from, again on each reload.
#[derive(Clone)]
enum Source {
    Config(PathBuf),
    Folder(PathBuf),
}

impl Source {
    fn load(&self, registry: &Registry) -> Result<Deployment, crate::deploy::ConfigError> {
        match self {
            Source::Config(config) => registry.load(config),
            Source::Folder(root) => {
                let stack = crate::deploy::folder_stack(root);
                registry.load_str(&root.join("(folder stack)"), &stack)
            }
        }
    }
}

fn serve(
    registry: Registry,
    source: Source,
    deployment: Deployment,
    listen: Vec<std::net::SocketAddr>,
    watch: bool,
) -> ExitCode {
    // Taken before any thread starts: it clears the environment variables.
    let inherited = match crate::server::activation::listen_fds() {
        Ok(inherited) => inherited,
        Err(err) => {
            eprintln!("towerkit: {err}");
            return ExitCode::FAILURE;
        }
    };
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
    crate::server::raise_open_files_limit();
    runtime.block_on(async move {
        let options = deployment.server.clone();
        let mut listeners = options.listeners(&listen);
        let mut handed_down = Vec::new();
        if !inherited.is_empty() {
            if !listen.is_empty() {
                tracing::warn!(
                    "--listen is ignored: sockets were handed down by socket activation"
                );
            }
            // The sockets handed down take the place of `listen`; named
            // `https` (or `tls`) they speak TLS and take the place of
            // `[server] tls` addresses of its own too, which are otherwise
            // still bound.
            let named_tls = inherited.iter().any(|socket| socket.is_tls());
            let replaced = if named_tls {
                listeners.len()
            } else if listen.is_empty() {
                options.listen.len()
            } else {
                listen.len()
            };
            listeners.drain(..replaced.min(listeners.len()));
            let tls = options.tls.as_ref().map(|tls| tls.config.clone());
            for socket in inherited {
                let speaks_tls = if named_tls {
                    socket.is_tls()
                } else {
                    options.listen_tls().is_some()
                };
                let tls = if speaks_tls { tls.clone() } else { None };
                if speaks_tls && tls.is_none() {
                    eprintln!(
                        "towerkit: a socket handed down is named for TLS, but [server] has no tls"
                    );
                    return ExitCode::FAILURE;
                }
                handed_down.push((socket.listener, tls));
            }
            eprintln!(
                "towerkit: serving on {} socket(s) handed down by socket activation",
                handed_down.len()
            );
        }
        let builder = handed_down
            .into_iter()
            .fold(Server::builder(), |builder, (socket, tls)| {
                builder.inherit(socket, tls)
            });
        let builder = listeners
            .into_iter()
            .fold(builder, |builder, (addr, tls)| match tls {
                Some(tls) => builder.listen_tls(addr, tls),
                None => builder.listen(addr),
            })
            .limits(options.limits.clone())
            .shutdown_grace(options.shutdown_grace)
            .drain_delay(options.drain_delay)
            .reuse_port(options.reuse_port)
            .metrics(options.metrics.is_some());
        let server = match builder.bind().await {
            Ok(server) => server,
            Err(err) => {
                eprintln!("towerkit: {err}");
                return ExitCode::FAILURE;
            }
        };
        for url in server.urls() {
            eprintln!("towerkit: listening on {url}");
        }
        let scrapes = match options.metrics {
            Some(addr) => match metrics::start(addr, options.reuse_port).await {
                Ok((scrapes, scrape)) => {
                    for url in scrapes.urls() {
                        eprintln!("towerkit: metrics at {url}/metrics");
                    }
                    // Scraped until the server is done, drain and grace
                    // included.
                    Some(tokio::spawn(
                        scrapes.serve_with_shutdown(scrape, std::future::pending()),
                    ))
                }
                Err(err) => {
                    eprintln!("towerkit: {err}");
                    return ExitCode::FAILURE;
                }
            },
            None => None,
        };
        let paths = deployment.paths.clone();
        let (service, reloader) = Reloadable::new(deployment.app);
        let reloads = Reloads {
            registry: Arc::new(registry),
            source,
            reloader,
            options,
        };
        tokio::spawn(reloads.run(watch.then_some(paths)));
        let served = server.serve(service).await;
        if let Some(scrapes) = scrapes {
            scrapes.abort();
        }
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("towerkit: {err}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Rebuilds the stack on SIGHUP, and on changes to its files with
/// `--reload`.
struct Reloads {
    registry: Arc<Registry>,
    source: Source,
    reloader: crate::server::Reloader<crate::deploy::BoxApp>,
    /// The `[server]` section the listeners were made with.
    options: crate::deploy::ServerOptions,
}

impl Reloads {
    async fn run(mut self, watched: Option<Vec<PathBuf>>) {
        let mut hangup = hangup_signal();
        let mut watcher = match watched {
            Some(paths) => match watch::Watcher::new(&paths) {
                Ok(watcher) => {
                    eprintln!("towerkit: reloading when the stack's files change");
                    Some(watcher)
                }
                Err(err) => {
                    eprintln!("towerkit: cannot watch the stack's files: {err}");
                    None
                }
            },
            None => None,
        };
        loop {
            tokio::select! {
                Some(()) = hangup.recv() => tracing::info!("SIGHUP: reloading the stack"),
                Some(changed) = async {
                    match &mut watcher {
                        Some(watcher) => watcher.changed().await,
                        None => std::future::pending().await,
                    }
                } => tracing::info!(path = %changed.display(), "changed: reloading the stack"),
                else => return,
            }
            if let Some(paths) = self.reload().await {
                if let Some(watcher) = &mut watcher {
                    watcher.set_paths(&paths);
                }
            }
        }
    }

    /// Builds the stack again; on success new requests go to it, and the
    /// paths it depends on are returned.
    async fn reload(&mut self) -> Option<Vec<PathBuf>> {
        let registry = self.registry.clone();
        let source = self.source.clone();
        let loaded = tokio::task::spawn_blocking(move || source.load(&registry)).await;
        let deployment = match loaded {
            Ok(Ok(deployment)) => deployment,
            Ok(Err(err)) => {
                tracing::error!("reload failed, the running stack stays: {err}");
                ::metrics::counter!("towerkit_reloads_total", "result" => "failed").increment(1);
                return None;
            }
            Err(err) => {
                tracing::error!("reload failed, the running stack stays: {err}");
                ::metrics::counter!("towerkit_reloads_total", "result" => "failed").increment(1);
                return None;
            }
        };
        let new = &deployment.server;
        if let (Some(old), Some(new)) = (&self.options.tls, &new.tls) {
            // New connections get the renewed certificate.
            old.config.replace(new.config.clone());
        }
        if new.listen != self.options.listen
            || new.tls.is_some() != self.options.tls.is_some()
            || new.limits != self.options.limits
            || new.shutdown_grace != self.options.shutdown_grace
            || new.drain_delay != self.options.drain_delay
            || new.reuse_port != self.options.reuse_port
            || new.metrics != self.options.metrics
        {
            tracing::warn!(
                "[server] listeners and limits, or [metrics], changed: they take effect on restart"
            );
        }
        self.reloader.replace(deployment.app);
        ::metrics::counter!("towerkit_reloads_total", "result" => "ok").increment(1);
        eprintln!("towerkit: reloaded");
        Some(deployment.paths)
    }
}

/// SIGHUP, as a stream; never, where there is no such signal.
fn hangup_signal() -> tokio::sync::mpsc::Receiver<()> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::hangup()) {
            Ok(mut stream) => {
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        // A reload already queued covers this one too.
                        let _ = tx.try_send(());
                    }
                });
            }
            Err(err) => tracing::warn!(error = %err, "cannot listen for SIGHUP"),
        }
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}
