//! `cairn-wallet`: keys, balances and payments over a node's JSON-RPC.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cairn_config as config;
use cairn_core::{Amount, Encode, Transaction};
use cairn_rpc::methods::{
    AddressParams, HistoryParams, MempoolEstimateFee, NoParams, NodeGetInfo, StateGetAccount,
    StateGetHistory, TxGet, TxParams, TxSend,
};
use cairn_rpc::types::{Tx, TxStatus};
use cairn_rpc::{Client, Dec};
use cairn_wallet::{
    KdfParams, Keystore, WalletError, account_key, build_transfer, new_mnemonic, parse_address,
    parse_coins,
};
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use serde_json::json;
use zeroize::Zeroizing;

/// Cairn wallet: create or restore keys, check balances, send coins.
///
/// Keys come from a BIP-39 mnemonic (account i is m/44'/7777'/i') and are kept
/// encrypted (Argon2id + XChaCha20-Poly1305) in <wallet-dir>/wallet.json. The
/// password comes from --password-file, else CAIRN_WALLET_PASSWORD, else a prompt.
/// `address` and `balance` need none: without one they show account 0 as the file
/// states it, marked unverified; with one (or --verify) they check it against the
/// keys and refuse a file whose address field was changed.
///
/// Start:  cairn-wallet new          (shows the mnemonic once: write it down)
///         cairn-wallet balance
///         cairn-wallet send --to cairn1… --amount 1.5 --wait 1
#[derive(Debug, Parser)]
#[command(
    name = "cairn-wallet",
    version,
    about,
    long_about,
    verbatim_doc_comment
)]
struct Cli {
    /// Directory of the wallet (default: ~/.cairn/wallet).
    #[arg(long, global = true, value_name = "DIR", env = "CAIRN_WALLET_DIR")]
    wallet_dir: Option<PathBuf>,

    /// Settings file (default: <wallet-dir>/wallet.toml, if it exists; it may set
    /// `rpc` and `password_file`, which the flags override).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(flatten)]
    settings: Settings,

    /// Print JSON instead of text (for scripts).
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Command,
}

/// What `wallet.toml` and its flags set: each setting defined once, here (flag, key,
/// default, and help, which is also its comment in the file `init-config` writes).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
struct Settings {
    /// The node's JSON-RPC URL (its --rpc-listen address).
    #[arg(
        long,
        global = true,
        value_name = "URL",
        env = "CAIRN_RPC",
        default_value = "http://127.0.0.1:8645"
    )]
    rpc: String,

    /// Read the wallet password from this file's first line instead of asking (keep
    /// it readable by you only).
    #[arg(long, global = true, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    password_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Settings {
        config::settings::defaults()
    }
}

const HEADER: &str = "\
# wallet.toml: settings for cairn-wallet. Every key is optional: a missing key
# takes the default shown here, and a flag on the command line overrides its key.

";

fn template() -> String {
    config::settings::template(HEADER, &Settings::default(), &[])
}

impl Cli {
    /// The settings in effect: the file's, then every flag the command line gave.
    fn with_file(mut self, matches: &ArgMatches) -> anyhow::Result<Cli> {
        let file = match &self.config {
            Some(path) => Some(config::load::<Settings>(path)?.0),
            None => config::load_if_exists::<Settings>(&wallet_dir(&self)?.join("wallet.toml"))?
                .map(|(f, _)| f),
        };
        if let Some(file) = file {
            self.settings = config::settings::merge(&file, &self.settings, matches, &[])?;
        }
        let rpc = self.rpc();
        anyhow::ensure!(
            rpc.starts_with("http://"),
            "--rpc {rpc}: cairn-wallet speaks plain http:// only; reach a remote node over \
             a trusted LAN, a VPN or an SSH tunnel (ssh -L 8645:127.0.0.1:8645 <node>)"
        );
        Ok(self)
    }

