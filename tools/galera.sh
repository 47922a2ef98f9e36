#!/usr/bin/env bash
# A three-node MariaDB Galera cluster on loopback, for trying Roomwarden on a cluster.
#
#   tools/galera.sh start          start (or re-start) the cluster, wait until all nodes are Synced
#   tools/galera.sh stop           shut every node down cleanly; nothing is left running
#   tools/galera.sh status         one line per node (state, cluster size, pid)
#   tools/galera.sh kill NODE      kill -9 one node's mariadbd (NODE is 1, 2 or 3)
#   tools/galera.sh restart NODE   start a killed or stopped node again; it rejoins (IST, or SST)
#   tools/galera.sh reset          stop, then delete the base directory (the next start is fresh)
#
# Every node is a plain `mariadbd --defaults-file=<generated>` process (no systemd, no
# mysqld_safe, so a killed node stays dead until `restart`). Everything lives under one base
# directory, ${ROOMWARDEN_GALERA_DIR:-/tmp/roomwarden-galera}:
#
#   node<i>/my.cnf   generated at every start/restart (edit this script, not the file)
#   node<i>/data/    datadir (also holds grastate.dat and the gcache)
#   node<i>/mariadbd.{sock,pid}, node<i>/error.log
#
# Ports: client ports from ROOMWARDEN_GALERA_PORTS (default "3307,3308,3309"); node i (1-based)
# uses Galera replication port G+10*(i-1), IST port G+1+10*(i-1) and SST (rsync) port
# G+2+10*(i-1), with G = ROOMWARDEN_GALERA_BASE_PORT (default 4567): 4567/4568/4569,
# 4577/4578/4579, 4587/4588/4589. Everything binds 127.0.0.1 only.
#
# Data survives stop/start: `stop` shuts the nodes down one after the other, so the last one
# is marked safe_to_bootstrap in its grastate.dat. `start` on existing data directories
# bootstraps the most advanced node (the one marked safe_to_bootstrap, else the highest
# committed seqno, recovered with `mariadbd --wsrep-recover` for nodes that were killed) with
# --wsrep-new-cluster, and the two others rejoin it (IST, or SST when they are too far
# behind). `reset` (or ROOMWARDEN_GALERA_FRESH=1 start) wipes everything instead, which is
# always fine for this test cluster.
#
# root on every node has an empty password and is reachable over TCP from 127.0.0.1:
#   mariadb -h127.0.0.1 -P3307 -uroot
# Do not use this configuration anywhere but on a development machine.
#
# Run as root, missing Debian packages (mariadb-server, galera-4, rsync) are installed first,
# and the nodes run as the `mysql` user (see RUN_AS below).

set -euo pipefail

BASE_DIR=${ROOMWARDEN_GALERA_DIR:-/tmp/roomwarden-galera}
IFS=', ' read -r -a CLIENT_PORTS <<<"${ROOMWARDEN_GALERA_PORTS:-3307,3308,3309}"
GALERA_BASE_PORT=${ROOMWARDEN_GALERA_BASE_PORT:-4567}
SYNC_TIMEOUT=${ROOMWARDEN_GALERA_TIMEOUT:-120} # seconds, for each wait below
CLUSTER_NAME=roomwarden
DATABASE=roomwarden
NODES=(1 2 3)

MARIADBD=/usr/sbin/mariadbd
PROVIDER=/usr/lib/galera/libgalera_smm.so # from `dpkg -L galera-4`

# mariadbd refuses to run as root unless told to (user=root). As root, run the nodes as the
# package's `mysql` user instead: with user=root the rsync SST fails, because the joiner's
# rsync daemon, started by a root mariadbd, drops to uid nobody (rsyncd's default for a
# root daemon) and cannot write into the root-owned data directory ("mkdir ... failed:
# Permission denied", rsync code 23). As any other user, the nodes run as that user.
RUN_AS=''
[[ $EUID -eq 0 ]] && RUN_AS=mysql

# ---------------------------------------------------------------------------------------------
# Small helpers

say() { printf 'galera: %s\n' "$*"; }

die() {
    printf 'galera: error: %s\n' "$*" >&2
    exit 1
}

# die, with the tail of the node's error log.
die_node() {
    local n=$1
    shift
    printf 'galera: error: node %s: %s\n' "$n" "$*" >&2
    if [[ -f $(node_dir "$n")/error.log ]]; then
        printf -- '--- last lines of %s ---\n' "$(node_dir "$n")/error.log" >&2
        tail -n 25 "$(node_dir "$n")/error.log" >&2
    fi
    exit 1
}

