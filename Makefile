# ember — the two commands a newcomer needs:
#   make run    install what is missing, get the default model, build (release), start ember
#   make test   the same preparation, then the whole test suite
#
# Tests run in the release profile, so `make run` and `make test` share one llama.cpp build.

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BIN := $(TARGET_DIR)/release/ember
# Arguments for `make run`, e.g. make run ARGS='--model other.gguf'
ARGS ?=

.PHONY: run test soak fuzz bench bench-long bench-spec bench-gpu bench-portable dist check-portable build deps model test-models llama-server lint fmt clippy clean

run: deps model build
	$(BIN) $(ARGS)

# One test at a time: each model test runs llama.cpp on every core, and two at once on two
# cores spin against each other (the suite took 79 s in parallel, 38 s one at a time).
test: deps model test-models llama-server
	$(CARGO) test --release --locked -- --test-threads=1

# A 200-turn conversation through the engine and the store: memory stays flat, nothing is lost.
# Minutes long, so not part of `make test`; CI runs it after the tests (.ci/run).
soak: deps model
	$(CARGO) test --release --locked --test soak -- --ignored --nocapture

# ember side by side with llama.cpp's llama-bench and llama-completion (built once with ember's
# flags): speed ratios, cold start, memory, thread counts. Figures in BENCHMARKS.md. Minutes.
bench: deps model
	scripts/bench-vs-llama.sh

# A conversation 30 turns past the context (CTX=1024): first-token time per turn, before and
# after turns leave, local and through llama-server. Figures in BENCHMARKS.md. ~15 minutes.
bench-long: deps model llama-server
	scripts/bench-long.sh

# Speculative decoding against plain decoding and llama-server's n-gram speculation, on the
# fixed tasks in bench/spec (whole-file edits, explanations, new code and prose). Minutes.
bench-spec: deps model
	scripts/bench-spec.sh

# The portable build (make dist) against the native one, side by side: pp and tg. Minutes, and
# a second llama.cpp build (every CPU variant) the first time.
bench-portable: deps model
	scripts/bench-portable.sh

# The same comparison with every layer on an NVIDIA GPU (needs the CUDA toolkit).
bench-gpu:
	scripts/bench-gpu.sh

# Each cargo-fuzz target for FUZZ_SECONDS (nightly toolchain; installs cargo-fuzz if missing).
# The corpora in fuzz/corpus grow as it runs: commit what is worth keeping (cargo fuzz cmin).
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := sanitize markdown gguf template config
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		$(CARGO) +nightly fuzz run -O $$t -- -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -max_len=65536 || exit 1; \
	done

build: deps
	$(CARGO) build --release --locked

# The archive to ship: a portable build (llama.cpp's CPU variants, chosen on start) without debug
# information, with its libraries, README, licences and SHA-256, in $(TARGET_DIR)/ember-dist.
# A llama.cpp build of its own (profile dist): long the first time. `make run` stays native.
dist: deps
	@scripts/dist.sh

# The archive unpacked in a fresh folder: size, doctor and an answer here and on an emulated
# older CPU (qemu-x86_64 -cpu Nehalem), and the native build dying there. Minutes.
check-portable: deps model
	scripts/check-portable.sh

deps:
	@scripts/install-deps.sh

model: deps
	@scripts/fetch-model.sh

# A second architecture without a chat template, used by the tests.
test-models: deps
	@scripts/fetch-model.sh gemma3

# llama.cpp's llama-server, for the remote-engine tests: built once (several minutes) from the
# llama.cpp tree ember vendors, into ~/.cache/ember/llama-tools; prints its path.
llama-server: deps
	@scripts/build-llama-tools.sh llama-server

lint: fmt clippy

fmt:
	$(CARGO) fmt --check

clippy: deps
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

clean:
	$(CARGO) clean
