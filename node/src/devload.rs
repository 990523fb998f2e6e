//! The dev network's load generator (`dev_tx_rate`): signed transfers between the
//! dev accounts at a steady rate, for trying things out and for tests.

use std::time::Duration;

use cairn_core::genesis::dev_keys;
use cairn_core::{Amount, Transfer};
use tracing::warn;

use crate::node::Node;

/// Sends `rate` transfers a second round-robin between the dev accounts until the
/// node shuts down (run it on a thread of its own).
pub fn run(node: &Node, rate: u32) {
    let keys = dev_keys();
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut i = 0usize;
    while !node.is_shutting_down() {
        let key = &keys[i % keys.len()];
        let to = keys[(i + 1) % keys.len()].address();
        let sender = key.address();
        let nonce = node.next_nonce(&sender);

        let amount = Amount(1_000 + (i as u64 % 1_000));
        let tx = Transfer::new_signed(
            key,
            node.params().network_id(),
            node.params().chain_id(),
            to,
            amount,
            Amount(2_000),
            nonce,
        );
        if let Err(e) = node.submit_transfer(tx) {
            warn!(target: "dev-load", "transfer refused: {e}");
        }
        i += 1;
        std::thread::sleep(interval);
    }
}