node_dir() { printf '%s/node%s' "$BASE_DIR" "$1"; }
client_port() { printf '%s' "${CLIENT_PORTS[$(($1 - 1))]}"; }
gcomm_port() { printf '%s' $((GALERA_BASE_PORT + 10 * ($1 - 1))); }
ist_port() { printf '%s' $((GALERA_BASE_PORT + 1 + 10 * ($1 - 1))); }
sst_port() { printf '%s' $((GALERA_BASE_PORT + 2 + 10 * ($1 - 1))); }

check_node_arg() {
    [[ ${1:-} =~ ^[123]$ ]] || die "NODE must be 1, 2 or 3 (got '${1:-}')"
}

# The pid of the node's running mariadbd, or nothing (exit 1). Found by its command line
# rather than its pid file: the file outlives a kill -9, and is written only once the server
# has started (after an SST).
node_pid() {
    local pattern
    # shellcheck disable=SC2016 # the sed expression is literal
    pattern=$(printf '%s' "$MARIADBD --defaults-file=$(node_dir "$1")/my.cnf" | sed 's/[][\.*^$()+?{}|]/\\&/g')
    pgrep -o -f -- "^$pattern( |\$)"
}

node_running() { node_pid "$1" >/dev/null; }

running_count() {
    local n c=0
    for n in "${NODES[@]}"; do node_running "$n" && c=$((c + 1)); done
    printf '%s' "$c"
}

# Run SQL on a node over TCP, as root without password (what applications use).
sql() {
    local n=$1
    shift
    mariadb --no-defaults -h127.0.0.1 -P"$(client_port "$n")" -uroot \
        --connect-timeout=2 -N -B -e "$*"
}

wsrep_status() { # NODE VARIABLE
    sql "$1" "SHOW GLOBAL STATUS LIKE '$2'" 2>/dev/null | cut -f2
}

# ---------------------------------------------------------------------------------------------
# Steps

