#!/usr/bin/env bash
# Starts a single-node Ceph test cluster (one mon, one mgr, one BlueStore OSD on a sparse file, radosgw)
# from Debian's packages, without cephadm, containers or systemd. Everything listens on 127.0.0.1.
#
# Idempotent: when the cluster under $DBP_CEPH_DIR (default /tmp/dbp-ceph) is already up and healthy it
# prints its facts and exits 0 (restarting only radosgw if that alone is down); otherwise it wipes that
# directory and builds the cluster from nothing. Every wait is bounded: a step that does not come up fails
# with the tail of its log.
#
# Environment: DBP_CEPH_DIR, DBP_CEPH_RGW_PORT (7480), DBP_CEPH_MON_PORT (3300), DBP_CEPH_MON_V1_PORT (6789),
# DBP_CEPH_OSD_SIZE (20G, sparse).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

OSD_SIZE="${DBP_CEPH_OSD_SIZE:-20G}"
# Loopback-only test credentials, fixed so that tests and docs can name them.
ACCESS_KEY=DBPTESTACCESSKEY0001
SECRET_KEY=dbpTestSecretKeyLoopbackOnly000000000000
S3_USER=dbp-test
RGW_POOLS=(.rgw.root default.rgw.control default.rgw.meta default.rgw.log
  default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec)

started_at=$(date +%s.%N)
mkdir -p "$(dirname "$CEPH_DIR")"
take_lock 180

for tool in ceph ceph-mon ceph-mgr ceph-osd radosgw radosgw-admin monmaptool ceph-authtool rbd curl uuidgen numfmt; do
  command -v "$tool" >/dev/null ||
    fail "$tool not found; install: apt-get install -y ceph-mon ceph-mgr ceph-osd radosgw ceph-common curl"
done
for port in "$MON_V2_PORT" "$MON_V1_PORT" "$RGW_PORT"; do
  [[ "$port" =~ ^[0-9]{1,5}$ ]] && ((port >= 1 && port <= 65535)) ||
    fail "ports must be numbers from 1 to 65535 (DBP_CEPH_MON_PORT, DBP_CEPH_MON_V1_PORT, DBP_CEPH_RGW_PORT), got '$port'"
done
osd_bytes=$(numfmt --from=iec "$OSD_SIZE" 2>/dev/null) && ((osd_bytes >= 5 * 1024 ** 3)) ||
  fail "DBP_CEPH_OSD_SIZE must be a size of at least 5G, like 20G (a sparse file), got '$OSD_SIZE'"
[ "$(id -u)" -eq 0 ] || fail "run as root (the daemons open a block file and bind ports without setuser)"

elapsed() { awk -v a="$started_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

write_env() {
  cat >"$CEPH_DIR/env" <<EOF
# The dbp test cluster (scripts/ceph/start.sh). Loopback-only test credentials.
export AWS_ACCESS_KEY_ID=$ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$SECRET_KEY
export AWS_REGION=us-east-1
export DBP_TEST_S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
export CEPH_CONF=$CONF
export DBP_CEPH_DIR=$CEPH_DIR
export DBP_CEPH_RGW_PORT=$RGW_PORT
EOF
}

print_facts() {
  local name pid rss total=0 took
  took=$(elapsed)
  say "cluster $(awk '/^fsid/ { print $3 }' "$CONF") in $CEPH_DIR"
  say "health: $(cceph health 2>&1 | head -n 1)"
  for name in "$MON_NAME" "$MGR_NAME" "$OSD_NAME" "$RGW_NAME"; do
    pid=$(daemon_pid "$name") || pid=
    rss=0
    [ -n "$pid" ] && rss=$(awk '/^VmRSS/ { print int($2 / 1024) }' "/proc/$pid/status")
    total=$((total + rss))
    printf '[dbp-ceph]   %-16s pid %-7s %5s MiB  log %s\n' "$name" "${pid:-none}" "$rss" "$(log_file "$name")"
  done
  say "memory (RSS of the four daemons): $total MiB"
  say "mon 127.0.0.1:$MON_V2_PORT (v2) / :$MON_V1_PORT (v1); S3 http://127.0.0.1:$RGW_PORT; rbd pool: rbd"
  say "S3 user $S3_USER: access key $ACCESS_KEY (secret in $CEPH_DIR/env)"
  say "use it:  source $CEPH_DIR/env"
  say "ready in ${took}s"
}

# True when the S3 user's keys work: a signed ListBuckets answers 200.
s3_user_answers() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --aws-sigv4 'aws:amz:us-east-1:s3' \
    --user "$ACCESS_KEY:$SECRET_KEY" -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' \
    "http://127.0.0.1:$RGW_PORT/")" = 200 ]
}

