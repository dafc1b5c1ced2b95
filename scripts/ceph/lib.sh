# Shared by start.sh, stop.sh and rgw.sh: where the test cluster lives and how to tell a daemon is ours.
# Sourced, not run.

CEPH_DIR="${DBP_CEPH_DIR:-/tmp/dbp-ceph}"
RGW_PORT="${DBP_CEPH_RGW_PORT:-7480}"
MON_V2_PORT="${DBP_CEPH_MON_PORT:-3300}"
MON_V1_PORT="${DBP_CEPH_MON_V1_PORT:-6789}"
CONF="$CEPH_DIR/ceph.conf"
RUN_DIR="$CEPH_DIR/run"
LOG_DIR="$CEPH_DIR/log"
# The file that says "this directory is a dbp test cluster", so that a purge never wipes anything else.
MARKER="$CEPH_DIR/.dbp-ceph"

# Daemon names as Ceph spells them; each writes $RUN_DIR/<name>.pid and logs to $LOG_DIR/<name>.log.
MON_NAME=mon.a
MGR_NAME=mgr.x
OSD_NAME=osd.0
RGW_NAME=client.rgw.dbp
# The main radosgw's name; further instances (rgw.sh --instance) are client.rgw.<instance>.
MAIN_RGW_NAME=$RGW_NAME
# Extra radosgw arguments of the selected instance (select_rgw_instance); none for the main one, whose
# settings are its section of ceph.conf.
RGW_ARGS=()

# One script at a time per cluster (two starts at once would wipe each other's daemons). The lock is fd 9,
# which every daemon is started without (9>&-), or it would hold the lock for its whole life.
LOCK_FILE="${CEPH_DIR%/}.lock"
take_lock() {
  exec 9>"$LOCK_FILE"
  flock -w "${1:-180}" 9 || fail "another scripts/ceph command holds $LOCK_FILE for more than ${1:-180}s"
}

say() { printf '[dbp-ceph] %s\n' "$*"; }
fail() {
  printf '[dbp-ceph] ERROR: %s\n' "$1" >&2
  if [ -n "${2:-}" ] && [ -f "$2" ]; then
    # Ceph logs errors at level -1; after a crash the tail is only a stack trace, so show those lines too.
    if grep -qE '^[0-9TZ:.+-]+ [0-9a-f]+ -1 ' "$2"; then
      printf '[dbp-ceph] last errors in %s:\n' "$2" >&2
      grep -E '^[0-9TZ:.+-]+ [0-9a-f]+ -1 ' "$2" | tail -n 6 >&2
    fi
    printf '[dbp-ceph] last lines of %s:\n' "$2" >&2
    tail -n 15 "$2" >&2
  fi
  exit 1
}

# The executable a daemon name runs as (what /proc/<pid>/comm reads).
daemon_comm() {
  case "$1" in
    mon.*) echo ceph-mon ;;
    mgr.*) echo ceph-mgr ;;
    osd.*) echo ceph-osd ;;
    client.rgw.*) echo radosgw ;;
    *) return 1 ;;
  esac
}

pid_file() { echo "$RUN_DIR/$1.pid"; }
log_file() { echo "$LOG_DIR/$1.log"; }

# True while a process exists and is not a zombie (a zombie whose parent never reaps it has stopped all the same).
process_alive() { [ -d "/proc/$1" ] && ! grep -qE '^State:[[:space:]]+Z' "/proc/$1/status" 2>/dev/null; }

# The pid of a running daemon of ours, or nothing. A stale pid file (pid reused by another program) does not count.
daemon_pid() {
  local file pid comm
  file=$(pid_file "$1")
  [ -s "$file" ] || return 1
  pid=$(tr -dc '0-9' <"$file")
  [ -n "$pid" ] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [ "$comm" = "$(daemon_comm "$1")" ] && process_alive "$pid" || return 1
  echo "$pid"
}

daemon_running() { daemon_pid "$1" >/dev/null; }


# Stops one daemon: SIGTERM, then SIGKILL after $2 seconds (default 10; 0: SIGKILL at once, a crash).
# Waits until the process is gone.
stop_daemon() {
  local name="$1" grace="${2:-10}" pid i
  pid=$(daemon_pid "$name") || { rm -f "$(pid_file "$name")"; return 0; }
  if ((grace > 0)); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
      process_alive "$pid" || break
      sleep 0.1
    done
    process_alive "$pid" && say "$name (pid $pid) did not stop in ${grace}s: SIGKILL"
  fi
  if process_alive "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      process_alive "$pid" || break
      sleep 0.1
    done
  fi
  process_alive "$pid" && fail "$name (pid $pid) survived SIGKILL"
  rm -f "$(pid_file "$name")"
}

