#!/usr/bin/env bash
# certfleet's main job on one machine, end to end:
#   1. installs missing Debian packages (scripts/bootstrap.sh) and builds the three binaries
#      into build/openssl (the build folder scripts/test.sh uses);
#   2. starts a local Pebble (Let's Encrypt's test CA) and its DNS helper (scripts/pebble-dev.sh),
#      certfleet-server with its SQLite file under var/main-job/, and one certfleet-agent that
#      answers tls-alpn-01 on the port Pebble validates and installs certificates under
#      var/main-job/live/;
#   3. asks the server through the certfleet CLI for a certificate for a demo name, which Pebble
#      validates with tls-alpn-01 against the agent; waits until the agent installed it;
#   4. prints where it was installed and its subject, issuer, serial and expiry;
#   5. stops everything it started (also on failure, then printing the relevant log tails).
#
#   scripts/main-job.sh [NAME]     # NAME defaults to www.certfleet.test
#
# Environment: CERTFLEET_BUILD_DIR (default ./build), CERTFLEET_JOBS (default nproc).
# Re-runnable: every run starts from an empty var/main-job/.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${CERTFLEET_BUILD_DIR:-$root/build}/openssl
jobs=${CERTFLEET_JOBS:-$(nproc)}
name=${1:-www.certfleet.test}
var=$root/var/main-job

server_pid=""
agent_pid=""
pebble_started=0

log_tails() {
  echo "---- last lines of the logs under $var:" >&2
  for f in "$var/server.log" "$var/agent.log" "$var/pebble/pebble.log" \
    "$var/pebble/challtestsrv.log" "$var/cli.log"; do
    [[ -s "$f" ]] || continue
    echo "== $f" >&2
    tail -n 25 "$f" >&2
  done
}

# Stops a process this script started: SIGTERM, SIGKILL after 10 s.
stop_pid() {
  local pid=$1
  [[ -n "$pid" ]] || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1 # poll interval
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if ((rc != 0)); then
    echo "main-job: FAILED (exit $rc)" >&2
    log_tails
  fi
  stop_pid "$agent_pid"
  stop_pid "$server_pid"
  if ((pebble_started)); then "$root/scripts/pebble-dev.sh" stop "$var/pebble" || true; fi
  echo "main-job: stopped everything it started"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "main-job: $*" >&2
  exit 1
}

# wait_for DESCRIPTION TIMEOUT_SECONDS PID COMMAND...: polls COMMAND until it succeeds; fails
# when the deadline passes or PID (the process expected to make it true) exits.
wait_for() {
  local what=$1 timeout=$2 pid=$3
  shift 3
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then fail "$what: the process exited"; fi
    ((SECONDS <= deadline)) || fail "$what: not within ${timeout}s"
    sleep 0.2 # poll interval
  done
}

echo "== 1/5 packages and build"
"$root/scripts/bootstrap.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug >/dev/null
ninja -C "$build" -j "$jobs" certfleet-server certfleet-agent certfleet
server_bin=$build/server/certfleet-server
agent_bin=$build/client/agent/certfleet-agent
cli_bin=$build/client/cli/certfleet

echo "== 2/5 Pebble, certfleet-server and one agent (state under ${var#"$root"/})"
rm -rf "$var"
mkdir -p "$var/live"
pebble_started=1
"$root/scripts/pebble-dev.sh" start "$var/pebble"
# shellcheck disable=SC1091
source "$var/pebble/pebble.env"

# The agent authenticates with a bearer token; the server's config names the same file.
head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$var/agent.token"
chmod 600 "$var/agent.token"

cat >"$var/server.json" <<EOF
{
  "listen": "127.0.0.1:0",
  "database": "$var/certfleet.db",
  "cas": {
    "pebble": {"directory_url": "$PEBBLE_DIRECTORY_URL",
               "ca_bundle": "$PEBBLE_CA_BUNDLE",
               "contact": ["mailto:ops@certfleet.test"],
               "terms_of_service_agreed": true}
  },
  "default_ca": "pebble",
  "defaults": {"challenge_preference": ["tls-alpn-01"], "key_type": "ecdsa-p256"},
  "agents": {"agents": [{"id": "web1", "token_file": "$var/agent.token", "names": ["$name"]}]}
}
EOF
echo "+ certfleet-server --config ${var#"$root"/}/server.json   (config printed below)"
sed 's/^/    /' "$var/server.json"
"$server_bin" --config "$var/server.json" --port-file "$var/server.port" \
  >"$var/server.log" 2>&1 &
server_pid=$!
wait_for "certfleet-server listening" 30 "$server_pid" test -s "$var/server.port"
server="127.0.0.1:$(cat "$var/server.port")"
echo "certfleet-server on $server (database $var/certfleet.db)"

# On a real web host the reload command is `apachectl -k graceful`; here it only records
# that it ran, so nothing outside var/ is touched.
echo "+ certfleet-agent --server $server --insecure-plaintext --agent-id web1 --token-file ${var#"$root"/}/agent.token --name $name --tls-alpn-listen 127.0.0.1:$PEBBLE_TLS_PORT --cert-dir ${var#"$root"/}/live --reload-command ..."
"$agent_bin" --server "$server" --insecure-plaintext --agent-id web1 \
  --token-file "$var/agent.token" --name "$name" \
  --tls-alpn-listen "127.0.0.1:$PEBBLE_TLS_PORT" --cert-dir "$var/live" \
  --reload-command "echo \"\$(date -u +%FT%TZ) reload (on a real host: apachectl -k graceful)\" >> '$var/reload.log'" \
  --status-file "$var/agent-status.json" --heartbeat-seconds 5 \
  >"$var/agent.log" 2>&1 &
agent_pid=$!
agent_connected() {
  local agents
  agents=$("$cli_bin" --server "$server" agents list --output json) && [[ "$agents" == *'"web1"'* ]]
}
wait_for "certfleet-agent connected to the server" 30 "$agent_pid" agent_connected
echo "certfleet-agent web1 connected, answering tls-alpn-01 on 127.0.0.1:$PEBBLE_TLS_PORT"

echo "== 3/5 certfleet issue $name (tls-alpn-01 answered by the agent)"
if ! "$cli_bin" --server "$server" issue "$name" --ca pebble --challenge tls-alpn-01 --wait \
  --timeout 5m 2>&1 | tee "$var/cli.log"; then
  fail "the issuance failed"
fi
installed=$var/live/$name
installed_ok() { [[ -s "$installed/fullchain.pem" && -s "$installed/privkey.pem" && -s "$var/reload.log" ]]; }
wait_for "the agent installing the certificate" 60 "$agent_pid" installed_ok

echo "== 4/5 the installed certificate"
echo "installed by the agent in $installed/:"
ls -l "$installed/"
openssl x509 -in "$installed/fullchain.pem" -noout -subject -issuer -serial -enddate
openssl x509 -in "$installed/fullchain.pem" -noout -ext subjectAltName 2>/dev/null | sed -n 2p |
  sed 's/^ */SAN: /'
echo "reload command: $(tail -n 1 "$var/reload.log")"

echo "== 5/5 stopping"
