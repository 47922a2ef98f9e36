# Roomwarden tasks. `just --list` shows them all.

mysql_url := env_var_or_default("ROOMWARDEN_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306")

# Run the server on embedded SQLite (./data/roomwarden.db); keys are printed on first start.
run:
    cargo run --release

# Run the server on MySQL/MariaDB (the database is created if missing).
run-mysql url="mysql://root@127.0.0.1:3306/roomwarden":
    ROOMWARDEN_DATABASE_URL={{url}} cargo run --release --features mysql

# Print the keys (generating them on a fresh database).
keys:
    cargo run --release -- keys

# Every test on embedded SQLite.
test:
    cargo test --workspace

# Every test against MySQL/MariaDB, one fresh database per test.
test-mysql:
    ROOMWARDEN_TEST_MYSQL_URL={{mysql_url}} ROOMWARDEN_REQUIRE_MYSQL=1 cargo test --workspace --features mysql

# Format check and clippy with warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# Write the OpenAPI document to docs/openapi.json.
openapi:
    cargo run --quiet -- openapi > docs/openapi.json

# Everything CI runs.
ci:
    bash .ci/run

# Memory soak of the release server (Python 3 standard library): RSS and threads under load and idle.
soak requests="100000" clients="64":
    cargo build --release
    python3 tools/soak.py --requests {{requests}} --clients {{clients}}

# Deletion benchmark on embedded SQLite: a room of N messages (default 1,000,000).
bench n="1000000":
    cargo run --release -p roomwarden-adapters --example bench_clear -- {{n}}

# HTTP benchmark: the release server on fresh SQLite and MySQL/MariaDB databases, beside the same
# SQL issued directly (the floor), with ratios (docs/benchmarks.md). `--quick` checks the harness.
bench-http *args:
    cargo build --release --features mysql -p roomwarden
    cargo run --release -p roomwarden-adapters --features mysql --example bench_http -- sqlite {{args}}
    cargo run --release -p roomwarden-adapters --features mysql --example bench_http -- mysql {{args}}

# Moderation benchmark (filtered clears on a 1,000,000-message room from 50 senders, a user
# purge across 1,000 rooms, then the reports workloads of `bench-reports`) on SQLite and
# MySQL/MariaDB, beside the floor.
bench-moderation *args:
    just bench-http --moderation {{args}}

# Reports benchmark alone (docs/benchmarks.md): the queues of rooms of 10,000 open reports,
# and sends into other rooms while members report at 500/s, on SQLite and MySQL/MariaDB,
# beside the floor. `--quick` checks the harness.
bench-reports *args:
    just bench-http --reports {{args}}

# Clears alone (docs/benchmarks.md): `_all` on rooms of 10,000, 50,000 and 1,000,000 messages,
# sends into another room during the large one's purge, and the floor of its removal (the
# purger's batches straight at the database, back to back, with sends beside it).
bench-clears *args:
    just bench-http --clears {{args}}

# Single deletes alone (docs/benchmarks.md): from 1, 8 and 32 clients, beside the floor as one
# batch per transaction and (MySQL) one round trip per statement; about a minute per backend.
bench-deletes *args:
    just bench-http --deletes {{args}}

# Deletions into one room with a webhook alone (docs/benchmarks.md): 1,000/s for 10 s from 8
# clients, the outbox's drain after, and the same paced deletions straight at the database.
bench-outbox *args:
    just bench-http --outbox {{args}}

# Galera benchmark (docs/benchmarks.md): single deletes on the cluster of `just galera-start`
# beside the standalone MariaDB and the floor, read-your-writes, failover of node 1 (killed and
# restarted). `--quick` checks the harness.
bench-galera *args:
    cargo build --release --features mysql -p roomwarden
    cargo run --release -p roomwarden-adapters --features mysql --example bench_http -- galera {{args}}

# Verifiable audit log benchmark (docs/benchmarks.md): single deletes at 1, 8 and 32 clients on
# the server built before the chain (commit ROOMWARDEN_BENCH_BEFORE, default a5dd004, built in a
# temporary worktree and a target directory of its own) and on this one, alternately; then
# start-up linking, verify and export of a room of 1,000,000 records. SQLite, then MariaDB.
# Options: `--rounds=N`, `--phase=SECS`, `--records=N`, `--part=deletes|log`, `--quick`, `--keyed`
# (each single delete by the API key with an Idempotency-Key of its own).
bench-chain *args:
    #!/usr/bin/env bash
    set -euo pipefail
    target="${CARGO_TARGET_DIR:-$PWD/target}"
    worktree="$(mktemp -d)/before"
    git worktree add --detach "$worktree" "${ROOMWARDEN_BENCH_BEFORE:-a5dd004}" >/dev/null
    trap 'git worktree remove --force "$worktree"; rmdir "$(dirname "$worktree")"' EXIT
    (cd "$worktree" && CARGO_TARGET_DIR="$target/bench-before" cargo build --release --features mysql -p roomwarden)
    cargo build --release --features mysql -p roomwarden
    export ROOMWARDEN_BIN_BEFORE="$target/bench-before/release/roomwarden" ROOMWARDEN_BIN="$target/release/roomwarden"
    cargo run --release -p roomwarden-adapters --features mysql --example bench_http -- sqlite --chain {{args}}
    cargo run --release -p roomwarden-adapters --features mysql --example bench_http -- mysql --chain {{args}}

# Newest-page benchmark (docs/benchmarks.md): the server built at commit ROOMWARDEN_BENCH_BEFORE
# (default b47d6c6, before SQLite's query-planner stability guarantee; built in a temporary
# worktree and a target directory of its own) and this one, alternately, beside the floor.
# SQLite, then MariaDB. Options: `--rounds=N`, `--phase=SECS`, `--quick`.
bench-pages *args:
    #!/usr/bin/env bash
    set -euo pipefail
    target="${CARGO_TARGET_DIR:-$PWD/target}"
    worktree="$(mktemp -d)/before"
    git worktree add --detach "$worktree" "${ROOMWARDEN_BENCH_BEFORE:-b47d6c6}" >/dev/null
    trap 'git worktree remove --force "$worktree"; rmdir "$(dirname "$worktree")"' EXIT
    (cd "$worktree" && CARGO_TARGET_DIR="$target/bench-before" cargo build --release --features mysql -p roomwarden)
    cargo build --release --features mysql -p roomwarden
    export ROOMWARDEN_BIN_BEFORE="$target/bench-before/release/roomwarden" ROOMWARDEN_BIN="$target/release/roomwarden"
    cargo run --release -p roomwarden-adapters --features mysql --example bench_http -- sqlite --pages {{args}}
    cargo run --release -p roomwarden-adapters --features mysql --example bench_http -- mysql --pages {{args}}

# What one single delete asks of MariaDB, counted (statements, prepares, index reads, redo log,
# fsyncs; and CPU time), for this build and any other given as label=path (docs/benchmarks.md).
bench-statements *args:
    cargo build --release --features mysql -p roomwarden
    python3 tools/statement_counts.py this="${CARGO_TARGET_DIR:-target}/release/roomwarden" {{args}}

# A 3-node MariaDB Galera cluster on loopback (client ports 3307-3309; data under
# /tmp/roomwarden-galera, kept across stop/start). `tools/galera.sh` also has kill, restart, reset.
galera-start:
    bash tools/galera.sh start

# Shut the Galera cluster's nodes down cleanly.
galera-stop:
    bash tools/galera.sh stop

# One line per Galera node: state and cluster size.
galera-status:
    bash tools/galera.sh status
