#!/usr/bin/env bash
# Stops or starts only radosgw of the test cluster, for fault tests (S3 gone in the middle of a backup).
#   stop           SIGTERM, SIGKILL after 5 s; returns when the process is gone and the port refuses
#   kill           SIGKILL at once (a crash); same wait
#   start          starts radosgw; returns when it answers HTTP (at most 60 s)
#   restart        stop, then start
#   status         exit 0 when radosgw answers, 1 otherwise
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ "${1:-}" = status ] || take_lock 180
[ -f "$CEPH_DIR/ready" ] || fail "no running dbp test cluster in $CEPH_DIR (run scripts/ceph/start.sh)"

wait_port_closed() {
  local i
  for ((i = 0; i < 50; i++)); do
    rgw_answers || return 0
    sleep 0.1
  done
  fail "127.0.0.1:$RGW_PORT still answers after radosgw stopped"
}

case "${1:-}" in
  stop) stop_daemon "$RGW_NAME" 5; wait_port_closed ;;
  kill) stop_daemon "$RGW_NAME" 0; wait_port_closed ;;
  start) start_rgw 60 ;;
  restart) stop_daemon "$RGW_NAME" 5; wait_port_closed; start_rgw 60 ;;
  status) rgw_answers ;;
  *) echo "usage: $0 stop|kill|start|restart|status" >&2; exit 2 ;;
esac
