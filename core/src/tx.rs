//! Transactions: the coinbase and signed transfers between accounts.
//!
//! Byte layouts (all integers little-endian):
//!
//! ```text
//! coinbase (17 + 28·n): 0x00 | chain_id u32 | height u64 | n u32
//!                       | (recipient [20] | amount u64) × n        (1 ≤ n)
//! transfer (145 bytes): 0x01 | chain_id u32 | sender pubkey [32] | recipient [20]
//!                       | amount u64 | fee u64 | nonce u64 | signature [64]
//! ```
//!
//! A transfer's signature covers `TRANSFER_SIGNING_DOMAIN ‖ network id ‖` its first 81
//! bytes (everything but the signature), so it is valid on one network only, even
//! where two networks share a chain id. `txid = blake3(all bytes)`.

use serde::{Deserialize, Serialize};

use crate::address::Address;
use crate::amount::Amount;
use crate::encoding::{Decode, DecodeError, Encode, Reader, put_count};
use crate::genesis::NetworkId;
use crate::hash::Hash;
use crate::keys::{PublicKey, SecretKey, Signature, SignatureError};

/// Tag byte of a coinbase.
pub const TAG_COINBASE: u8 = 0x00;
/// Tag byte of a transfer.
pub const TAG_TRANSFER: u8 = 0x01;
/// Encoded length of a coinbase without its outputs.
pub const COINBASE_FIXED_LEN: usize = 17;
/// Encoded length of one coinbase output.
pub const COINBASE_OUTPUT_LEN: usize = 28;
/// Encoded length of the shortest coinbase (one output), the shortest transaction.
pub const COINBASE_LEN: usize = COINBASE_FIXED_LEN + COINBASE_OUTPUT_LEN;
/// Encoded length of a transfer.
pub const TRANSFER_LEN: usize = 145;
/// Length of the signed part of a transfer (all but the signature).
pub const TRANSFER_UNSIGNED_LEN: usize = TRANSFER_LEN - 64;
/// Prefix of every signed transfer message, so a Cairn signature can never be replayed
/// as a signature over anything else. (v1 signed no network id.)
pub const TRANSFER_SIGNING_DOMAIN: &[u8] = b"cairn transfer v2\0";
/// Length of a transfer's signing message.
pub const TRANSFER_SIGNING_LEN: usize = TRANSFER_SIGNING_DOMAIN.len() + 32 + TRANSFER_UNSIGNED_LEN;

/// A transaction id: `blake3` of the canonical bytes.
pub type TxId = Hash;

/// Pays the block's subsidy and fees to its miners: up to the network's
/// `max_coinbase_outputs` outputs to distinct recipients, summing to exactly subsidy
/// plus fees (a pool pays each of its miners here). Always the first transaction of a
/// block, and only there; the genesis block holds one per initial allocation.
///
/// What it pays becomes spendable `coinbase_maturity` blocks later (see
/// [`crate::state`]); genesis allocations are spendable at once.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Coinbase {
    /// The network's chain id.
    pub chain_id: u32,
    /// The height of the block that holds it (makes every coinbase id unique).
    pub height: u64,
    /// Who is paid what, at least one output.
    pub outputs: Vec<CoinbaseOutput>,
}

/// One payment of a coinbase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CoinbaseOutput {
    /// Who is paid.
    pub recipient: Address,
    /// How much.
    pub amount: Amount,
}

impl Coinbase {
    /// A coinbase paying everything to one recipient (a solo miner).
    pub fn single(chain_id: u32, height: u64, recipient: Address, amount: Amount) -> Coinbase {
        Coinbase {
            chain_id,
            height,
            outputs: vec![CoinbaseOutput { recipient, amount }],
        }
    }

    /// The sum of the outputs, or `None` if it overflows (such a coinbase is invalid).
    pub fn total(&self) -> Option<Amount> {
        Amount::checked_sum(self.outputs.iter().map(|o| o.amount))
    }

    /// The transaction id (the same as of the [`Transaction`] holding it).
    pub fn id(&self) -> TxId {
        Hash::digest(&self.to_bytes())
    }

    /// What it pays `address` (zero if nothing).
    pub fn paid_to(&self, address: &Address) -> Amount {
        self.outputs
            .iter()
            .find(|o| o.recipient == *address)
            .map_or(Amount::ZERO, |o| o.amount)
    }
}

/// Moves `amount` from the sender's account to `recipient`, paying `fee` to the miner.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Transfer {
    /// The network's chain id (the signature also covers the network id, which tells
    /// apart networks that share a chain id).
    pub chain_id: u32,
    /// The sender's public key; the debited account is its address.
    pub sender: PublicKey,
    /// Who is paid.
    pub recipient: Address,
    /// How much the recipient receives.
    pub amount: Amount,
    /// How much the miner receives.
    pub fee: Amount,
    /// The sender's transaction count before this one: strictly sequential.
    pub nonce: u64,
    /// Signature by `sender` over the signing message for its network.
    pub signature: Signature,
}

