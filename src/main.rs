//! The `pos-lottery` binary: settings, logging, signals and exit codes.
//!
//! Try it:
//!
//! ```text
//! cargo run --release            # serves on 127.0.0.1:9000, dashboard on :8080
//! nc localhost 9000              # in two or more terminals: a balance, then BPMs
//! ```

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use pos_lottery::client;
use pos_lottery::config::{self, Config, HttpAddr};
use pos_lottery::round::Ticks;

#[derive(Parser)]
#[command(
    name = "pos-lottery",
    version,
    about = "A proof-of-stake lottery server: stake over TCP, a verifiable stake-weighted draw picks every block's winner.",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Check a data directory offline: every hash, link, draw, reveal and signature. Changes
    /// nothing.
    Verify {
        /// The data directory [env: DATA_DIR] [default: ./data]
        dir: Option<PathBuf>,
        /// Also compare with another copy of the chain (an older data directory, or a file of
        /// saved blocks: JSON lines, or arrays as /blockchain and the broadcast send): a block
        /// the server signed that differs from this directory's, or lies past its tip, fails.
        #[arg(long, value_name = "DIR_OR_FILE")]
        against: Option<PathBuf>,
        /// Ledger mode: a genesis file that must be the directory's own genesis.json
        #[arg(long, env = "GENESIS", value_parser = parse_genesis)]
        genesis: Option<pos_lottery::pool::GenesisSetting>,
    },
    /// Wins against stake-weighted expectations, per validator, with a chi-square test.
    Stats {
        /// The data directory [env: DATA_DIR] [default: ./data]
        dir: Option<PathBuf>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Cut a damaged tail the server refuses (the last block, later draw lines), after showing
    /// every byte; a damaged middle is refused. A dry run unless --yes.
    Repair {
        /// The data directory [env: DATA_DIR] [default: ./data]
        dir: Option<PathBuf>,
        /// Cut the bytes shown, instead of only showing them.
        #[arg(long)]
        yes: bool,
    },
    /// Play validators against a running server over TCP, for demos and load tests.
    Simulate(pos_lottery::client::simulate::SimulateArgs),
    /// Ledger mode: make an account key file (mode 0600) and print its address.
    Keygen(client::keys::KeygenArgs),
    /// Ledger mode: make key files for a class and the genesis.json that funds them.
    Genesis(client::keys::GenesisArgs),
    /// Ledger mode: print the `auth` line that answers a pasted `challenge` line.
    Sign(client::sign::SignArgs),
    /// Ledger mode: talk to the server like nc, logging in with a key file.
    Connect(client::connect::ConnectArgs),
    /// Ledger mode: sign a transfer and submit it over HTTP.
    Transfer(client::transfer::TransferArgs),
    /// Ledger mode: sign a delegation of tokens to a validator and submit it over HTTP.
    Delegate(client::delegate::DelegateArgs),
    /// Ledger mode: sign an undelegation (tokens back from a validator at the next epoch) and submit it over HTTP.
    Undelegate(client::delegate::DelegateArgs),
    /// Ledger mode: sign a validator's commission (the percent of its block rewards it keeps) and submit it over HTTP.
    Commission(client::delegate::CommissionArgs),
    /// Ledger mode: recompute block INDEX's draw over HTTP, then sign and submit an attestation
    /// of it; offline (--chain-id, --hash), print the `attest` line for nc.
    Attest(client::attest::AttestArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Listen address; a bare port means 127.0.0.1:PORT (ADDR=0.0.0.0:9000 accepts other machines)
    #[arg(long, env = "ADDR", default_value = "9000", value_parser = config::parse_addr)]
    addr: std::net::SocketAddr,
    /// Round length in seconds; fractions allowed (0.25)
    #[arg(long, allow_negative_numbers = true, env = "ROUND_SECS", default_value = "30", value_parser = config::parse_positive_secs)]
    round_secs: Duration,
    /// How often every connection gets the chain broadcast (the newest BROADCAST_BLOCKS blocks as JSON); 0 turns it off
    #[arg(long, allow_negative_numbers = true, env = "BROADCAST_SECS", default_value = "60", value_parser = config::parse_secs_or_off)]
    broadcast_secs: Duration,
    /// Smallest accepted stake
    #[arg(long, allow_negative_numbers = true, env = "MIN_STAKE", default_value = "1", value_parser = config::parse_at_least_one)]
    min_stake: u64,
    /// Tokens added to the winner's stake after each win (ledger mode: to its balance, and fixed by the chain's genesis block)
    #[arg(long, allow_negative_numbers = true, env = "BLOCK_REWARD", default_value = "0", value_parser = config::parse_u64)]
    block_reward: u64,
    /// The data directory: chain, draws, slashes, the lock and (v2) the server's key and reveal chains (created if missing)
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Connections beyond this are told "server full" and closed
    #[arg(long, allow_negative_numbers = true, env = "MAX_CONNECTIONS", default_value = "10000", value_parser = config::parse_connection_limit)]
    max_connections: usize,
    /// Seconds a connection may take to answer the balance prompt (watchers are exempt)
    #[arg(long, allow_negative_numbers = true, env = "STAKE_TIMEOUT_SECS", default_value = "60", value_parser = config::parse_positive_secs)]
    stake_timeout_secs: Duration,
    /// Seconds a write to a client may make no progress before that connection is closed
    #[arg(long, allow_negative_numbers = true, env = "WRITE_TIMEOUT_SECS", default_value = "10", value_parser = config::parse_positive_secs)]
    write_timeout_secs: Duration,
    /// HTTP address of the dashboard and JSON API; `off` disables it, port 0 picks one
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8080", value_parser = config::parse_http_addr)]
    http_addr: HttpAddr,
    /// How many of the newest blocks the chain broadcast carries; 0 sends the whole chain
    #[arg(long, allow_negative_numbers = true, env = "BROADCAST_BLOCKS", default_value = "100", value_parser = config::parse_u64)]
    broadcast_blocks: u64,
    /// Open HTTP connections (event streams included) beyond this are refused
    #[arg(long, allow_negative_numbers = true, env = "HTTP_MAX_CONNECTIONS", default_value = "256", value_parser = config::parse_connection_limit)]
    http_max_connections: usize,
    /// Seconds an HTTP connection may be idle or take to send its request headers
    #[arg(long, allow_negative_numbers = true, env = "HTTP_TIMEOUT_SECS", default_value = "30", value_parser = config::parse_positive_secs)]
    http_timeout_secs: Duration,
    /// Reveals in each committed reveal chain of a new chain (pos-lottery-v2); the server rotates to a new chain before one runs out
    #[arg(long, env = "SEED_CHAIN_LEN", default_value = "4194304", value_parser = config::parse_at_least_one, allow_negative_numbers = true)]
    seed_chain_len: u64,
    /// Ledger mode: stake is owned by the accounts of this genesis file (Ed25519 keys, signed logins and transfers); unset, the tutorial mode of typed balances
    #[arg(long, env = "GENESIS", value_parser = parse_genesis)]
    genesis: Option<pos_lottery::pool::GenesisSetting>,
    /// Ledger mode: signed transfers (POST /api/transactions) accepted per second, server-wide, in bursts of as many; beyond it a 429; 0 means no limit
    #[arg(long, allow_negative_numbers = true, env = "TRANSFERS_PER_SEC", default_value = "20000", value_parser = config::parse_u64)]
    transfers_per_sec: u64,
    /// Ledger mode: rounds per epoch; each epoch's draws weigh the stakes snapshotted when its first round opened (a change applies from the next epoch)
    #[arg(long, allow_negative_numbers = true, env = "EPOCH_ROUNDS", default_value = "10", value_parser = config::parse_at_least_one)]
    epoch_rounds: u64,
    /// Ledger mode: a block is final once its attesters hold more than this fraction of its epoch's snapshot stake: p/q (3/4, 2/3) or a decimal (0.75), read exactly, 0 < p < q (a change applies from the next epoch)
    #[arg(long, env = "FINALITY", default_value = "3/4", value_parser = pos_lottery::attest::Fraction::parse)]
    finality: pos_lottery::attest::Fraction,
    /// Ledger mode: tokens minted to each attester of a block that became final, paid by the first block after (a change applies from the next epoch)
    #[arg(long, allow_negative_numbers = true, env = "ATTEST_REWARD", default_value = "0", value_parser = config::parse_u64)]
    attest_reward: u64,
    /// Ledger mode: percent of each delegation to a validator burned when the validator is slashed (0-100; a change applies from the next epoch)
    #[arg(long, allow_negative_numbers = true, env = "DELEGATION_SLASH_PERCENT", default_value = "10", value_parser = config::parse_percent)]
    delegation_slash_percent: u64,
}

fn parse_genesis(s: &str) -> Result<pos_lottery::pool::GenesisSetting, String> {
    pos_lottery::pool::GenesisSetting::load(std::path::Path::new(s))
}

impl ServeArgs {
    fn into_config(self) -> Config {
        Config {
            addr: self.addr,
            round: self.round_secs,
            broadcast: Some(self.broadcast_secs).filter(|d| !d.is_zero()),
            min_stake: self.min_stake,
            block_reward: self.block_reward,
            data_dir: self.data_dir,
            max_connections: self.max_connections,
            stake_timeout: self.stake_timeout_secs,
            write_timeout: self.write_timeout_secs,
            http_addr: self.http_addr.0,
            broadcast_blocks: self.broadcast_blocks,
            http_max_connections: self.http_max_connections,
            http_timeout: self.http_timeout_secs,
            seed_chain_len: self.seed_chain_len,
            genesis: self.genesis,
            transfers_per_sec: self.transfers_per_sec,
            epoch_rounds: self.epoch_rounds,
            finality: self.finality,
            attest_reward: self.attest_reward,
            delegation_slash_percent: self.delegation_slash_percent,
        }
    }
}

fn main() -> ExitCode {
    if let Err(e) = load_dotenv() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                e.exit();
            }
            // One line naming the setting and what was wrong, not clap's usage block.
            let text = e.render().to_string();
            eprintln!("{}", text.lines().next().unwrap_or("error: bad arguments"));
            return ExitCode::from(2);
        }
    };
    let rust_log = match std::env::var("RUST_LOG") {
        Ok(value) => Some(value),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(value)) => {
            eprintln!("error: invalid RUST_LOG {value:?}: not valid UTF-8");
            return ExitCode::from(2);
        }
    };
    let filter = match config::parse_log_filter(rust_log.as_deref()) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let data_dir = cli.serve.data_dir.clone();
    match cli.command {
        None => serve(cli.serve.into_config()),
        Some(Command::Verify {
            dir,
            against,
            genesis,
        }) => verify(dir.unwrap_or(data_dir), against, genesis),
        Some(Command::Stats { dir, json }) => stats(dir.unwrap_or(data_dir), json),
        Some(Command::Repair { dir, yes }) => repair(dir.unwrap_or(data_dir), yes),
        Some(Command::Simulate(args)) => {
            match runtime().and_then(|rt| rt.block_on(pos_lottery::client::simulate::run(args))) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Some(Command::Keygen(args)) => tool_exit(client::keys::keygen(&args)),
        Some(Command::Genesis(args)) => tool_exit(client::keys::genesis(&args)),
        Some(Command::Sign(args)) => tool_exit(client::sign::sign(&args)),
        Some(Command::Transfer(args)) => tool_exit(client::transfer::transfer(&args)),
        Some(Command::Delegate(args)) => tool_exit(client::delegate::delegate(
            &args,
            pos_lottery::tx::Direction::Delegate,
        )),
        Some(Command::Undelegate(args)) => tool_exit(client::delegate::delegate(
            &args,
            pos_lottery::tx::Direction::Undelegate,
        )),
        Some(Command::Commission(args)) => tool_exit(client::delegate::commission(&args)),
        Some(Command::Attest(args)) => tool_exit(client::attest::attest(&args)),
        Some(Command::Connect(args)) => match runtime() {
            Ok(rt) => tool_exit(rt.block_on(client::connect::run(args))),
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// A ledger tool's outcome: its error on one line, and its exit code (2 bad input, 1 failed).
fn tool_exit(result: Result<(), client::ToolError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Sets the settings in `./.env` that the environment does not already set. Only the working
/// directory's file counts (dotenvy's `dotenv()` would also search the parent directories);
/// a missing file is fine.
fn load_dotenv() -> Result<(), String> {
    let file = match std::fs::File::open(".env") {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!(".env: {e}")),
    };
    for (key, value) in config::parse_dotenv(file).map_err(|e| format!(".env {e}"))? {
        // The environment wins over .env, and the first of repeated keys wins.
        if std::env::var_os(&key).is_none() {
            std::env::set_var(key, value);
        }
    }
    Ok(())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
}

fn serve(config: Config) -> ExitCode {
    match runtime().and_then(|rt| rt.block_on(serve_async(config))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_async(config: Config) -> anyhow::Result<()> {
    let listener = pos_lottery::server::bind(config.addr)
        .with_context(|| format!("binding ADDR {}", config.addr))?;
    let http = match config.http_addr {
        Some(addr) => Some(pos_lottery::server::bind(addr).with_context(|| {
            format!("binding HTTP_ADDR {addr} (HTTP_ADDR=off disables the dashboard)")
        })?),
        None => None,
    };
    let ticks = Ticks::Every(config.round);
    pos_lottery::server::run(config, listener, http, ticks, shutdown_signal()).await?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => tracing::info!("received Ctrl-C (SIGINT)"),
            _ = term.recv() => tracing::info!("received SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn verify(
    dir: PathBuf,
    against: Option<PathBuf>,
    genesis: Option<pos_lottery::pool::GenesisSetting>,
) -> ExitCode {
    let a = match pos_lottery::audit::check_with(&dir, genesis.as_ref()) {
        Ok(a) => a,
        Err(e) => {
            println!("FAILED: {e}");
            return ExitCode::FAILURE;
        }
    };
    for line in pos_lottery::audit::verify_report(&dir, &a) {
        println!("{line}");
    }
    let Some(other) = against else {
        return ExitCode::SUCCESS;
    };
    match pos_lottery::audit::check_against(&dir, &a, &other) {
        Ok(report) => {
            for line in report.lines() {
                println!("{line}");
            }
            if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            println!("FAILED: --against {e}");
            ExitCode::FAILURE
        }
    }
}

fn stats(dir: PathBuf, json: bool) -> ExitCode {
    match pos_lottery::audit::check(&dir) {
        Ok(a) => {
            let report = pos_lottery::audit::stats_report(&a);
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{}", pos_lottery::audit::stats_table(&report));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

fn repair(dir: PathBuf, yes: bool) -> ExitCode {
    use pos_lottery::repair::RepairError;
    match pos_lottery::repair::run(&dir, yes, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(RepairError::Refused { why, .. }) => {
            eprintln!("refusing: {why}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
