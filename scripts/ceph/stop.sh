#!/usr/bin/env bash
# Stops the daemons scripts/ceph/start.sh started (by their pid files; nothing else is touched).
# --purge also removes the cluster directory ($DBP_CEPH_DIR, default /tmp/dbp-ceph) with all its data.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

purge=false
case "${1:-}" in
  '') ;;
  --purge) purge=true ;;
  *) echo "usage: $0 [--purge]" >&2; exit 2 ;;
esac

take_lock 180
if [ ! -f "$MARKER" ]; then
  say "no dbp test cluster in $CEPH_DIR: nothing to stop"
  exit 0
fi
# radosgw (every instance, rgw.sh --instance) and the OSD first, while the mon can still take their
# goodbyes; the mon last.
for name in $(other_rgw_names) "$RGW_NAME" "$OSD_NAME" "$MGR_NAME" "$MON_NAME"; do
  if pid=$(daemon_pid "$name"); then
    stop_daemon "$name" 15
    say "stopped $name (pid $pid)"
  fi
done
rm -f "$CEPH_DIR/ready"
if $purge; then
  rm -rf "$CEPH_DIR"
  say "removed $CEPH_DIR"
fi
