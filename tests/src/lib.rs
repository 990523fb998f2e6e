//! `cairn-tests`: the multi-node harness and end-to-end scenarios. Real nodes on
//! loopback with random ports and temp dirs arrive with the node and p2p issues.
