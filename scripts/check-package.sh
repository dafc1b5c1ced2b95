#!/usr/bin/env bash
# Proves the package installs and runs on its own: `npm pack`, then `npm install -g` of the tarball into
# a temporary prefix, then the installed `dbp` is run from outside the repository (so neither tsx nor
# any devDependency can be reached): --help, --version, and real work on a temporary data directory
# (demo, org list, and a backup through the chunk worker threads with `policy run`).
# Cleans up after itself; exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "check-package: $*" >&2
  exit 1
}

echo "-- npm pack (builds dist/ through the prepare script)"
npm pack --pack-destination "$work" >/dev/null
tarball=$(ls "$work"/*.tgz)
[ -x dist/src/cli/main.js ] || fail "dist/src/cli/main.js has no run bit after the build"
contents=$(tar -tzf "$tarball")
for needed in package/dist/src/cli/main.js package/dist/src/engine/repository/chunk-worker.js package/dist/console/index.html package/LICENSE package/README.md package/package.json; do
  grep -qx "$needed" <<<"$contents" || fail "$needed is not in $(basename "$tarball")"
done
if grep -q '^package/test/\|^package/src/' <<<"$contents"; then fail "the tarball carries sources or tests"; fi

echo "-- npm install -g into a temporary prefix (compiles better-sqlite3)"
started=$(date +%s)
npm install -g --prefix "$work/prefix" --no-audit --no-fund "$tarball" >"$work/install.log" 2>&1 || {
  cat "$work/install.log" >&2
  fail "npm install -g failed"
}
echo "   installed in $(($(date +%s) - started)) s"

expected=$(node -p "require('./package.json').version")
dbp="$work/prefix/bin/dbp"
[ -x "$dbp" ] || fail "$dbp is missing or not executable"
# Run from outside the repository, with nothing in the environment pointing elsewhere.
cd "$work"
run() { env -u DATABASE_URL -u DBP_DATA_DIR -u DBP_REPOSITORY -u DBP_REPOSITORY_PASSWORD -u NODE_OPTIONS "$dbp" "$@"; }

echo "-- dbp --help, dbp --version"
run --help | grep -q '^Usage: dbp' || fail "dbp --help printed no usage"
[ "$(run --version)" = "$expected" ] || fail "dbp --version is not $expected"

echo "-- dbp demo, org list, policy run"
policy=$(run --data-dir "$work/data" demo --json | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).disk_backup_policy.id))')
run --data-dir "$work/data" org list | grep -q 'Demo Organization' || fail "org list does not show the demo organization"
run --data-dir "$work/data" policy run "$policy" --json | grep -q '"status": "succeeded"' || fail "policy run $policy did not succeed"
run --data-dir "$work/data" backups list | grep -q "$policy" || fail "backups list does not show the backup of $policy"
echo "check-package: the installed dbp works"
