//! The JSON-RPC server of a real node: every method's happy path, every kind of bad
//! input (each with its error code, and nothing changed), and WebSocket subscriptions
//! with replay after a reconnect.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use cairn_core::genesis::dev_keys;
use cairn_core::merkle::MerkleProof;
use cairn_core::{Amount, Decode, Encode, Hash, Transaction, Transfer};
use cairn_rpc::methods::{AddressParams, ChainGetInfo, NoParams, StateGetAccount};
use cairn_tests::{
    NodeOptions, Rng, TestNode, Ws, call, dev_transfer, http_post, num, rpc, test_params, ws_call,
    ws_next,
};
use futures::SinkExt;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn hex_tx(tx: &Transfer) -> String {
    hex::encode(Transaction::Transfer(tx.clone()).to_bytes())
}

fn code(e: &Value) -> i64 {
    e["code"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_method_answers() {
    let params = test_params();
    let node = TestNode::start(&params, NodeOptions::default()).await;
    let addr = node.rpc_addr;
    let miner = dev_keys()[9].address();

    let info = rpc(addr, "node_getInfo", json!([])).await.unwrap();
    assert_eq!(info["chainId"], params.chain_id());
    assert_eq!(info["genesis"], params.genesis_id().to_string());
    assert_eq!(info["networkId"], params.network_id().to_string());
    assert_eq!(info["peerId"], node.peer_id.to_string());

    let ids = rpc(addr, "node_generate", json!([3, miner.to_string()]))
        .await
        .unwrap();
    assert_eq!(ids.as_array().unwrap().len(), 3);
    let chain = rpc(addr, "chain_getInfo", json!([])).await.unwrap();
    assert_eq!(chain["height"], "3");
    assert_eq!(chain["tip"], ids[2]);
    assert!(chain["difficulty"].as_f64().unwrap() > 1.0);

    // A transfer: pending, then confirmed with a proof.
    let to = dev_keys()[5].address();
    let tx = dev_transfer(node.node(), 0, to, 12_345);
    let txid = rpc(addr, "tx_send", json!([hex_tx(&tx)])).await.unwrap();
    assert_eq!(txid, tx.id().to_string());
    let got = rpc(addr, "tx_get", json!({"id": txid})).await.unwrap();
    assert_eq!(got["status"], "pending");
    assert_eq!(got["txid"], txid);
    // The transaction itself is nested under `tx`; u64s are decimal strings.
    assert_eq!(got["tx"]["type"], "transfer");
    assert_eq!(got["tx"]["id"], txid);
    assert_eq!(got["tx"]["amount"], "12345");
    assert_eq!(got["tx"]["nonce"], "0");
    let acct = rpc(
        addr,
        "state_getAccount",
        json!([dev_keys()[0].address().to_string()]),
    )
    .await
    .unwrap();
    assert_eq!(acct["nonce"], "0");
    assert_eq!(acct["pendingNonce"], "1");
    assert_eq!(acct["pendingTxs"], "1");
    let pool = rpc(addr, "mempool_getInfo", json!([])).await.unwrap();
    assert_eq!(pool["size"], "1");
    let content = rpc(addr, "mempool_getContent", json!([10])).await.unwrap();
    assert_eq!(content[0]["id"], txid);
    let fees = rpc(addr, "mempool_estimateFee", json!([])).await.unwrap();
    for k in ["slow", "normal", "fast"] {
        assert!(fees[k].as_str().unwrap().parse::<u64>().unwrap() >= 1_000);
    }

    let mined = rpc(addr, "node_generate", json!([1, miner.to_string()]))
        .await
        .unwrap();
    let got = rpc(addr, "tx_get", json!([txid])).await.unwrap();
    assert_eq!(got["status"], "confirmed");
    assert_eq!(got["tx"]["id"], txid);
    assert_eq!(got["block"], mined[0]);
    assert_eq!(got["height"], "4");
    assert_eq!(got["index"], 1);
    assert_eq!(got["confirmations"], "1");
    let proof = rpc(addr, "tx_getProof", json!([txid])).await.unwrap();
    let siblings: Vec<Hash> = proof["siblings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect();
    let proof_ok = MerkleProof {
        index: u32::try_from(proof["index"].as_u64().unwrap()).unwrap(),
        leaf_count: u32::try_from(proof["leafCount"].as_u64().unwrap()).unwrap(),
        siblings,
    }
    .verify(
        &tx.id(),
        &proof["txRoot"].as_str().unwrap().parse().unwrap(),
    );
    assert!(proof_ok, "the inclusion proof does not verify");
    let to_acct = rpc(addr, "state_getAccount", json!({"address": to.to_string()}))
        .await
        .unwrap();
    assert_eq!(
        to_acct["balance"].as_str().unwrap().parse::<u64>().unwrap(),
        node.balance(&to)
    );
    let history = rpc(addr, "state_getHistory", json!([to.to_string()]))
        .await
        .unwrap();
    assert_eq!(history[0]["tx"]["id"], txid);
    assert_eq!(history[0]["block"], mined[0]);
    assert_eq!(history[0]["height"], "4");

    let by_height = rpc(addr, "chain_getBlockByHeight", json!([4, true]))
        .await
        .unwrap();
    assert_eq!(by_height["id"], mined[0]);
    assert_eq!(by_height["txs"][1]["id"], txid);
    assert_eq!(by_height["confirmations"], "1");
    assert_eq!(by_height["height"], "4");
    let by_hash = rpc(addr, "chain_getBlockByHash", json!([mined[0]]))
        .await
        .unwrap();
    assert_eq!(by_hash["txs"][1], txid);
    let headers = rpc(addr, "chain_getHeaders", json!([0, 10])).await.unwrap();
    assert_eq!(headers.as_array().unwrap().len(), 5);
    assert_eq!(headers[4]["id"], mined[0]);

    let net = rpc(addr, "net_getInfo", json!([])).await.unwrap();
    assert_eq!(net["peers"], "0");
    assert!(!net["listen"].as_array().unwrap().is_empty());
    let other = TestNode::start(&params, NodeOptions::default()).await;
    rpc(addr, "net_connect", json!([other.addr.to_string()]))
        .await
        .unwrap();
    assert!(
        cairn_tests::eventually_async(Duration::from_secs(10), || async {
            let peers = rpc(addr, "net_getPeers", json!([])).await.unwrap();
            peers.as_array().unwrap().len() == 1
        })
        .await
    );

    let doc = rpc(addr, "rpc.discover", json!([])).await.unwrap();
    let names: Vec<&str> = doc["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    for m in [
        "tx_send",
        "chain_getInfo",
        "state_getAccount",
        "net_getPeers",
    ] {
        assert!(names.contains(&m), "{m} missing from rpc.discover");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_error_and_changes_nothing() {
    let params = test_params();
    let node = TestNode::start(&params, NodeOptions::default()).await;
    let addr = node.rpc_addr;
    rpc(
        addr,
        "node_generate",
        json!([2, dev_keys()[9].address().to_string()]),
    )
    .await
    .unwrap();
    let queued = dev_transfer(node.node(), 1, dev_keys()[2].address(), 5_000);
    rpc(addr, "tx_send", json!([hex_tx(&queued)]))
        .await
        .unwrap();
    let tip = node.tip();
    let pool = node.node().with_mempool(|m| m.len());

    // Envelope errors.
    let raw = |body: &'static str| async move { http_post(addr, body.as_bytes(), None).await };
    let (_, r) = raw("{not json").await;
    assert_eq!(code(&r.unwrap()["error"]), -32700);
    let (_, r) = raw(r#"{"jsonrpc":"2.0","id":1,"method":"chain_getInfo","#).await;
    assert_eq!(code(&r.unwrap()["error"]), -32700);
    let (_, r) = raw("[]").await;
    assert_eq!(code(&r.unwrap()["error"]), -32600);
    let (_, r) = raw(r#"{"jsonrpc":"1.0","id":1,"method":"chain_getInfo"}"#).await;
    assert_eq!(code(&r.unwrap()["error"]), -32600);
    let (_, r) = raw(r#"[1, {"jsonrpc":"2.0","id":2,"method":"chain_getInfo"}]"#).await;
    let r = r.unwrap();
    assert_eq!(code(&r[0]["error"]), -32600);
    assert_eq!(r[1]["result"]["height"], "2");
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let (_, r) = http_post(addr, deep.as_bytes(), None).await;
    assert_eq!(code(&r.unwrap()["error"]), -32700);
    let batch: Vec<Value> = (0..101)
        .map(|i| json!({"jsonrpc":"2.0","id":i,"method":"chain_getInfo"}))
        .collect();
    let (_, r) = http_post(addr, Value::Array(batch).to_string().as_bytes(), None).await;
    assert_eq!(code(&r.unwrap()["error"]), -32600);
    let big = vec![b' '; 2 * 1024 * 1024];
    let (status, r) = http_post(addr, &big, None).await;
    assert_eq!(status, 413);
    assert_eq!(code(&r.unwrap()["error"]), -32600);
    // A notification (no id) gets no answer.
    let (status, r) = raw(r#"{"jsonrpc":"2.0","method":"chain_getInfo"}"#).await;
    assert_eq!((status, r), (204, None));

    // Method and parameter errors.
    let err = |m: &'static str, p: Value| async move { rpc(addr, m, p).await.unwrap_err() };
    assert_eq!(code(&err("chain_nope", json!([])).await), -32601);
    assert_eq!(
        code(&err("chain_getBlockByHeight", json!(["one"])).await),
        -32602
    );
    assert_eq!(
        code(&err("chain_getBlockByHeight", json!([-1])).await),
        -32602
    );
    assert_eq!(
        code(&err("chain_getBlockByHeight", json!([u64::MAX])).await),
        -32010
    );
    assert_eq!(
        code(&err("chain_getBlockByHeight", json!([])).await),
        -32602
    );
    assert_eq!(code(&err("chain_getInfo", json!([1])).await), -32602);
    assert_eq!(
        code(&err("chain_getBlockByHash", json!({"hash": "00"})).await),
        -32602
    );
    assert_eq!(
        code(&err("chain_getBlockByHash", json!(["zz"])).await),
        -32602
    );
    assert_eq!(
        code(&err("chain_getBlockByHash", json!([Hash::ZERO.to_string()])).await),
        -32010
    );
    assert_eq!(
        code(&err("chain_getHeaders", json!([0, 2001])).await),
        -32602
    );
    // An id the node has never seen is no error: its status says so.
    let unknown = rpc(addr, "tx_get", json!([Hash::ZERO.to_string()]))
        .await
        .unwrap();
    assert_eq!(unknown["status"], "unknown", "{unknown}");
    assert!(unknown["tx"].is_null(), "{unknown}");
    assert_eq!(
        code(&err("tx_getProof", json!([queued.id().to_string()])).await),
        -32011
    );
    assert_eq!(
        code(&err("state_getAccount", json!(["cairn1nope"])).await),
        -32602
    );
    assert_eq!(code(&err("tx_send", json!(["xyz"])).await), -32602);
    // Hex that does not decode breaks the encoding rule: a refused transaction.
    let e = err("tx_send", json!(["0102"])).await;
    assert_eq!(
        (code(&e), &e["data"]["reason"]),
        (-32000, &json!("malformed"))
    );

    // Typed transaction errors.
    let key = &dev_keys()[3];
    let send = |tx: Transfer| async move { rpc(addr, "tx_send", json!([hex_tx(&tx)])).await };
    let to = dev_keys()[4].address();
    let net = params.network_id();
    let wrong_chain = Transfer::new_signed(key, net, 999, to, Amount(1), Amount(2_000), 0);
    let e = send(wrong_chain).await.unwrap_err();
    assert_eq!(code(&e), -32000);
    assert_eq!(e["data"]["reason"], "wrong-chain-id");
    let mut bad_sig =
        Transfer::new_signed(key, net, params.chain_id(), to, Amount(1), Amount(2_000), 0);
    bad_sig.amount = Amount(2);
    assert_eq!(code(&send(bad_sig).await.unwrap_err()), -32000);
    // Signed for another network with the same chain id: the signature fails.
    let other_net = cairn_core::Hash::digest(b"another network");
    let e = send(Transfer::new_signed(
        key,
        other_net,
        params.chain_id(),
        to,
        Amount(1),
        Amount(2_000),
        0,
    ))
    .await
    .unwrap_err();
    assert_eq!(e["data"]["reason"], "bad-signature");
    let too_much = Transfer::new_signed(
        key,
        net,
        params.chain_id(),
        to,
        Amount(u64::MAX / 2),
        Amount(2_000),
        0,
    );
    assert_eq!(code(&send(too_much).await.unwrap_err()), -32003);
    let gap = Transfer::new_signed(key, net, params.chain_id(), to, Amount(1), Amount(2_000), 5);
    assert_eq!(code(&send(gap).await.unwrap_err()), -32002);
    let cheap = Transfer::new_signed(key, net, params.chain_id(), to, Amount(1), Amount(1), 0);
    assert_eq!(code(&send(cheap).await.unwrap_err()), -32004);
    assert_eq!(code(&send(queued.clone()).await.unwrap_err()), -32006);
    // dev account 9 mined the blocks but has sent nothing: nonce 0 is next; the dev
    // account 0 transfer below is confirmed first, then replayed.
    let spent = dev_transfer(node.node(), 0, to, 1);
    send(spent.clone()).await.unwrap();
    rpc(
        addr,
        "node_generate",
        json!([1, dev_keys()[9].address().to_string()]),
    )
    .await
    .unwrap();
    assert_eq!(code(&send(spent).await.unwrap_err()), -32001);

    // Admin methods need the token.
    let body =
        json!({"jsonrpc":"2.0","id":1,"method":"node_generate","params":[1, to.to_string()]});
    let (_, r) = http_post(addr, body.to_string().as_bytes(), None).await;
    assert_eq!(code(&r.unwrap()["error"]), -32020);
    let (_, r) = http_post(addr, body.to_string().as_bytes(), Some("wrong")).await;
    assert_eq!(code(&r.unwrap()["error"]), -32020);

    // Nothing changed but what the valid calls did: one block, which confirmed
    // `queued` and `spent`, leaving the mempool empty.
    assert_eq!(pool, 1);
    assert_eq!(node.tip().height, tip.height + 1);
    assert_eq!(node.node().with_mempool(|m| m.len()), 0);
    assert!(node.supply_is_conserved());
}

async fn ws_connect(node: &TestNode) -> Ws {
    let url = format!("ws://{}/ws", node.rpc_addr);
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn subscribe_heads(ws: &mut Ws, from: Option<u64>) -> String {
    let options = from.map_or(json!({}), |f| json!({"fromHeight": f}));
    let req = json!({"jsonrpc":"2.0","id":7,"method":"subscribe","params":["newHeads", options]});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .unwrap();
    let reply = ws_next(ws, Duration::from_secs(10)).await;
    assert_eq!(reply["id"], 7, "{reply}");
    reply["result"].as_str().unwrap().to_string()
}

async fn next_head(ws: &mut Ws, sub: &str) -> u64 {
    let n = ws_next(ws, Duration::from_secs(10)).await;
    assert_eq!(n["method"], "subscription");
    assert_eq!(n["params"]["subscription"], sub);
    num(&n["params"]["result"]["height"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_heads_arrive_in_order_and_replay_after_a_reconnect() {
    let params = test_params();
    let node = TestNode::start(&params, NodeOptions::default()).await;
    let miner = dev_keys()[9].address();
    for _ in 0..3 {
        node.mine_block(miner);
    }
    let mut ws = ws_connect(&node).await;
    // Plain requests work over the socket too.
    ws.send(Message::Text(
        json!({"jsonrpc":"2.0","id":1,"method":"chain_getInfo"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        ws_next(&mut ws, Duration::from_secs(10)).await["result"]["height"],
        "3"
    );

    let sub = subscribe_heads(&mut ws, Some(1)).await;
    for want in 1..=3 {
        assert_eq!(next_head(&mut ws, &sub).await, want);
    }
    for _ in 0..5 {
        node.mine_block(miner);
    }
    for want in 4..=8 {
        assert_eq!(next_head(&mut ws, &sub).await, want);
    }
    drop(ws);

    // Missed while away: replayed from the last height seen, then live again.
    for _ in 0..4 {
        node.mine_block(miner);
    }
    let mut ws = ws_connect(&node).await;
    let sub = subscribe_heads(&mut ws, Some(9)).await;
    for want in 9..=12 {
        assert_eq!(next_head(&mut ws, &sub).await, want);
    }
    node.mine_block(miner);
    assert_eq!(next_head(&mut ws, &sub).await, 13);

    // Pending transfers.
    let req = json!({"jsonrpc":"2.0","id":8,"method":"subscribe","params":["newPendingTxs"]});
    ws.send(Message::Text(req.to_string().into()))
        .await
        .unwrap();
    let txsub = ws_next(&mut ws, Duration::from_secs(10)).await["result"]
        .as_str()
        .unwrap()
        .to_string();
    let tx = dev_transfer(node.node(), 0, dev_keys()[1].address(), 1_000);
    node.node().submit_transfer(tx.clone()).unwrap();
    let n = ws_next(&mut ws, Duration::from_secs(10)).await;
    assert_eq!(n["params"]["subscription"], txsub);
    assert_eq!(n["params"]["result"]["id"], tx.id().to_string());
}

/// What a client of the contract can rely on: canonical bytes beside the JSON, which
/// hash to the ids it gives; `unknown` for an id never seen; `malformed` for bytes
/// that do not decode; one rule for named parameters, over the WebSocket too; and
/// results that decode into `cairn-rpc`'s types.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_contract_is_typed_and_checkable() {
    let params = test_params();
    let node = TestNode::start(&params, NodeOptions::default()).await;
    let addr = node.rpc_addr;
    let miner = dev_keys()[9].address().to_string();
    rpc(addr, "node_generate", json!([1, miner])).await.unwrap();
    let tx = dev_transfer(node.node(), 0, dev_keys()[5].address(), 4_321);
    rpc(addr, "tx_send", json!([hex_tx(&tx)])).await.unwrap();
    rpc(addr, "node_generate", json!([2, miner])).await.unwrap();

    // (a) Block 2 with its transactions and canonical bytes.
    let b = rpc(addr, "chain_getBlockByHeight", json!([2, true, true]))
        .await
        .unwrap();
    let id = b["id"].as_str().unwrap();
    // The id is the PoW hash of the header's bytes (core/src/header.rs):
    // blake3(blake3(all but the 8-byte nonce) ‖ nonce).
    let header = hex::decode(b["raw"].as_str().unwrap()).unwrap();
    let (pre, nonce) = header.split_at(header.len() - 8);
    let mut pow_input = blake3::hash(pre).as_bytes().to_vec();
    pow_input.extend_from_slice(nonce);
    assert_eq!(blake3::hash(&pow_input).to_hex().as_str(), id);
    let txs = b["txs"].as_array().unwrap();
    assert_eq!(txs.len(), 2, "{b}");
    for t in txs {
        let bytes = hex::decode(t["raw"].as_str().unwrap()).unwrap();
        let decoded = Transaction::from_bytes(&bytes).unwrap();
        assert_eq!(decoded.id().to_string(), t["id"].as_str().unwrap());
        assert_eq!(decoded.chain_id(), params.chain_id());
    }
    assert_eq!(txs[0]["type"], "coinbase");
    assert_eq!(txs[0]["chainId"], params.chain_id());
    assert_eq!(txs[1]["id"], tx.id().to_string());
    assert_eq!(txs[1]["nonce"], "0");
    let raw_block = hex::decode(b["rawBlock"].as_str().unwrap()).unwrap();
    let block = cairn_core::Block::from_bytes(&raw_block).unwrap();
    assert_eq!(block.id().to_string(), id);
    assert_eq!(num(&b["size"]), u64::try_from(raw_block.len()).unwrap());
    assert_eq!((num(&b["height"]), num(&b["confirmations"])), (2, 2));
    assert_eq!(b["mainChain"], true);

    // (b) An id never seen: no error, status unknown.
    let unknown = Hash::digest(&Rng::from_time().next_u64().to_le_bytes()).to_string();
    let got = rpc(addr, "tx_get", json!([unknown])).await.unwrap();
    assert_eq!(got["txid"], unknown.as_str(), "{got}");
    assert_eq!(got["status"], "unknown", "{got}");
    assert!(got["tx"].is_null(), "{got}");

    // (c) Hex that does not decode as a transaction.
    let e = rpc(addr, "tx_send", json!(["0102"])).await.unwrap_err();
    assert_eq!(code(&e), -32000, "{e}");
    assert_eq!(e["data"]["reason"], "malformed", "{e}");

    // (d) Named parameters over the WebSocket (subscriptions live there only).
    let e = rpc(addr, "subscribe", json!({"topic": "newHeads"}))
        .await
        .unwrap_err();
    assert_eq!(code(&e), -32601, "{e}");
    let mut ws = ws_connect(&node).await;
    for (i, bad) in [
        json!({"topic": "newHeads", "bogus": 1}),
        json!({"topic": "newHeads", "coinbase": miner}),
        json!({"topic": "newWork", "coinbase": miner, "fromHeight": "0"}),
    ]
    .into_iter()
    .enumerate()
    {
        let req = json!({"jsonrpc": "2.0", "id": i, "method": "subscribe", "params": bad});
        let reply = ws_call(&mut ws, &req.to_string(), Duration::from_secs(10)).await;
        assert_eq!(
            (&reply["id"], code(&reply["error"])),
            (&json!(i), -32602),
            "{reply}"
        );
    }
    let req = json!({"jsonrpc": "2.0", "id": "s", "method": "subscribe",
        "params": {"topic": "newHeads", "fromHeight": "0"}});
    let reply = ws_call(&mut ws, &req.to_string(), Duration::from_secs(10)).await;
    assert_eq!(reply["id"], "s", "{reply}");
    let sub = reply["result"].as_str().unwrap().to_string();
    for want in 0..=3 {
        assert_eq!(next_head(&mut ws, &sub).await, want);
    }

    // (e) The same answers, decoded into the contract's types.
    let info = call::<ChainGetInfo>(addr, NoParams {}).await.unwrap();
    assert_eq!((info.height.get(), info.tip), (3, node.tip().id));
    let dev = dev_keys()[0].address();
    let account = call::<StateGetAccount>(addr, AddressParams { address: dev })
        .await
        .unwrap();
    assert_eq!(account.address, dev);
    assert_eq!((account.nonce.get(), account.pending_nonce.get()), (1, 1));
    assert_eq!(account.balance.get(), node.balance(&dev));
}
