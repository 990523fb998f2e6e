# Cairn: the two commands that matter are `make node` and `make test`.
# Both install what a fresh Debian/Ubuntu machine with only Rust lacks.

CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: node test lint bench deps test-deps vectors docs

## Run a node on the built-in dev chain (mining, embedded RocksDB). Uses the same
## build profile as the tests (dependencies and the miner fully optimised), so the
## two commands share one RocksDB build.
node: deps
	$(CARGO) run -p cairn-node -- --dev $(ARGS)

## Run every test in the workspace (the explorer test drives a headless Chromium,
## which test-deps installs).
test: deps test-deps
	$(CARGO) test --workspace

## Regenerate docs/RPC.md from the node's OpenRPC document.
docs:
	CAIRN_BLESS=1 $(CARGO) test -p cairn-node --lib rpc_docs

## Formatting and lints, as CI runs them.
lint: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## Print the protocol test vectors (paste into docs/PROTOCOL.md when they change).
vectors:
	$(CARGO) run -q -p cairn-core --features testkit --example vectors

## Debian's Chromium and ChromeDriver, for the explorer test.
test-deps:
	@if ! [ -x /usr/bin/chromium ] || ! [ -x /usr/bin/chromedriver ]; then \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "installing the explorer test's browser: chromium chromium-driver"; \
			$(SUDO) apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null; \
		else \
			echo "note: no apt-get: the explorer test is skipped without /usr/bin/chromium and /usr/bin/chromedriver" >&2; \
		fi; \
	fi

## System packages: a C++ compiler and libclang (RocksDB's bindings need both).
deps:
	@if ! command -v $(CARGO) >/dev/null 2>&1; then \
		echo "error: cargo not found: install Rust from https://rustup.rs first" >&2; exit 1; fi
	@if ! command -v c++ >/dev/null 2>&1 || ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null 2>&1; then \
			echo "installing build dependencies: libclang-dev clang g++ make"; \
			$(SUDO) apt-get update -qq && \
			DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq libclang-dev clang g++ make >/dev/null; \
		else \
			echo "error: install a C++ compiler and libclang (Debian: apt-get install libclang-dev clang g++)" >&2; exit 1; \
		fi; \
	fi