wait_s3_user() {
  local i
  for ((i = 0; i < 20; i++)); do
    s3_user_answers && return 0
    sleep 0.5
  done
  fail "radosgw answers, but a signed request with the test user's keys is not accepted" "$(log_file "$RGW_NAME")"
}

# --- Already up? -------------------------------------------------------------------------------------------
core_up() {
  [ -f "$MARKER" ] && [ -f "$CEPH_DIR/ready" ] || return 1
  daemon_running "$MON_NAME" && daemon_running "$MGR_NAME" && daemon_running "$OSD_NAME" || return 1
  cceph health 2>/dev/null | grep -qE '^HEALTH_(OK|WARN)' || return 1
  cceph osd dump 2>/dev/null | grep -qE '^osd\.0 up'
}

if core_up; then
  if ! daemon_running "$RGW_NAME" || ! rgw_answers; then
    say "cluster up, radosgw down: starting radosgw"
    start_rgw 60
  fi
  wait_s3_user
  write_env
  say "already running"
  print_facts
  exit 0
fi

# --- From nothing ------------------------------------------------------------------------------------------
if [ -d "$CEPH_DIR" ] && [ -n "$(ls -A "$CEPH_DIR")" ] && [ ! -f "$MARKER" ]; then
  fail "$CEPH_DIR exists, is not empty and is not a dbp test cluster; choose another DBP_CEPH_DIR"
fi
if [ -f "$MARKER" ]; then
  say "a stopped or unhealthy cluster is in $CEPH_DIR: stopping its daemons and starting again from nothing"
  for name in $(other_rgw_names) "$RGW_NAME" "$OSD_NAME" "$MGR_NAME" "$MON_NAME"; do stop_daemon "$name" 10; done
  rm -rf "$CEPH_DIR"
fi
for port in "$MON_V2_PORT" "$MON_V1_PORT" "$RGW_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    fail "port $port on this machine is taken (another cluster? see ss -ltnp); stop it or choose other ports"
  fi
done

# A start that fails stops what it started (the directory stays, for its logs); the next start begins anew.
on_exit() {
  local status=$? name
  [ "$status" -eq 0 ] && return
  [ -n "${pools_job:-}" ] && kill "$pools_job" 2>/dev/null
  for name in "$RGW_NAME" "$OSD_NAME" "$MGR_NAME" "$MON_NAME"; do stop_daemon "$name" 5 >/dev/null 2>&1; done
  say "start failed after $(elapsed)s; its daemons are stopped, its logs are in $LOG_DIR" >&2
}
trap on_exit EXIT

mkdir -p "$CEPH_DIR" "$RUN_DIR" "$LOG_DIR" "$CEPH_DIR/mon/ceph-a" "$CEPH_DIR/mgr/ceph-x" "$CEPH_DIR/osd/ceph-0" \
  "$CEPH_DIR/rgw"
touch "$MARKER"
fsid=$(uuidgen)

