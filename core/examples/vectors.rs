//! Prints the test vectors embedded in `docs/PROTOCOL.md` and the genesis ids.
//!
//! `cargo run -p cairn-core --features testkit --example vectors`

fn main() {
    let main_json = include_str!("../../genesis.json");
    let main = cairn_core::ChainParams::from_json(main_json).expect("genesis.json is valid");
    println!("MAIN_GENESIS_ID: {}", main.genesis_id());
    println!(
        "DEV_GENESIS_ID: {}",
        cairn_core::ChainParams::dev().genesis_id()
    );
    println!();
    print!("{}", cairn_core::testkit::render_test_vectors());
}