/// Any transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Transaction {
    /// See [`Coinbase`].
    Coinbase(Coinbase),
    /// See [`Transfer`].
    Transfer(Transfer),
}

impl Transfer {
    /// Builds and signs a transfer for the network `network` (see
    /// [`crate::ChainParams::network_id`]) whose chain id is `chain_id`.
    pub fn new_signed(
        key: &SecretKey,
        network: NetworkId,
        chain_id: u32,
        recipient: Address,
        amount: Amount,
        fee: Amount,
        nonce: u64,
    ) -> Transfer {
        let mut tx = Transfer {
            chain_id,
            sender: key.public_key(),
            recipient,
            amount,
            fee,
            nonce,
            signature: Signature([0; 64]),
        };
        tx.signature = key.sign(&tx.signing_message(&network));
        tx
    }

    /// The message the signature covers on the network `network`.
    pub fn signing_message(&self, network: &NetworkId) -> Vec<u8> {
        let mut msg = Vec::with_capacity(TRANSFER_SIGNING_LEN);
        msg.extend_from_slice(TRANSFER_SIGNING_DOMAIN);
        msg.extend_from_slice(network.as_bytes());
        self.encode_unsigned(&mut msg);
        msg
    }

    fn encode_unsigned(&self, out: &mut Vec<u8>) {
        out.push(TAG_TRANSFER);
        out.extend_from_slice(&self.chain_id.to_le_bytes());
        self.sender.encode_to(out);
        self.recipient.encode_to(out);
        self.amount.encode_to(out);
        self.fee.encode_to(out);
        out.extend_from_slice(&self.nonce.to_le_bytes());
    }

    /// The debited account.
    pub fn sender_address(&self) -> Address {
        self.sender.address()
    }

    /// `amount + fee`, or `None` if that overflows (such a transfer is invalid).
    pub fn total_debit(&self) -> Option<Amount> {
        self.amount.checked_add(self.fee)
    }

    /// Checks the signature, for the network `network`, under the strict rules.
    pub fn verify_signature(&self, network: &NetworkId) -> Result<(), SignatureError> {
        self.sender
            .verify_strict(&self.signing_message(network), &self.signature)
    }

    /// The transaction id.
    pub fn id(&self) -> TxId {
        Hash::digest(&self.to_bytes())
    }
}

impl Transaction {
    /// The transaction id: `blake3` of the canonical bytes.
    pub fn id(&self) -> TxId {
        Hash::digest(&self.to_bytes())
    }

    /// The chain id it is bound to.
    pub fn chain_id(&self) -> u32 {
        match self {
            Transaction::Coinbase(c) => c.chain_id,
            Transaction::Transfer(t) => t.chain_id,
        }
    }

    /// The fee paid to the miner (zero for a coinbase).
    pub fn fee(&self) -> Amount {
        match self {
            Transaction::Coinbase(_) => Amount::ZERO,
            Transaction::Transfer(t) => t.fee,
        }
    }

    /// The transfer inside, if it is one.
    pub fn as_transfer(&self) -> Option<&Transfer> {
        match self {
            Transaction::Transfer(t) => Some(t),
            Transaction::Coinbase(_) => None,
        }
    }

    /// The coinbase inside, if it is one.
    pub fn as_coinbase(&self) -> Option<&Coinbase> {
        match self {
            Transaction::Coinbase(c) => Some(c),
            Transaction::Transfer(_) => None,
        }
    }
}

impl Encode for Coinbase {
    fn encode_to(&self, out: &mut Vec<u8>) {
        out.push(TAG_COINBASE);
        out.extend_from_slice(&self.chain_id.to_le_bytes());
        out.extend_from_slice(&self.height.to_le_bytes());
        put_count(out, self.outputs.len());
        for o in &self.outputs {
            o.recipient.encode_to(out);
            o.amount.encode_to(out);
        }
    }
    fn encoded_len(&self) -> usize {
        COINBASE_FIXED_LEN + COINBASE_OUTPUT_LEN * self.outputs.len()
    }
}

impl Encode for Transfer {
    fn encode_to(&self, out: &mut Vec<u8>) {
        self.encode_unsigned(out);
        self.signature.encode_to(out);
    }
    fn encoded_len(&self) -> usize {
        TRANSFER_LEN
    }
}

impl Encode for Transaction {
    fn encode_to(&self, out: &mut Vec<u8>) {
        match self {
            Transaction::Coinbase(c) => c.encode_to(out),
            Transaction::Transfer(t) => t.encode_to(out),
        }
    }
    fn encoded_len(&self) -> usize {
        match self {
            Transaction::Coinbase(c) => c.encoded_len(),
            Transaction::Transfer(_) => TRANSFER_LEN,
        }
    }
}