ensure_packages() {
    local missing=() pkg
    for pkg in mariadb-server mariadb-client galera-4 rsync; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' ||
            missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    [[ $EUID -eq 0 ]] || die "missing packages: ${missing[*]} (run as root, or apt-get install them)"
    say "installing ${missing[*]}"
    apt-get update -qq
    # The package's own service (port 3306) is not used: the cluster runs its own processes.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

check_prerequisites() {
    [[ -x $MARIADBD ]] || die "$MARIADBD not found (package mariadb-server)"
    [[ -f $PROVIDER ]] || die "$PROVIDER not found (package galera-4)"
    command -v rsync >/dev/null || die "rsync not found (package rsync)"
    ((${#CLIENT_PORTS[@]} == 3)) || die "ROOMWARDEN_GALERA_PORTS must list three ports"
}

# The gcomm:// address of the whole cluster: every node's replication port.
cluster_address() {
    local n addrs=()
    for n in "${NODES[@]}"; do addrs+=("127.0.0.1:$(gcomm_port "$n")"); done
    local IFS=,
    printf 'gcomm://%s' "${addrs[*]}"
}

# Fail early, with the port's number, when another process listens on one of our ports.
check_ports_free() {
    command -v ss >/dev/null || return 0
    local n port
    for n in "${NODES[@]}"; do
        for port in "$(client_port "$n")" "$(gcomm_port "$n")" "$(ist_port "$n")" "$(sst_port "$n")"; do
            [[ -z $(ss -Hltn "sport = :$port") ]] ||
                die "port $port (node $n) is already in use: $(ss -Hltnp "sport = :$port" | awk '{print $NF}')"
        done
    done
}

# The multi-host URL of the cluster (the server itself takes one host for now).
cluster_url() {
    local n hosts=()
    for n in "${NODES[@]}"; do hosts+=("127.0.0.1:$(client_port "$n")"); done
    local IFS=,
    printf 'mysql://root@%s/%s' "${hosts[*]}" "$DATABASE"
}

write_config() {
    local n=$1 dir user_line=''
    dir=$(node_dir "$n")
    mkdir -p "$dir/data"
    touch "$dir/error.log"
    if [[ -n $RUN_AS ]]; then
        user_line="user                           = $RUN_AS"
        chown -R "$RUN_AS:" "$dir"
    fi
    cat >"$dir/my.cnf" <<EOF
# Generated by tools/galera.sh for node $n: changes are overwritten at the next start.
[mysqld]
$user_line
datadir                        = $dir/data
socket                         = $dir/mariadbd.sock
pid-file                       = $dir/mariadbd.pid
log-error                      = $dir/error.log
port                           = $(client_port "$n")
bind-address                   = 127.0.0.1
# root@127.0.0.1 exists (mariadb-install-db --auth-root-authentication-method=normal);
# no reverse DNS lookups of clients.
skip-name-resolve
# Small, to fit three nodes beside everything else on a 2-core machine.
innodb_buffer_pool_size        = 64M
innodb_log_file_size           = 48M
performance_schema             = OFF
max_connections                = 200

# --- Galera requirements ---
# Galera replicates row images (write sets); statement or mixed format is not supported.
binlog_format                  = ROW
default_storage_engine         = InnoDB
# Interleaved auto-increment locking: no table-level AUTO-INC lock, which Galera's
# parallel appliers could otherwise deadlock on.
innodb_autoinc_lock_mode       = 2

wsrep_on                       = ON
wsrep_provider                 = $PROVIDER
wsrep_cluster_name             = $CLUSTER_NAME
wsrep_cluster_address          = $(cluster_address)
wsrep_node_name                = node$n
wsrep_node_address             = 127.0.0.1:$(gcomm_port "$n")
# What wsrep_incoming_addresses reports for this node (its client port).
wsrep_node_incoming_address    = 127.0.0.1:$(client_port "$n")
# Every listener on 127.0.0.1 and on its own port, so that three nodes share one host:
# gmcast.listen_addr = replication, ist.recv_addr = incremental state transfer (IST);
# a 64M gcache (ring buffer of recent write sets, from which IST is served).
wsrep_provider_options         = "gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(ist_port "$n");gcache.size=64M"
# Full state transfer (SST) by rsync: the donor's data files are copied into the joiner's
# datadir by an rsync daemon the joiner starts on this address.
wsrep_sst_method               = rsync
wsrep_sst_receive_address      = 127.0.0.1:$(sst_port "$n")
wsrep_slave_threads            = 2
# 0 (the default): reads are not delayed until the node has applied the cluster's latest
# write sets, so a read on one node may miss a write committed just before on another.
wsrep_sync_wait                = 0
EOF
}

# The Galera state file of a node: "uuid seqno safe_to_bootstrap", or nothing.
grastate() {
    local f
    f=$(node_dir "$1")/data/grastate.dat
    [[ -f $f ]] || return 0
    awk '/^uuid:/ {u=$2} /^seqno:/ {s=$2} /^safe_to_bootstrap:/ {b=$2} END {print u, s, b}' "$f"
}

# The last committed seqno of a stopped node: from grastate.dat after a clean shutdown, or
# recovered from InnoDB (mariadbd --wsrep-recover) after a crash (grastate says -1).
recovered_seqno() {
    local n=$1 uuid seqno safe dir pos
    read -r uuid seqno safe <<<"$(grastate "$n")"
    if [[ ${seqno:--1} != -1 ]]; then
        printf '%s' "$seqno"
        return
    fi
    dir=$(node_dir "$n")
    rm -f "$dir/recover.log"
    "$MARIADBD" --defaults-file="$dir/my.cnf" --wsrep-recover --log-error="$dir/recover.log" \
        >/dev/null 2>&1 || true
    pos=$(sed -n 's/.*WSREP: Recovered position: *//p' "$dir/recover.log" | tail -n 1)
    printf '%s' "${pos##*:}"
}

# Extra mariadbd options for a node that rejoins: after a kill -9, grastate.dat says seqno -1
# and the node would ask for a full SST (its local state counts as unknown). Recover the
# last committed position from InnoDB and hand it to the server with --wsrep-start-position,
# so that it asks for IST (only the missing write sets, from a donor's gcache) instead. This
# is what the Debian package's systemd unit does with galera_recovery.
START_ARGS=()
set_start_args() {
    local n=$1 uuid seqno safe
    START_ARGS=()
    read -r uuid seqno safe <<<"$(grastate "$n")"
    [[ -n ${uuid:-} && $uuid != 00000000-0000-0000-0000-000000000000 && ${seqno:--1} == -1 ]] || return 0
    seqno=$(recovered_seqno "$n")
    if [[ $seqno =~ ^[0-9]+$ ]]; then
        START_ARGS=("--wsrep-start-position=$uuid:$seqno")
        say "node $n: recovered position $uuid:$seqno"
    fi
}

# Which node to bootstrap: the one that shut down last (safe_to_bootstrap: 1), else the one
# with the highest recovered seqno, else node 1 (fresh cluster).
pick_bootstrap_node() {
    local n uuid seqno safe best=1 best_seqno=-2
    for n in "${NODES[@]}"; do
        read -r uuid seqno safe <<<"$(grastate "$n")"
        if [[ ${safe:-0} == 1 ]]; then
            printf '%s' "$n"
            return
        fi
    done
    for n in "${NODES[@]}"; do
        [[ -f $(node_dir "$n")/data/grastate.dat ]] || continue
        seqno=$(recovered_seqno "$n")
        if [[ $seqno =~ ^-?[0-9]+$ ]] && ((seqno > best_seqno)); then
            best=$n
            best_seqno=$seqno
        fi
    done
    printf '%s' "$best"
}

# A fresh data directory for the bootstrap node: system tables, and root without password
# reachable from 127.0.0.1. The joiners get theirs by SST.
init_datadir() {
    local n=$1 dir
    dir=$(node_dir "$n")
    say "node $n: initialising $dir/data"
    mariadb-install-db --defaults-file="$dir/my.cnf" ${RUN_AS:+--user="$RUN_AS"} \
        --auth-root-authentication-method=normal \
        --skip-test-db >"$dir/install.log" 2>&1 ||
        { tail -n 25 "$dir/install.log" >&2; die "node $n: mariadb-install-db failed"; }
}

# Start mariadbd in the background, detached from this shell (it survives the script).
launch() {
    local n=$1 dir
    shift
    dir=$(node_dir "$n")
    # setsid: its own session, so a Ctrl-C in this terminal does not reach it.
    setsid "$MARIADBD" --defaults-file="$dir/my.cnf" "$@" </dev/null >>"$dir/error.log" 2>&1 &
    disown # no "Aborted" job notice from bash when a node dies; wait_synced reports it
    sleep 0.5 # let setsid exec mariadbd, so that node_pid finds it
}

# Wait until the node accepts connections and reports Synced; die with its log if it exits.
wait_synced() {
    local n=$1 deadline state
    deadline=$((SECONDS + SYNC_TIMEOUT))
    while ((SECONDS < deadline)); do
        state=$(wsrep_status "$n" wsrep_local_state_comment || true)
        [[ $state == Synced ]] && return 0
        node_running "$n" || die_node "$n" "mariadbd exited"
        sleep 1
    done
    die_node "$n" "not Synced after ${SYNC_TIMEOUT}s (state: ${state:-no answer})"
}

wait_cluster_size() {
    local want=$1 deadline n size
    deadline=$((SECONDS + SYNC_TIMEOUT))
    while ((SECONDS < deadline)); do
        local ok=1
        for n in "${NODES[@]}"; do
            node_running "$n" || continue
            size=$(wsrep_status "$n" wsrep_cluster_size || true)
            [[ $size == "$want" ]] || ok=0
        done
        ((ok)) && return 0
        sleep 1
    done
    die "cluster size is not $want after ${SYNC_TIMEOUT}s"
}

start_node() { # NODE [mariadbd options]
    local n=$1 t0=$SECONDS log offset transfer
    shift
    write_config "$n"
    log=$(node_dir "$n")/error.log
    offset=$(stat -c %s "$log")
    launch "$n" "$@"
    wait_synced "$n"
    # How this start got its state, from the rsync SST script's lines in this start's log:
    # "rsync IST completed on joiner" (write sets from a donor's gcache) or "rsync SST
    # completed on joiner" (full copy of the donor's datadir); neither when bootstrapping.
    transfer=$(tail -c +"$((offset + 1))" "$log" |
        sed -n 's/.*rsync \(IST\|SST\) completed on joiner.*/, by \1/p' | tail -n 1)
    say "node $n: Synced on 127.0.0.1:$(client_port "$n") ($((SECONDS - t0)) s$transfer)"
}

# ---------------------------------------------------------------------------------------------
# Subcommands

cmd_start() {
    local t0=$SECONDS n first
    ensure_packages
    check_prerequisites
    if [[ ${ROOMWARDEN_GALERA_FRESH:-0} == 1 ]]; then
        cmd_stop
        rm -rf "$BASE_DIR"
    fi
    case $(running_count) in
    0) ;;
    3)
        say "already running"
        cmd_status
        say "URL: $(cluster_url)"
        return 0
        ;;
    *) die "some nodes are running and some not: use restart NODE, or stop first" ;;
    esac
    check_ports_free
    mkdir -p "$BASE_DIR"
    for n in "${NODES[@]}"; do write_config "$n"; done

    if [[ -f $(node_dir 1)/data/grastate.dat || -f $(node_dir 2)/data/grastate.dat ||
        -f $(node_dir 3)/data/grastate.dat ]]; then
        first=$(pick_bootstrap_node)
        say "existing data in $BASE_DIR: bootstrapping from node $first (most advanced)"
        # A node only bootstraps when marked safe to (Galera's guard against bootstrapping a
        # stale node); this one was chosen as the most advanced, so mark it.
        sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$(node_dir "$first")/data/grastate.dat"
    else
        first=1
        init_datadir 1
    fi

    # A crashed bootstrap node also needs its recovered position: without it the new
    # cluster starts a new history (new UUID), and every joiner then needs a full SST.
    set_start_args "$first"
    say "node $first: bootstrapping a new cluster (--wsrep-new-cluster)"
    start_node "$first" --wsrep-new-cluster "${START_ARGS[@]}"
    sql "$first" "CREATE DATABASE IF NOT EXISTS \`$DATABASE\`" ||
        die_node "$first" "cannot create database $DATABASE"
    for n in "${NODES[@]}"; do
        [[ $n == "$first" ]] && continue
        set_start_args "$n"
        say "node $n: joining"
        start_node "$n" "${START_ARGS[@]}"
    done
    wait_cluster_size 3
    say "cluster of 3 Synced in $((SECONDS - t0)) s"
    say "URL: $(cluster_url)"
}

# Shut down the running nodes one after another (node 3 first), so the last one (the lowest
# running) is marked safe_to_bootstrap.
cmd_stop() {
    local n pid deadline
    for n in 3 2 1; do
        pid=$(node_pid "$n") || continue
        say "node $n: shutting down (pid $pid)"
        mariadb-admin --no-defaults -h127.0.0.1 -P"$(client_port "$n")" -uroot \
            --connect-timeout=5 shutdown >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + 60))
        while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.5; done
        if kill -0 "$pid" 2>/dev/null; then
            say "node $n: still running after 60 s, killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    # The rsync daemon of an interrupted SST would otherwise outlive its node.
    pkill_sst
    say "stopped"
}

