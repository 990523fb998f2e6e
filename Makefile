# Cairn: the two commands that matter are `make node` and `make test`.
# Both install what a fresh Debian/Ubuntu machine with only Rust lacks.

CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: node test lint bench deps test-deps vectors docs fuzz testnet longchain

## Run a node on the built-in dev chain (mining, embedded RocksDB). Uses the same
## build profile as the tests (dependencies and the miner fully optimised), so the
## two commands share one RocksDB build.
node: deps
	$(CARGO) run -p cairn-node -- --dev $(ARGS)

## Run every test in the workspace (the explorer test drives a headless Chromium,
## the partition tests need iproute2 and nftables: test-deps installs them), then
## replay the committed fuzz corpus through every fuzz check (fuzz/ is its own
## workspace; the replay needs no nightly toolchain).
test: deps test-deps
	$(CARGO) test --workspace
	$(CARGO) test --manifest-path fuzz/Cargo.toml

## Run every fuzz target for FUZZ_SECONDS each (cargo-fuzz, nightly), growing the
## corpus in fuzz/corpus/. See docs/RELIABILITY.md.
FUZZ_SECONDS ?= 60
fuzz:
	cd fuzz && for t in $$($(CARGO) +nightly fuzz list); do \
		$(CARGO) +nightly fuzz run $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 || exit 1; \
	done

## The network lab (docs/NETWORK.md, "The lab"): NODES real node processes, each in
## its own network namespace (needs root, iproute2, nftables), blocks on a schedule
## and a transfer load; prints block propagation, stale blocks, bytes, CPU, memory,
## a late joiner's time to the tip and peer strikes. LAB_ARGS adds cairn-lab flags
## (`cargo run -p cairn-tests --bin cairn-lab -- --help`).
NODES ?= 100
LAB_ARGS ?= --latency-ms 50 --jitter-ms 10 --peers 4 --tx-rate 10 --seconds 150
testnet: deps test-deps
	$(CARGO) build -p cairn-node
	$(CARGO) run -p cairn-tests --bin cairn-lab -- --nodes $(NODES) $(LAB_ARGS)

## A long chain (BENCHMARKS.md, "Long chains"): BLOCKS empty blocks on the lab's
## network, then a node's restart time, memory per block and a fresh node's sync
## rate on it. LONG_ARGS adds cairn-longchain flags (e.g. --workdir DIR to keep and
## reuse the chain).
BLOCKS ?= 1000000
LONG_ARGS ?=
longchain: deps
	$(CARGO) build -p cairn-node
	$(CARGO) run -p cairn-tests --bin cairn-longchain -- --blocks $(BLOCKS) $(LONG_ARGS)

## Regenerate docs/RPC.md from the node's OpenRPC document, and the node's part of
## docs/CONFIGURATION.md from its settings' definitions.
docs:
	CAIRN_BLESS=1 $(CARGO) test -p cairn-node --lib -- rpc_docs configuration_docs

## Formatting and lints, as CI runs them.
lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check
	$(CARGO) clippy --manifest-path fuzz/Cargo.toml --all-targets -- -D warnings

## Print the protocol test vectors (paste into docs/PROTOCOL.md when they change).
vectors:
	$(CARGO) run -q -p cairn-core --features testkit --example vectors

## Debian's Chromium and ChromeDriver (the explorer test), iproute2 and nftables (the
## partition and lossy-link tests).
test-deps:
	@if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ] || ! command -v nft >/dev/null 2>&1 || ! command -v ip >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "installing test dependencies: chromium chromium-driver iproute2 nftables"; \
			$(SUDO) apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver iproute2 nftables >/dev/null; \
		else \
			echo "note: no apt-get: the explorer test is skipped without /usr/bin/chromium and /usr/bin/chromedriver, the partition tests without ip and nft" >&2; \
		fi; \
	fi

## System packages: a C++ compiler and libclang (RocksDB's bindings need both).
## scripts/have-libclang checks for exactly the file names clang-sys links against
## (libclang.so or libclang-N.so): a fresh Debian machine has only libclang-cpp.so.14,
## which is not it.
deps:
	@if ! command -v $(CARGO) >/dev/null 2>&1; then \
		echo "error: cargo not found: install Rust from https://rustup.rs first" >&2; exit 1; fi
	@if ! command -v c++ >/dev/null 2>&1 || ! sh scripts/have-libclang; then \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "installing build dependencies: libclang-dev clang g++ make"; \
			$(SUDO) apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libclang-dev clang g++ make >/dev/null; \
		else \
			echo "error: install a C++ compiler and libclang (Debian: apt-get install libclang-dev clang g++)" >&2; exit 1; \
		fi; \
	fi
