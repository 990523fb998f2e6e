//! `cairn-wallet` as a library: the encrypted keystore, amounts, and building and
//! signing transfers. It depends on `cairn-core` and talks to a node only over
//! JSON-RPC, through `cairn-rpc`'s client.

pub mod keystore;

use std::path::PathBuf;

use cairn_core::{Address, Amount, COIN, NetworkId, SecretKey, Transfer};
use zeroize::Zeroizing;

pub use crate::keystore::{KdfParams, Keystore};

/// Everything that can go wrong, each with a message a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    /// The password does not open the keystore (or the file was changed).
    #[error("wrong password (or the keystore file was modified)")]
    WrongPassword,
    /// The keystore opens, but its address field is not account 0 of its keys: the
    /// file was rewritten by someone holding the mnemonic and the password, or by a
    /// faulty tool.
    #[error(
        "the keystore's address field {stored} does not match its keys (account 0 is \
         {derived}): the file was tampered with; do not use {stored}"
    )]
    AddressMismatch {
        /// The address the file states.
        stored: String,
        /// Account 0 of the decrypted mnemonic.
        derived: String,
    },
    /// The keystore file is not one.
    #[error("corrupt keystore: {0}")]
    CorruptKeystore(String),
    /// A file could not be read or written.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// `new`/`restore` would overwrite a wallet.
    #[error("a wallet already exists at {0} (use another --wallet-dir)")]
    Exists(PathBuf),
    /// There is no wallet.
    #[error("no wallet at {0}: create one with `cairn-wallet new` or `cairn-wallet restore`")]
    NoWallet(PathBuf),
    /// The mnemonic is not valid BIP-39 English.
    #[error("invalid mnemonic: {0}")]
    Mnemonic(String),
    /// An address does not parse.
    #[error("invalid address `{0}`: {1}")]
    Address(String, String),
    /// An amount does not parse.
    #[error("invalid amount `{0}`: {1}")]
    Amount(String, String),
    /// The node cannot be reached.
    #[error("cannot reach the node at {url}: {reason} (is cairn-node running? see --rpc)")]
    Unreachable {
        /// The URL tried.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The node answered with an error.
    #[error("the node refused: {} (code {}){}", .0.message, .0.code, detail(.0))]
    Rpc(cairn_rpc::ErrorObject),
    /// The node answered something unexpected.
    #[error("unexpected answer from the node: {0}")]
    Protocol(String),
    /// Not enough coins.
    #[error("insufficient funds: {have} available (after pending transfers), {need} needed")]
    InsufficientFunds {
        /// Spendable.
        have: Amount,
        /// Amount plus fee.
        need: Amount,
    },
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

/// Parses an amount in coins ("1.5", "0.00000001", "3") into base units.
pub fn parse_coins(text: &str) -> Result<Amount, WalletError> {
    let bad = |why: &str| WalletError::Amount(text.to_string(), why.to_string());
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(bad("empty"));
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
        return Err(bad("only digits and one decimal point"));
    }
    if frac.len() > 8 {
        return Err(bad("at most 8 decimals"));
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad("too large"))?
    };
    let frac_units: u64 = format!("{frac:0<8}")
        .parse()
        .map_err(|_| bad("bad decimals"))?;
    whole
        .checked_mul(COIN)
        .and_then(|w| w.checked_add(frac_units))
        .map(Amount)
        .ok_or_else(|| bad("too large"))
}

/// Parses an address, naming the problem.
pub fn parse_address(text: &str) -> Result<Address, WalletError> {
    text.parse().map_err(|e: cairn_core::AddressError| {
        WalletError::Address(text.to_string(), e.to_string())
    })
}

/// A new random 12- or 24-word English mnemonic.
pub fn new_mnemonic(words: usize) -> Result<Zeroizing<String>, WalletError> {
    let mut entropy = Zeroizing::new([0u8; 32]);
    let len = if words == 24 { 32 } else { 16 };
    getrandom::fill(&mut entropy[..len]).map_err(|e| WalletError::Random(e.to_string()))?;
    let m = bip39::Mnemonic::from_entropy(&entropy[..len])
        .map_err(|e| WalletError::Mnemonic(e.to_string()))?;
    Ok(Zeroizing::new(m.to_string()))
}

/// The key of account `index` of `mnemonic`.
pub fn account_key(mnemonic: &str, index: u32) -> Result<SecretKey, WalletError> {
    let seed = cairn_core::hd::mnemonic_to_seed(mnemonic.trim(), "")
        .map_err(|e| WalletError::Mnemonic(e.to_string()))?;
    cairn_core::hd::account_key(&seed[..], index).map_err(|e| WalletError::Mnemonic(e.to_string()))
}

impl From<cairn_rpc::ClientError> for WalletError {
    fn from(e: cairn_rpc::ClientError) -> WalletError {
        match e {
            cairn_rpc::ClientError::Unreachable { url, reason } => {
                WalletError::Unreachable { url, reason }
            }
            cairn_rpc::ClientError::Protocol(p) => WalletError::Protocol(p),
            cairn_rpc::ClientError::Rpc(o) => WalletError::Rpc(o),
        }
    }
}

/// The detail of an error object beyond its fixed message, if any.
fn detail(e: &cairn_rpc::ErrorObject) -> String {
    match e.detail() {
        d if d == e.message => String::new(),
        d => format!(": {d}"),
    }
}

/// A transfer signed for the network `network` (`node_getInfo`'s `networkId`).
pub fn build_transfer(
    key: &SecretKey,
    network: NetworkId,
    chain_id: u32,
    to: Address,
    amount: Amount,
    fee: Amount,
    nonce: u64,
) -> Transfer {
    Transfer::new_signed(key, network, chain_id, to, amount, fee, nonce)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_verify_on_their_network_only() {
        let net = cairn_core::Hash::digest(b"a network");
        // What the wallet signs verifies on that network only.
        let key = SecretKey::from_seed(&[5; 32]);
        let t = build_transfer(&key, net, 7, key.address(), Amount(1), Amount(1), 0);
        assert!(t.verify_signature(&net).is_ok());
        assert!(
            t.verify_signature(&cairn_core::Hash::digest(b"other"))
                .is_err()
        );
    }

    #[test]
    fn coins_parse_exactly() {
        assert_eq!(parse_coins("1").ok(), Some(Amount(COIN)));
        assert_eq!(parse_coins("1.5").ok(), Some(Amount(150_000_000)));
        assert_eq!(parse_coins(".00000001").ok(), Some(Amount(1)));
        assert_eq!(parse_coins("0.1").ok(), Some(Amount(10_000_000)));
        for bad in [
            "",
            ".",
            "1.000000001",
            "-1",
            "1e3",
            "1.2.3",
            "999999999999999999",
        ] {
            assert!(parse_coins(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mnemonics_round_trip_to_keys() {
        let m = new_mnemonic(12).expect("random");
        assert_eq!(m.split_whitespace().count(), 12);
        assert!(account_key(&m, 0).is_ok());
        assert_eq!(
            new_mnemonic(24).expect("random").split_whitespace().count(),
            24
        );
        assert!(account_key("not a mnemonic", 0).is_err());
    }
}