# Kill rsync daemons started for this cluster's SSTs (matched by their config path).
pkill_sst() {
    local pid
    for pid in $(pgrep -x rsync 2>/dev/null || true); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$BASE_DIR/" && kill "$pid" 2>/dev/null || true
    done
}

cmd_status() {
    local n pid state size
    for n in "${NODES[@]}"; do
        if pid=$(node_pid "$n"); then
            state=$(wsrep_status "$n" wsrep_local_state_comment || true)
            size=$(wsrep_status "$n" wsrep_cluster_size || true)
            say "node $n: 127.0.0.1:$(client_port "$n") pid $pid, ${state:-no answer}, cluster size ${size:-?}"
        else
            say "node $n: 127.0.0.1:$(client_port "$n") not running"
        fi
    done
}

cmd_kill() {
    local n=$1 pid
    check_node_arg "$n"
    pid=$(node_pid "$n") || die "node $n is not running"
    kill -KILL "$pid"
    say "node $n: killed (pid $pid)"
}

cmd_restart() {
    local n=$1 t0=$SECONDS other m
    check_node_arg "$n"
    node_running "$n" && die "node $n is running (pid $(node_pid "$n"))"
    other=''
    for m in "${NODES[@]}"; do node_running "$m" && { other=$m; break; }; done
    [[ -n $other ]] || die "no node is running: use start"
    write_config "$n"
    set_start_args "$n"
    say "node $n: rejoining the cluster"
    start_node "$n" "${START_ARGS[@]}"
    # Every running node sees it (another node may still be down).
    wait_cluster_size "$(running_count)"
    say "node $n: rejoined in $((SECONDS - t0)) s"
}

cmd_reset() {
    cmd_stop
    rm -rf "$BASE_DIR"
    say "removed $BASE_DIR"
}

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
kill) cmd_kill "${2:-}" ;;
restart) cmd_restart "${2:-}" ;;
reset) cmd_reset ;;
*) usage ;;
esac