# The ceph CLI on this cluster, never waiting long: a mon that does not answer is an error, not a hang.
cceph() { timeout -k 5 30 ceph -c "$CONF" --connect-timeout 15 "$@"; }

# True when radosgw answers HTTP on its port (any status: an anonymous GET / answers 200 with a bucket list).
rgw_answers() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$RGW_PORT/"; }

# Selects a further radosgw instance of this cluster (rgw.sh --instance NAME [--port PORT]): its own daemon
# name client.rgw.NAME, cephx key, pid file, log, admin socket and port, on the same pools, zone and S3 user,
# so the same credentials work. Its settings are given on the command line (ceph.conf has a section only for
# the main instance); its port is remembered in $RUN_DIR/client.rgw.NAME.port for stop and status.
select_rgw_instance() {
  local instance="$1" port="${2:-}"
  [[ "$instance" =~ ^[a-z0-9]+$ ]] || fail "an instance name is lower-case letters and digits, not '$instance'"
  if [ "client.rgw.$instance" = "$MAIN_RGW_NAME" ]; then
    [ -z "$port" ] || [ "$port" = "$RGW_PORT" ] || fail "the main radosgw listens on $RGW_PORT, not $port"
    return 0
  fi
  RGW_NAME="client.rgw.$instance"
  local port_file="$RUN_DIR/$RGW_NAME.port"
  if [ -z "$port" ] && [ -s "$port_file" ]; then port=$(tr -dc '0-9' <"$port_file"); fi
  [ -n "$port" ] || fail "radosgw instance '$instance' has no port yet: start it with --port PORT"
  [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || fail "not a port: '$port'"
  [ "$port" != "$(main_rgw_port)" ] || fail "port $port is the main radosgw's"
  RGW_PORT=$port
  local data="$CEPH_DIR/rgw-$instance"
  RGW_ARGS=(
    --keyring="$data/keyring" --rgw_data="$data"
    --pid_file="$(pid_file "$RGW_NAME")" --log_file="$(log_file "$RGW_NAME")" --admin_socket="$RUN_DIR/$RGW_NAME.asok"
    "--rgw_frontends=beast endpoint=127.0.0.1:$RGW_PORT" --rgw_thread_pool_size=32 --rgw_enable_lc_threads=false
  )
}

# The main radosgw's port (from the environment, like RGW_PORT before an instance is selected).
main_rgw_port() { echo "${DBP_CEPH_RGW_PORT:-7480}"; }

# Makes the selected instance's cephx key (once) and remembers its port; nothing for the main instance.
prepare_rgw_instance() {
  [ "$RGW_NAME" != "$MAIN_RGW_NAME" ] || return 0
  local data="$CEPH_DIR/rgw-${RGW_NAME#client.rgw.}"
  mkdir -p "$data"
  if [ ! -s "$data/keyring" ]; then
    cceph auth get-or-create "$RGW_NAME" mon 'allow rw' osd 'allow rwx' mgr 'allow rw' -o "$data/keyring" >/dev/null ||
      fail "could not make a cephx key for $RGW_NAME"
  fi
  echo "$RGW_PORT" >"$RUN_DIR/$RGW_NAME.port"
}

# The names of the further radosgw instances that have a pid file (running or not).
other_rgw_names() {
  local file name
  for file in "$RUN_DIR"/client.rgw.*.pid; do
    [ -e "$file" ] || continue
    name=$(basename "$file" .pid)
    [ "$name" = "$MAIN_RGW_NAME" ] || echo "$name"
  done
}

# Starts radosgw (the pools and its keyring exist) and waits until it answers HTTP, at most $1 seconds.
start_rgw() {
  local limit="${1:-60}" deadline
  daemon_running "$RGW_NAME" && rgw_answers && return 0
  stop_daemon "$RGW_NAME" 5
  if rgw_answers; then
    fail "something else answers on 127.0.0.1:$RGW_PORT; set DBP_CEPH_RGW_PORT to a free port"
  fi
  prepare_rgw_instance
  radosgw -c "$CONF" -n "$RGW_NAME" "${RGW_ARGS[@]}" 9>&- </dev/null >>"$LOG_DIR/$RGW_NAME.out" 2>&1 ||
    fail "radosgw did not start" "$(log_file "$RGW_NAME")"
  # radosgw daemonizes: its pid file appears only once the child runs, so "exited" is judged after 2 s.
  local grace=$((SECONDS + 2))
  deadline=$((SECONDS + limit))
  while ((SECONDS < deadline)); do
    rgw_answers && return 0
    if ((SECONDS >= grace)) && ! daemon_running "$RGW_NAME"; then
      fail "radosgw exited while starting" "$(log_file "$RGW_NAME")"
    fi
    sleep 0.1
  done
  fail "radosgw did not answer on 127.0.0.1:$RGW_PORT within ${limit}s" "$(log_file "$RGW_NAME")"
}
