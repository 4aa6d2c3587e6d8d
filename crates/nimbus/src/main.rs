//! The `nimbus` command line: argument parsing and printing only; the work is
//! done by the library crates.

// Per-request allocations are many and small; see the workspace Cargo.toml.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod commands;
mod exit;

use clap::{Parser, Subcommand};

/// Nimbus runs WebAssembly: WASI programs now, HTTP functions next, each in a
/// fresh sandbox that sees only what it is granted.
#[derive(Debug, Parser)]
#[command(name = "nimbus", version, about, long_about = None)]
#[command(
    after_help = "Logging: set RUST_LOG (e.g. RUST_LOG=debug or RUST_LOG=nimbus_runtime=debug)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,

    /// Log format on stderr: text, or json (one object per line).
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    Run(commands::run::RunArgs),
    Up(commands::up::UpArgs),
    Build(commands::build::BuildArgs),
    New(commands::new::NewArgs),
    Compile(commands::compile::CompileArgs),
    Node(commands::node::NodeArgs),
    // `--hostname` is checked here (the arguments live in deploy.rs), so that
    // a bad one is refused, saying what a host name is, before packing.
    #[command(mut_arg("hostnames", |arg| arg.value_parser(commands::values::hostname)))]
    Deploy(commands::deploy::DeployArgs),
    Apps(commands::apps::AppsArgs),
    Keygen(commands::keygen::KeygenArgs),
    Sign(commands::sign::SignArgs),
    Registry(commands::registry::RegistryArgs),
}

fn main() {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    let code = match cli.command {
        Command::Run(args) => commands::run::main(args),
        Command::Up(args) => commands::up::main(args),
        Command::Build(args) => commands::build::main(args),
        Command::New(args) => commands::new::main(args),
        Command::Compile(args) => commands::compile::main(args),
        Command::Node(args) => commands::node::main(args),
        Command::Deploy(args) => commands::deploy::main(args),
        Command::Apps(args) => commands::apps::main(args),
        Command::Keygen(args) => commands::keygen::main(args),
        Command::Sign(args) => commands::sign::main(args),
        Command::Registry(args) => commands::registry::main(args),
    };
    std::process::exit(code);
}

fn init_tracing(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,nimbus::access=info"));
    if format == LogFormat::Json {
        nimbus_platform::init_json_logging(filter);
        return;
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .init();
}