    fn rpc(&self) -> &str {
        &self.settings.rpc
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a commented wallet.toml into the wallet directory (or to --config).
    InitConfig {
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script, e.g.
    /// `cairn-wallet completions bash > /etc/bash_completion.d/cairn-wallet`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Create a wallet with a new random mnemonic (shown once).
    New {
        /// Mnemonic length: 12 or 24 words.
        #[arg(long, default_value_t = 12, value_parser = parse_words)]
        words: usize,
    },
    /// Create a wallet from an existing mnemonic (read from --mnemonic-file or stdin).
    Restore {
        /// File holding the mnemonic.
        #[arg(long, value_name = "FILE")]
        mnemonic_file: Option<PathBuf>,
    },
    /// Show an address (account 0 needs no password, but is then unverified).
    Address {
        /// Account index.
        #[arg(long, default_value_t = 0)]
        index: u32,
        /// Check account 0 against the keys, asking for the password if none is
        /// given (it is checked whenever a password is given).
        #[arg(long)]
        verify: bool,
    },
    /// Show the balance, confirmed and with pending transfers, and mined rewards not
    /// yet spendable.
    Balance {
        /// Account index.
        #[arg(long, default_value_t = 0)]
        index: u32,
        /// Check account 0 against the keys, asking for the password if none is
        /// given (it is checked whenever a password is given).
        #[arg(long)]
        verify: bool,
    },
    /// Send coins.
    Send {
        /// Recipient address (cairn1…).
        #[arg(long, value_name = "ADDRESS")]
        to: String,
        /// Amount in coins, e.g. 1.5.
        #[arg(long, value_name = "COINS")]
        amount: String,
        /// Fee in coins, or `auto` (the node's estimate for the next few blocks).
        #[arg(long, value_name = "auto|COINS", default_value = "auto")]
        fee: String,
        /// Refuse an `auto` fee above this many coins (the node suggests the fee).
        #[arg(long, value_name = "COINS", default_value = "0.01")]
        max_fee: String,
        /// Wait for this many confirmations.
        #[arg(long, value_name = "N", default_value_t = 0)]
        wait: u64,
        /// Seconds to wait at most with --wait.
        #[arg(long, value_name = "SECONDS", default_value_t = 600)]
        timeout: u64,
        /// Account index to send from.
        #[arg(long, default_value_t = 0)]
        index: u32,
    },
    /// Confirmed transfers from and to the address, newest first.
    History {
        /// Account index.
        #[arg(long, default_value_t = 0)]
        index: u32,
        /// How many blocks back to look.
        #[arg(long, default_value_t = 1_000)]
        blocks: u64,
    },
    /// A transaction's status.
    Tx {
        /// Transaction id (hex).
        txid: String,
    },
}

fn parse_words(s: &str) -> Result<usize, String> {
    match s {
        "12" => Ok(12),
        "24" => Ok(24),
        _ => Err("12 or 24".into()),
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let json_out = cli.json;
    match run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json_out {
                println!("{}", json!({ "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
            }
            ExitCode::from(1)
        }
    }
}

fn wallet_dir(cli: &Cli) -> anyhow::Result<PathBuf> {
    match &cli.wallet_dir {
        Some(d) => Ok(d.clone()),
        None => {
            let home = std::env::var_os("HOME").context("HOME is not set: pass --wallet-dir")?;
            Ok(PathBuf::from(home).join(".cairn").join("wallet"))
        }
    }
}

fn keystore_path(cli: &Cli) -> anyhow::Result<PathBuf> {
    Ok(wallet_dir(cli)?.join("wallet.json"))
}

fn load_keystore(path: &Path) -> Result<Keystore, WalletError> {
    if !path.exists() {
        return Err(WalletError::NoWallet(path.to_path_buf()));
    }
    Keystore::load(path)
}

/// The password given without asking: --password-file, else CAIRN_WALLET_PASSWORD.
fn given_password(cli: &Cli) -> anyhow::Result<Option<Zeroizing<String>>> {
    if let Some(f) = &cli.settings.password_file {
        let text = Zeroizing::new(
            std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the password file {}", f.display()))?,
        );
        return Ok(Some(Zeroizing::new(
            text.lines().next().unwrap_or_default().to_string(),
        )));
    }
    Ok(std::env::var("CAIRN_WALLET_PASSWORD")
        .ok()
        .map(Zeroizing::new))
}

/// The password: --password-file, CAIRN_WALLET_PASSWORD, or a prompt (twice when
/// `confirm`).
fn password(cli: &Cli, confirm: bool) -> anyhow::Result<Zeroizing<String>> {
    if let Some(p) = given_password(cli)? {
        if confirm && p.len() < 8 {
            bail!("use a password of at least 8 characters");
        }
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no password: use --password-file or CAIRN_WALLET_PASSWORD when not on a terminal");
    }
    let p = Zeroizing::new(rpassword::prompt_password("Password: ")?);
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("Repeat password: ")?);
        if *p != *again {
            bail!("the passwords differ");
        }
        if p.len() < 8 {
            bail!("use a password of at least 8 characters");
        }
    }
    Ok(p)
}

fn create(cli: &Cli, mnemonic: &str, show: bool) -> anyhow::Result<()> {
    let path = keystore_path(cli)?;
    if path.exists() {
        return Err(WalletError::Exists(path).into());
    }
    let address = account_key(mnemonic, 0)?.address().to_string();
    let pw = password(cli, true)?;
    let ks = Keystore::seal(mnemonic, &address, &pw, KdfParams::DEFAULT)?;
    ks.save(&path)?;
    if cli.json {
        let mut v = json!({ "address": address, "keystore": path.display().to_string() });
        if show {
            v["mnemonic"] = json!(mnemonic);
        }
        println!("{v}");
    } else {
        if show {
            println!("Your recovery phrase (shown once; write it down and keep it offline):\n");
            println!("    {mnemonic}\n");
        }
        println!("Address:  {address}");
        println!("Keystore: {}", path.display());
    }
    Ok(())
}

/// Account `index`'s address, and whether it was derived from the decrypted keys.
/// Account 0 is read from the file's address field, unverified (`false`), when no
/// password is given and `verify` is not asked for; once the keystore is opened,
/// [`Keystore::open`] has checked that field against the keys.
fn address_of(cli: &Cli, index: u32, verify: bool) -> anyhow::Result<(String, bool)> {
    let path = keystore_path(cli)?;
    let ks = load_keystore(&path)?;
    let pw = match given_password(cli)? {
        Some(pw) => pw,
        None if index == 0 && !verify => return Ok((ks.address, false)),
        None => password(cli, false)?,
    };
    let m = ks.open(&pw).map_err(|e| match e {
        // Not necessarily a typo: a changed address field fails the same way.
        WalletError::WrongPassword if index == 0 => anyhow::Error::new(e).context(format!(
            "cannot verify the stored address {} in {} (do not use it until it verifies)",
            ks.address,
            path.display()
        )),
        e => e.into(),
    })?;
    Ok((account_key(&m, index)?.address().to_string(), true))
}

fn coins(units: Dec) -> String {
    Amount(units.0).to_string()
}

fn run(cli: Cli, matches: &ArgMatches) -> anyhow::Result<()> {
    match &cli.command {
        Command::InitConfig { force } => {
            let path = match &cli.config {
                Some(p) => p.clone(),
                None => wallet_dir(&cli)?.join("wallet.toml"),
            };
            config::write_new(&path, &template(), *force)?;
            println!("wrote {}", path.display());
            return Ok(());
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(*shell, &mut cmd, "cairn-wallet", &mut std::io::stdout());
            return Ok(());
        }
        _ => {}
    }
    let cli = cli.with_file(matches)?;
    match &cli.command {
        Command::InitConfig { .. } | Command::Completions { .. } => Ok(()),
        Command::New { words } => {
            let m = new_mnemonic(*words)?;
            create(&cli, &m, true)
        }
        Command::Restore { mnemonic_file } => {
            let text = Zeroizing::new(match mnemonic_file {
                Some(f) => std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read {}", f.display()))?,
                None => {
                    if std::io::stdin().is_terminal() {
                        eprint!("Recovery phrase: ");
                        std::io::stderr().flush()?;
                    }
                    let mut line = String::new();
                    std::io::stdin().lock().read_line(&mut line)?;
                    line
                }
            });
            let phrase = Zeroizing::new(text.split_whitespace().collect::<Vec<_>>().join(" "));
            account_key(&phrase, 0)?; // validates the words and checksum
            create(&cli, &phrase, false)
        }
        Command::Address { index, verify } => {
            let (a, verified) = address_of(&cli, *index, *verify)?;
            if cli.json {
                println!(
                    "{}",
                    json!({ "address": a, "index": index, "verified": verified })
                );
            } else {
                println!("{a}");
                if !verified {
                    eprintln!(
                        "note: this address is unverified: it was read from wallet.json \
                         without the password, and whoever can write that file can change \
                         it; check it with `cairn-wallet address --verify`"
                    );
                }
            }
            Ok(())
        }
        Command::Balance { index, verify } => {
            let (a, verified) = address_of(&cli, *index, *verify)?;
            let rpc = Client::new(cli.rpc());
            let acct = rpc
                .call::<StateGetAccount>(&AddressParams {
                    address: parse_address(&a)?,
                })
                .map_err(WalletError::from)?;
            if cli.json {
                let mut v = serde_json::to_value(&acct)?;
                v["verified"] = json!(verified);
                println!("{v}");
            } else {
                if verified {
                    println!("Address:   {a}");
                } else {
                    println!(
                        "Address:   {a} (unverified: read without the password; check it with --verify)"
                    );
                }
                println!("Balance:   {}", coins(acct.balance));
                if acct.immature.0 > 0 {
                    println!(
                        "Immature:  {} (mined, spendable once their blocks mature)",
                        coins(acct.immature)
                    );
                }
                println!(
                    "Pending:   {} ({} outgoing transfer(s) pending)",
                    coins(acct.pending_balance),
                    acct.pending_txs
                );
                println!("Next nonce: {}", acct.pending_nonce);
            }
            Ok(())
        }
        Command::Send {
            to,
            amount,
            fee,
            max_fee,
            wait,
            timeout,
            index,
        } => send(&cli, to, amount, (fee, max_fee), *wait, *timeout, *index),
        Command::History { index, blocks } => {
            let (a, _) = address_of(&cli, *index, false)?;
            let a = parse_address(&a)?;
            let rpc = Client::new(cli.rpc());
            let items = rpc
                .call::<StateGetHistory>(&HistoryParams {
                    address: a,
                    blocks: Some(Dec(*blocks)),
                })
                .map_err(WalletError::from)?;
            if cli.json {
                println!("{}", serde_json::to_value(&items)?);
                return Ok(());
            }
            if items.is_empty() {
                println!("No transfers in the last {blocks} blocks.");
            }
            for entry in items {
                let (dir, amount, other) = match &entry.tx {
                    Tx::Coinbase(cb)
                        if cb.matures_at.0
                            > entry.height.0 + entry.confirmations.0.saturating_sub(1) =>
                    {
                        (
                            "mined",
                            cb.paid_to(&a),
                            format!("immature until height {}", cb.matures_at),
                        )
                    }
                    Tx::Coinbase(cb) => ("mined", cb.paid_to(&a), String::new()),
                    Tx::Transfer(t) if t.from == a => ("sent", t.amount.0, format!("to {}", t.to)),
                    Tx::Transfer(t) => ("received", t.amount.0, format!("from {}", t.from)),
                };
                println!(
                    "height {:>8}  {:<8} {:>20}  {}  {}",
                    entry.height,
                    dir,
                    coins(Dec(amount)),
                    other,
                    entry.tx.id()
                );
            }
            Ok(())
        }
        Command::Tx { txid } => {
            let id = txid
                .parse()
                .map_err(|_| anyhow::anyhow!("`{txid}` is not a transaction id (64 hex digits)"))?;
            let rpc = Client::new(cli.rpc());
            let t = rpc
                .call::<TxGet>(&TxParams { id, raw: None })
                .map_err(WalletError::from)?;
            if cli.json {
                println!("{}", serde_json::to_value(&t)?);
                return Ok(());
            }
            println!("Transaction {txid}");
            println!("Status:  {}", status_name(t.status));
            if let (Some(c), Some(b), Some(h)) = (t.confirmations, t.block, t.height) {
                println!("Confirmations: {c} (block {b} at height {h})");
            }
            match &t.tx {
                Some(Tx::Transfer(tr)) => {
                    println!("From:    {}", tr.from);
                    println!("Fee:     {}", coins(tr.fee));
                    println!("To:      {}", tr.to);
                    println!("Amount:  {}", coins(tr.amount));
                }
                Some(Tx::Coinbase(cb)) => {
                    for o in &cb.outputs {
                        println!("To:      {}  {}", o.to, coins(o.amount));
                    }
                    println!("Amount:  {}", coins(cb.amount));
                    println!("Spendable from height {}", cb.matures_at);
                }
                None => {}
            }
            Ok(())
        }
    }
}

fn status_name(s: TxStatus) -> &'static str {
    match s {
        TxStatus::Pending => "pending",
        TxStatus::Confirmed => "confirmed",
        TxStatus::Unknown => "unknown",
    }
}

fn send(
    cli: &Cli,
    to: &str,
    amount: &str,
    (fee, max_fee): (&str, &str),
    wait: u64,
    timeout: u64,
    index: u32,
) -> anyhow::Result<()> {
    let to = parse_address(to)?;
    let amount = parse_coins(amount)?;
    let ks = load_keystore(&keystore_path(cli)?)?;
    let key = {
        let m = ks.open(&password(cli, false)?)?;
        account_key(&m, index)?
    };
    let from = key.address().to_string();
    let rpc = Client::new(cli.rpc());
    let info = rpc
        .call::<NodeGetInfo>(&NoParams {})
        .map_err(WalletError::from)?;
    let (network, chain_id) = (info.network_id, info.chain_id);
    let fee = if fee == "auto" {
        let est = rpc
            .call::<MempoolEstimateFee>(&NoParams {})
            .map_err(WalletError::from)?;
        let fee = Amount(est.normal.0);
        let cap = parse_coins(max_fee)?;
        if fee > cap {
            bail!("the node suggests a fee of {fee}, above --max-fee {cap}; pass --fee to pay it");
        }
        fee
    } else {
        parse_coins(fee)?
    };
    let acct = rpc
        .call::<StateGetAccount>(&AddressParams {
            address: key.address(),
        })
        .map_err(WalletError::from)?;
    // Confirmed balance minus what pending transfers already spend: incoming pending
    // coins are not spendable until confirmed.
    let spendable = Amount(acct.spendable.0);
    let nonce = acct.pending_nonce.0;
    let need = amount
        .checked_add(fee)
        .ok_or_else(|| WalletError::Amount("amount + fee".into(), "too large".into()))?;
    if need > spendable {
        return Err(WalletError::InsufficientFunds {
            have: spendable,
            need,
        }
        .into());
    }
    let tx = build_transfer(&key, network, chain_id, to, amount, fee, nonce);
    let hex_tx = hex::encode(Transaction::Transfer(tx).to_bytes());
    let txid = rpc
        .call::<TxSend>(&cairn_rpc::methods::SendParams { tx: hex_tx })
        .map_err(WalletError::from)?
        .0;
    if !cli.json {
        println!("Sent {amount} to {to} (fee {fee}, nonce {nonce})");
        println!("Transaction {txid}");
    }
    let mut confirmations = 0;
    if wait > 0 {
        confirmations = wait_for(cli, &rpc, &txid, wait, Duration::from_secs(timeout))?;
    }
    if cli.json {
        println!(
            "{}",
            json!({ "txid": txid, "from": from, "to": to.to_string(), "amount": amount.0.to_string(), "fee": fee.0.to_string(), "nonce": nonce.to_string(), "confirmations": confirmations.to_string() })
        );
    }
    Ok(())
}

/// Polls in a row that must find a transfer unknown before `--wait` gives up on it.
const UNKNOWN_POLLS: u32 = 8;

/// Polls until `want` confirmations, showing progress (a rewritten line on a
/// terminal, a line per change otherwise).
fn wait_for(
    cli: &Cli,
    rpc: &Client,
    txid: &cairn_core::TxId,
    want: u64,
    timeout: Duration,
) -> anyhow::Result<u64> {
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal() && !cli.json;
    let mut last = u64::MAX;
    let mut unknown = 0;
    loop {
        let t = rpc
            .call::<TxGet>(&TxParams {
                id: *txid,
                raw: None,
            })
            .map_err(WalletError::from)?;
        let have = t.confirmations.map_or(0, Dec::get);
        if have != last && !cli.json {
            let msg = format!(
                "confirmations {}/{want}  ({:.0}s)",
                have.min(want),
                start.elapsed().as_secs_f64()
            );
            if tty {
                eprint!("\r{msg}   ");
            } else {
                eprintln!("{msg}");
            }
            last = have;
        }
        if have >= want {
            if tty {
                eprintln!();
            }
            return Ok(have);
        }
        // A reorganisation briefly leaves a transfer in neither the chain nor the
        // mempool (until the pool takes it back): only a status that stays unknown
        // means it is gone.
        unknown = if t.status == TxStatus::Unknown {
            unknown + 1
        } else {
            0
        };
        if unknown >= UNKNOWN_POLLS {
            bail!("the transaction left the mempool without confirming");
        }
        if start.elapsed() > timeout {
            bail!("not confirmed {want} times within {}s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_parses_to_the_defaults() {
        let file: Settings = config::parse(Path::new("wallet.toml"), &template()).unwrap();
        assert_eq!(file, Settings::default());
        assert_eq!(file.rpc, "http://127.0.0.1:8645");
        assert!(template().contains("# password_file = \"FILE\""));
    }

    /// docs/CONFIGURATION.md shows the file as `init` writes it.
    #[test]
    fn the_documented_template_is_the_generated_one() {
        let docs = include_str!("../../docs/CONFIGURATION.md");
        let template = template();
        assert!(
            docs.contains(&format!("```toml\n{template}```")),
            "docs/CONFIGURATION.md shows another template:\n{template}"
        );
    }
}
