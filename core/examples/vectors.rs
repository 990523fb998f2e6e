//! Prints the test vectors embedded in `docs/PROTOCOL.md` and the genesis and network ids.
//!
//! `cargo run -p cairn-core --features testkit --example vectors`

fn main() {
    let main_json = include_str!("../../genesis.json");
    let main = cairn_core::ChainParams::from_json(main_json).expect("genesis.json is valid");
    println!("MAIN_GENESIS_ID: {}", main.genesis_id());
    let dev = cairn_core::ChainParams::dev();
    println!("DEV_GENESIS_ID: {}", dev.genesis_id());
    println!("MAIN_NETWORK_ID: {}", main.network_id());
    println!("DEV_NETWORK_ID: {}", dev.network_id());
    println!();
    print!("{}", cairn_core::testkit::render_test_vectors());
}
