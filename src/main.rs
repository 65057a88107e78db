//! The `towerkit` command: serve or check a declarative stack.

fn main() -> std::process::ExitCode {
    towerkit::cli::main_with(towerkit::deploy::Registry::with_builtins())
}
