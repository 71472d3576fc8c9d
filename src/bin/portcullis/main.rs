//! The `portcullis` command: runs the appliance and talks to it. This file
//! only parses, sets up logging and dispatches; flags are in [`flags`], and
//! each command group has a module of its own.

mod access;
mod cards;
mod certs;
mod common;
mod flags;
mod flags_office;
mod holders;
mod office;
mod police;
mod readers;
mod run;
mod tools;
mod trails;

use std::io::IsTerminal;

use clap::Parser;

use flags::{Cli, Command};

/// Large allocations (the credential map) get transparent huge pages.
#[global_allocator]
static ALLOC: portcullis::sys::hugepages::HugePageAlloc = portcullis::sys::hugepages::HugePageAlloc;

fn main() {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    if let Err(e) = dispatch(cli.command) {
        // The error and its causes on one line: never a backtrace.
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run {
            config,
            check_config,
        } => run::run(config.as_deref(), check_config),
        Command::DefaultConfig => run::default_config(),
        Command::Roles => {
            print!("{}", portcullis::api::role_table_markdown());
            Ok(())
        }
        Command::Pki(cmd) => run::pki(cmd),
        Command::Card(cmd) => common::block_on(cards::run(cmd)),
        Command::Reader(cmd) => common::block_on(readers::run(cmd)),
        Command::Holder(cmd) => common::block_on(holders::run(cmd)),
        Command::Access(cmd) => common::block_on(access::run(cmd)),
        Command::Dlc(cmd) => common::block_on(access::dlc(cmd)),
        Command::Cert(cmd) => common::block_on(certs::run(cmd)),
        Command::Alarms(cmd) => common::block_on(readers::alarms(cmd)),
        Command::RotateKeys { admin } => common::block_on(access::rotate(admin)),
        Command::Audit { limit, admin } => common::block_on(trails::audit(limit, admin)),
        Command::Police(cmd) => police::run(cmd),
        Command::Journal(cmd) => common::block_on(trails::journal(cmd)),
        Command::Retention(cmd) => trails::retention(cmd),
        Command::Backup(cmd) => common::block_on(trails::backup(cmd)),
        Command::Restore { from, config } => trails::restore(&from, config.as_deref()),
        Command::Notifications(cmd) => common::block_on(trails::notifications(cmd)),
        Command::Load(args) => tools::load(args),
        Command::Scale(cmd) => tools::scale(cmd),
        Command::ClusterBench(cmd) => tools::cluster_bench(cmd),
        Command::Door(cmd) => common::block_on(office::door(cmd)),
        Command::KeyAuthorizer(cmd) => common::block_on(office::key_authorizer(cmd)),
        Command::KeyOrder(cmd) => common::block_on(office::key_order(cmd)),
        Command::Video(cmd) => common::block_on(office::video(cmd)),
        Command::Photo(cmd) => common::block_on(office::photo(cmd)),
    }
}