# Logs and admin sockets are set per daemon section: in [global] every CLI call would share them.
cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon_host = [v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
ms_bind_ipv6 = false
run_dir = $RUN_DIR
keyring = $CEPH_DIR/ceph.client.admin.keyring
auth_allow_insecure_global_id_reclaim = false
# One OSD: single-copy pools, the default CRUSH rule picks OSDs not hosts, few PGs, no autoscaler.
osd_pool_default_size = 1
osd_pool_default_min_size = 1
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_delete = true
# Fast start: the mon commits proposals every 0.1 s (default 1 s), the mgr reports PG states every second.
paxos_propose_interval = 0.1
mgr_stats_period = 1
mon_mgr_beacon_grace = 30
# The mon enables these in a new cluster (default: restful iostat nfs); the always-on modules still load.
mgr_initial_modules = iostat

[mon]
mon_data = $CEPH_DIR/mon/ceph-\$id
keyring = $CEPH_DIR/mon/ceph-\$id/keyring
log_file = $LOG_DIR/\$name.log
admin_socket = $RUN_DIR/\$name.asok
pid_file = $RUN_DIR/\$name.pid
mon_data_avail_warn = 5
mon_data_avail_crit = 2

[mgr]
mgr_data = $CEPH_DIR/mgr/ceph-\$id
keyring = $CEPH_DIR/mgr/ceph-\$id/keyring
log_file = $LOG_DIR/\$name.log
admin_socket = $RUN_DIR/\$name.asok
pid_file = $RUN_DIR/\$name.pid

[osd]
osd_data = $CEPH_DIR/osd/ceph-\$id
keyring = $CEPH_DIR/osd/ceph-\$id/keyring
log_file = $LOG_DIR/\$name.log
admin_socket = $RUN_DIR/\$name.asok
pid_file = $RUN_DIR/\$name.pid
osd_objectstore = bluestore
# BlueStore straight on a sparse file: no loop device, no LVM.
bluestore_block_path = $CEPH_DIR/osd/ceph-\$id/block.file
bluestore_block_create = true
bluestore_block_size = $osd_bytes
osd_memory_target = 1073741824
osd_crush_update_on_start = true

[$RGW_NAME]
keyring = $CEPH_DIR/rgw/keyring
log_file = $LOG_DIR/\$name.log
admin_socket = $RUN_DIR/\$name.asok
pid_file = $RUN_DIR/\$name.pid
rgw_data = $CEPH_DIR/rgw
rgw_frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw_thread_pool_size = 128
# Lifecycle workers sleep 5 s at a time on a lock a killed radosgw left behind, and shutdown waits for them;
# the tests use no lifecycle rules, so without them a SIGTERM'd radosgw is gone in 1-3 s rather than 5+.
rgw_enable_lc_threads = false
EOF

# --- mon ---------------------------------------------------------------------------------------------------
say "mon: creating"
ceph-authtool --create-keyring "$CEPH_DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$CEPH_DIR/ceph.client.admin.keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$CEPH_DIR/mon.keyring" --import-keyring "$CEPH_DIR/ceph.client.admin.keyring" >/dev/null
monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_V2_PORT,v1:127.0.0.1:$MON_V1_PORT]" \
  "$CEPH_DIR/monmap" >/dev/null
ceph-mon -c "$CONF" --mkfs -i a --monmap "$CEPH_DIR/monmap" --keyring "$CEPH_DIR/mon.keyring" \
  >"$LOG_DIR/mon-mkfs.log" 2>&1 || fail "ceph-mon --mkfs failed" "$LOG_DIR/mon-mkfs.log"
ceph-mon -c "$CONF" -i a 9>&- </dev/null >>"$LOG_DIR/mon.a.out" 2>&1 || fail "ceph-mon did not start" "$(log_file "$MON_NAME")"
# A daemon writes its pid file once it has forked, so "exited" is judged only after a 2 s grace.
deadline=$((SECONDS + 60)) grace=$((SECONDS + 2))
until cceph mon stat >/dev/null 2>&1; do
  ((SECONDS < deadline)) || fail "the mon did not answer within 60 s" "$(log_file "$MON_NAME")"
  daemon_running "$MON_NAME" || ((SECONDS < grace)) || fail "ceph-mon exited" "$(log_file "$MON_NAME")"
  sleep 0.5
done
say "mon: up ($(elapsed)s)"

# --- mgr (before the OSD, so that PG states are reported as soon as the OSD boots) --------------------------
cceph auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
  -o "$CEPH_DIR/mgr/ceph-x/keyring" >/dev/null