impl Decode for Transaction {
    fn decode_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        match r.u8()? {
            TAG_COINBASE => {
                let chain_id = r.u32()?;
                let height = r.u64()?;
                // Bounded by the input left; the network's output limit is a body rule.
                let n = r.count(usize::MAX, COINBASE_OUTPUT_LEN)?;
                if n == 0 {
                    return Err(DecodeError::NonCanonical("coinbase without outputs"));
                }
                let mut outputs = Vec::with_capacity(n);
                for _ in 0..n {
                    outputs.push(CoinbaseOutput {
                        recipient: Address::decode_from(r)?,
                        amount: Amount::decode_from(r)?,
                    });
                }
                Ok(Transaction::Coinbase(Coinbase {
                    chain_id,
                    height,
                    outputs,
                }))
            }
            TAG_TRANSFER => Ok(Transaction::Transfer(Transfer {
                chain_id: r.u32()?,
                sender: PublicKey::decode_from(r)?,
                recipient: Address::decode_from(r)?,
                amount: Amount::decode_from(r)?,
                fee: Amount::decode_from(r)?,
                nonce: r.u64()?,
                signature: Signature::decode_from(r)?,
            })),
            tag => Err(DecodeError::UnknownTag {
                what: "transaction",
                tag,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> NetworkId {
        Hash::digest(b"some network")
    }

    fn sample() -> Transfer {
        let key = SecretKey::from_seed(&[7; 32]);
        let to = SecretKey::from_seed(&[8; 32]).address();
        Transfer::new_signed(&key, net(), 1337, to, Amount(1_000), Amount(10), 0)
    }

    #[test]
    fn transfer_round_trip_and_length() {
        let tx = Transaction::Transfer(sample());
        let bytes = tx.to_bytes();
        assert_eq!(bytes.len(), TRANSFER_LEN);
        assert_eq!(Transaction::from_bytes(&bytes).unwrap(), tx);
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            Transaction::from_bytes(&longer),
            Err(DecodeError::TrailingBytes(1))
        );
        for n in 0..bytes.len() {
            assert!(Transaction::from_bytes(&bytes[..n]).is_err());
        }
    }

    #[test]
    fn coinbase_round_trip_and_length() {
        let mut cb = Coinbase::single(1337, 9, Address([3; 20]), Amount(50));
        cb.outputs.push(CoinbaseOutput {
            recipient: Address([4; 20]),
            amount: Amount(7),
        });
        let tx = Transaction::Coinbase(cb.clone());
        let bytes = tx.to_bytes();
        assert_eq!(bytes.len(), COINBASE_FIXED_LEN + 2 * COINBASE_OUTPUT_LEN);
        assert_eq!(bytes.len(), tx.encoded_len());
        assert_eq!(Transaction::from_bytes(&bytes).unwrap(), tx);
        assert_eq!(cb.total(), Some(Amount(57)));
        assert_eq!(cb.paid_to(&Address([4; 20])), Amount(7));
        assert_eq!(cb.paid_to(&Address([5; 20])), Amount::ZERO);
        for n in 0..bytes.len() {
            assert!(Transaction::from_bytes(&bytes[..n]).is_err());
        }
        // No outputs at all is not a coinbase.
        cb.outputs.clear();
        assert_eq!(
            Transaction::from_bytes(&Transaction::Coinbase(cb).to_bytes()),
            Err(DecodeError::NonCanonical("coinbase without outputs"))
        );
    }

    #[test]
    fn unknown_tag_is_rejected() {
        let mut bytes = Transaction::Transfer(sample()).to_bytes();
        bytes[0] = 7;
        assert_eq!(
            Transaction::from_bytes(&bytes),
            Err(DecodeError::UnknownTag {
                what: "transaction",
                tag: 7
            })
        );
    }

    #[test]
    fn signature_binds_every_field() {
        let tx = sample();
        let n = net();
        tx.verify_signature(&n).unwrap();
        assert_eq!(tx.signing_message(&n).len(), TRANSFER_SIGNING_LEN);
        assert_eq!(
            tx.verify_signature(&Hash::digest(b"another network")),
            Err(SignatureError::Mismatch)
        );
        let mut t = tx.clone();
        t.chain_id = 1;
        assert_eq!(t.verify_signature(&n), Err(SignatureError::Mismatch));
        let mut t = tx.clone();
        t.nonce += 1;
        assert_eq!(t.verify_signature(&n), Err(SignatureError::Mismatch));
        let mut t = tx.clone();
        t.fee = Amount(11);
        assert_eq!(t.verify_signature(&n), Err(SignatureError::Mismatch));
        let mut t = tx;
        t.recipient.0[0] ^= 1;
        assert_eq!(t.verify_signature(&n), Err(SignatureError::Mismatch));
    }

    #[test]
    fn json_form_round_trips_and_is_strict() {
        let tx = Transaction::Transfer(sample());
        let json = serde_json::to_value(&tx).unwrap();
        assert_eq!(json["type"], "transfer");
        assert_eq!(json["amount"], 1000);
        assert_eq!(
            serde_json::from_value::<Transaction>(json.clone()).unwrap(),
            tx
        );
        let mut extra = json;
        extra["bogus"] = 1.into();
        assert!(serde_json::from_value::<Transaction>(extra).is_err());
    }
}
