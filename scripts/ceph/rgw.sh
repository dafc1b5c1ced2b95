#!/usr/bin/env bash
# Stops or starts only radosgw of the test cluster, for fault tests (S3 gone in the middle of a backup).
#   stop           SIGTERM, SIGKILL after 5 s; returns when the process is gone and the port refuses
#   kill           SIGKILL at once (a crash); same wait
#   start          starts radosgw; returns when it answers HTTP (at most 60 s)
#   restart        stop, then start
#   status         exit 0 when radosgw answers, 1 otherwise
# Options (after the action):
#   --instance NAME   act on a further radosgw of the same cluster, client.rgw.NAME (own pid file, log,
#                     cephx key and port; same pools and S3 user, so the same credentials work), never on
#                     the main one. Fault tests stop their own instance so that other tests keep theirs.
#   --port PORT       the instance's port (needed on its first start; remembered for later calls)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

usage() { echo "usage: $0 stop|kill|start|restart|status [--instance NAME [--port PORT]]" >&2; exit 2; }
action="${1:-}"
[ $# -gt 0 ] && shift
instance='' port=''
while [ $# -gt 0 ]; do
  case "$1" in
    --instance) [ $# -ge 2 ] || usage; instance="$2"; shift 2 ;;
    --port) [ $# -ge 2 ] || usage; port="$2"; shift 2 ;;
    *) usage ;;
  esac
done
[ -z "$port" ] || [ -n "$instance" ] || fail "--port is for --instance; the main radosgw's port is DBP_CEPH_RGW_PORT"

[ "$action" = status ] || take_lock 180
[ -f "$CEPH_DIR/ready" ] || fail "no running dbp test cluster in $CEPH_DIR (run scripts/ceph/start.sh)"
[ -z "$instance" ] || select_rgw_instance "$instance" "$port"

wait_port_closed() {
  local i
  for ((i = 0; i < 50; i++)); do
    rgw_answers || return 0
    sleep 0.1
  done
  fail "127.0.0.1:$RGW_PORT still answers after radosgw stopped"
}

case "$action" in
  stop) stop_daemon "$RGW_NAME" 5; wait_port_closed ;;
  kill) stop_daemon "$RGW_NAME" 0; wait_port_closed ;;
  start) start_rgw 60 ;;
  restart) stop_daemon "$RGW_NAME" 5; wait_port_closed; start_rgw 60 ;;
  status) daemon_running "$RGW_NAME" && rgw_answers ;;
  *) usage ;;
esac