ceph-mgr -c "$CONF" -i x 9>&- </dev/null >>"$LOG_DIR/mgr.x.out" 2>&1 || fail "ceph-mgr did not start" "$(log_file "$MGR_NAME")"

# --- pools, in the background while the OSD is made (their PGs come up with it) -----------------------------
# One ceph CLI process reads all the commands from stdin: a process per command costs ~0.5 s each.
{
  for pool in "${RGW_POOLS[@]}" rbd; do echo "osd pool create $pool 8 8"; done
  for pool in "${RGW_POOLS[@]}"; do echo "osd pool application enable $pool rgw"; done
  echo "osd pool application enable rbd rbd"
} >"$CEPH_DIR/pools.commands"
# A simple command, so that $! is timeout itself: killing it (on failure) also ends the ceph CLI.
timeout -k 5 60 ceph -c "$CONF" --connect-timeout 15 9>&- <"$CEPH_DIR/pools.commands" >"$LOG_DIR/pools.log" 2>&1 &
pools_job=$!

# --- osd ---------------------------------------------------------------------------------------------------
say "osd: creating BlueStore on a sparse $OSD_SIZE file"
osd_uuid=$(uuidgen)
osd_secret=$(ceph-authtool --gen-print-key)
osd_id=$(echo "{\"cephx_secret\": \"$osd_secret\"}" | cceph osd new "$osd_uuid" -i -) ||
  fail "ceph osd new failed"
[ "$osd_id" = 0 ] || fail "expected osd id 0, got '$osd_id'"
ceph-authtool --create-keyring "$CEPH_DIR/osd/ceph-0/keyring" --name osd.0 --add-key "$osd_secret" >/dev/null
ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$LOG_DIR/osd-mkfs.log" 2>&1 ||
  fail "ceph-osd --mkfs failed" "$LOG_DIR/osd-mkfs.log"
ceph-osd -c "$CONF" -i 0 9>&- </dev/null >>"$LOG_DIR/osd.0.out" 2>&1 || fail "ceph-osd did not start" "$(log_file "$OSD_NAME")"

wait "$pools_job" || fail "could not create the pools" "$LOG_DIR/pools.log"
pools=$(cceph osd pool ls)
for pool in "${RGW_POOLS[@]}" rbd; do
  grep -qxF "$pool" <<<"$pools" || fail "pool $pool was not created" "$LOG_DIR/pools.log"
done
say "pools: created ($(elapsed)s)"

# --- rgw keyring and S3 user while the PGs peer -------------------------------------------------------------
cceph auth get-or-create "$RGW_NAME" mon 'allow rw' osd 'allow rwx' mgr 'allow rw' \
  -o "$CEPH_DIR/rgw/keyring" >/dev/null

pgs_clean() { cceph pg stat 2>/dev/null | grep -qE '^([0-9]+) pgs: \1 active\+clean;'; }
deadline=$((SECONDS + 90)) grace=$((SECONDS + 2))
until pgs_clean; do
  ((SECONDS < deadline)) || fail "PGs not active+clean within 90 s: $(cceph pg stat 2>&1)" "$(log_file "$OSD_NAME")"
  daemon_running "$OSD_NAME" || ((SECONDS < grace)) || fail "ceph-osd exited" "$(log_file "$OSD_NAME")"
  sleep 0.5
done
say "osd: up, PGs active+clean ($(elapsed)s)"
timeout -k 5 30 rbd -c "$CONF" pool init rbd >/dev/null 2>&1 || fail "rbd pool init failed"

timeout -k 5 60 radosgw-admin -c "$CONF" user create --uid="$S3_USER" --display-name="dbp tests" \
  --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >"$LOG_DIR/user-create.log" 2>&1 ||
  fail "radosgw-admin user create failed" "$LOG_DIR/user-create.log"

# --- radosgw -----------------------------------------------------------------------------------------------
start_rgw 60
wait_s3_user
say "radosgw: answering on 127.0.0.1:$RGW_PORT, the S3 user's keys work ($(elapsed)s)"

write_env
touch "$CEPH_DIR/ready"
print_facts
