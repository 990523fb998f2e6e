//! `cairn-wallet`: keys, balances and payments over a node's JSON-RPC. The commands
//! arrive with the RPC/wallet issue; this release only documents the interface.

use clap::{Parser, Subcommand};

/// Cairn wallet: create or restore keys, check balances, send coins.
#[derive(Debug, Parser)]
#[command(name = "cairn-wallet", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the address of account INDEX of a BIP-39 mnemonic (read from stdin).
    Address {
        /// Account index (m/44'/7777'/INDEX').
        #[arg(default_value_t = 0)]
        index: u32,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Address { index } => {
            let mut phrase = String::new();
            std::io::stdin().read_line(&mut phrase)?;
            let seed = cairn_core::hd::mnemonic_to_seed(phrase.trim(), "")?;
            println!(
                "{}",
                cairn_core::hd::account_key(&seed[..], index)?.address()
            );
            Ok(())
        }
    }
}
