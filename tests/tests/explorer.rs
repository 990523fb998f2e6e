//! The explorer page on the RPC port, driven in a real headless Chromium (Debian's
//! `chromium` and `chromium-driver`, which `make test` and `.ci/run` install).
//! Screenshots of each page land in `<target>/test-artifacts/`.

use std::time::Duration;

use cairn_core::genesis::dev_keys;
use cairn_tests::webdriver::{self, Browser};
use cairn_tests::{NodeOptions, TestNode, dev_transfer, mine_on, test_params};

const WAIT: Duration = Duration::from_secs(15);

/// Whether the browser is here; without it the test fails in CI and is skipped
/// (with a note) elsewhere.
fn browser_or_skip() -> bool {
    if webdriver::available() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must install chromium and chromium-driver (see .ci/run and `make test`)"
    );
    eprintln!(
        "skipping: {} or {} is missing",
        webdriver::CHROMIUM,
        webdriver::CHROMEDRIVER
    );
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explorer_follows_new_blocks_and_navigates_block_tx_account() {
    if !browser_or_skip() {
        return;
    }
    let node = TestNode::start(&test_params(), NodeOptions::default()).await;
    let rpc = node.rpc_addr;
    let n = node.node().clone();
    let miner = dev_keys()[9].address();
    let recipient = cairn_core::SecretKey::from_seed(&[7; 32]).address();
    let amount = 123_456_789u64;

    tokio::task::spawn_blocking(move || {
        for _ in 0..3 {
            mine_on(&n, miner);
        }
        let tx = dev_transfer(&n, 0, recipient, amount);
        let txid = n.submit_transfer(tx).expect("transfer admitted");
        let tx_block = mine_on(&n, miner);
        assert!(tx_block.txs.len() >= 2, "the transfer is mined");
        let tx_height = n.tip().height;
        mine_on(&n, miner);
        let height = n.tip().height;

        let browser = Browser::start();
        let shots = webdriver::artifacts_dir();
        browser.goto(&format!("http://{rpc}/"));

        // The home page shows the tip and goes live on the WebSocket.
        browser.wait_for("the tip height", WAIT, |b| {
            (b.text_of("#tip-height")? == height.to_string()).then_some(())
        });
        browser.wait_for("the live subscription", WAIT, |b| {
            (b.text_of("#live")? == "live").then_some(())
        });
        browser.wait_for("the chart", WAIT, |b| {
            let chart = b.find("#chart")?;
            (b.attribute(&chart, "data-last-height")? == height.to_string()).then_some(())
        });

        // A block mined now shows up within seconds, in the header, the list and
        // the chart, without reloading.
        let mined = std::time::Instant::now();
        mine_on(&n, miner);
        let new_height = height + 1;
        browser.wait_for("the new block", Duration::from_secs(5), |b| {
            (b.text_of("#tip-height")? == new_height.to_string()).then_some(())
        });
        let followed = mined.elapsed();
        browser.wait_for("the new block in the list and chart", WAIT, |b| {
            b.find(&format!("#blocks [data-height=\"{new_height}\"]"))?;
            let chart = b.find("#chart")?;
            (b.attribute(&chart, "data-last-height")? == new_height.to_string()).then_some(())
        });
        eprintln!("explorer showed a new block {followed:?} after it was mined");
        browser.screenshot(&shots.join("explorer-home.png"));

        // Block → transaction → account, by clicking.
        let link = browser.wait_for("the block's link", WAIT, |b| {
            b.find(&format!(
                "#blocks [data-height=\"{tx_height}\"] a.block-link"
            ))
        });
        browser.click(&link);
        browser.wait_for("the block page", WAIT, |b| {
            let shown = b.text_of("#block-view [data-field=\"height\"]")?;
            (shown.trim() == tx_height.to_string()).then_some(())
        });
        let block_id = browser
            .text_of("#block-view [data-field=\"id\"]")
            .unwrap_or_default();
        assert!(
            block_id.contains(&tx_block.id().to_string()[..12]),
            "{block_id}"
        );
        browser.screenshot(&shots.join("explorer-block.png"));

        let tx_link = browser.wait_for("the transfer's link", WAIT, |b| {
            b.find(&format!("#block-view a.tx-link[href=\"#/tx/{txid}\"]"))
        });
        browser.click(&tx_link);
        browser.wait_for("the transaction page", WAIT, |b| {
            (b.text_of("#tx-view [data-field=\"txid\"]")?
                .contains(&txid.to_string()[..12]))
            .then_some(())
        });
        browser.screenshot(&shots.join("explorer-tx.png"));

        let account_link = browser.wait_for("the recipient's link", WAIT, |b| {
            b.find(&format!(
                "#tx-view a.account-link[href=\"#/account/{recipient}\"]"
            ))
        });
        browser.click(&account_link);
        browser.wait_for("the account page", WAIT, |b| {
            let address = b.text_of("#account-view [data-field=\"address\"]")?;
            let balance = b.text_of("#account-view [data-field=\"balance\"]")?;
            (address.contains(&recipient.to_string()) && balance.trim() == amount.to_string())
                .then_some(())
        });
        browser.screenshot(&shots.join("explorer-account.png"));

        // Search by height goes to that block.
        let search = browser.find("#search").expect("search box");
        browser.eval(&format!(
            "const s = document.querySelector('#search'); s.value = '{tx_height}'; \
             document.querySelector('#search-form').requestSubmit();"
        ));
        let _ = search;
        browser.wait_for("the searched block", WAIT, |b| {
            let shown = b.text_of("#block-view [data-field=\"height\"]")?;
            (shown.trim() == tx_height.to_string()).then_some(())
        });

        // Nothing was blocked by the content security policy, nothing threw.
        let errors = browser.console_errors();
        assert!(errors.is_empty(), "page errors: {errors:?}");
        eprintln!("screenshots in {}", shots.display());
    })
    .await
    .expect("browser steps");
}

#[tokio::test]
async fn explorer_assets_are_same_origin_only() {
    let node = TestNode::start(&test_params(), NodeOptions::default()).await;
    let rpc = node.rpc_addr;
    for (path, kind) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
    ] {
        let (status, headers, body) = cairn_tests::http_get(rpc, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            headers.contains(&format!("content-type: {kind}")),
            "{path}: {headers}"
        );
        assert!(
            headers.contains("content-security-policy: default-src 'self'"),
            "{path}: {headers}"
        );
        // No CDN, no inline script: every script and stylesheet is a local path.
        for needle in ["http://", "https://", "//cdn", "<script>", "style=\""] {
            assert!(!body.contains(needle), "{path} contains {needle:?}");
        }
    }
    let (status, _, _) = cairn_tests::http_get(rpc, "/nope").await;
    assert_eq!(status, 404);
}
