#!/bin/sh
# The dev stack's secrets, generated once into DIR (a shared volume; kept across restarts):
#   pebble-ca.pem           CA of Pebble's HTTPS listener (certfleet-server's ca_bundle)
#   pebble.pem pebble.key   Pebble's listener certificate (pebble, localhost, 127.0.0.1)
#   server-ca.pem           CA of certfleet-server's gRPC listener (--server-ca of agent and CLI)
#   server.pem server.key   certfleet-server's certificate (certfleet-server, localhost, 127.0.0.1)
#   agent.token             the agent's bearer token (0600; the server reads the same file)
#   api.token               the operators' API token (0600; certfleet --token-file, and the
#                           server's api_clients token_file)
set -eu
dir=${1:-/certs}
mkdir -p "$dir"
cd "$dir"
umask 077

# issue NAME SANS: a CA NAME-ca.pem and a certificate NAME.pem/NAME.key it signed.
issue() {
  name=$1
  sans=$2
  [ -s "$name.pem" ] && [ -s "$name.key" ] && [ -s "$name-ca.pem" ] && return 0
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj "/CN=certfleet dev $name CA" -keyout "$name-ca.key" -out "$name-ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$name.key" -out "$name.csr" 2>/dev/null
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$sans" \
    >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA "$name-ca.pem" -CAkey "$name-ca.key" -CAcreateserial \
    -days 365 -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext" "$name-ca.key"
  chmod 644 "$name.pem" "$name-ca.pem"
}

issue pebble "DNS:pebble,DNS:localhost,IP:127.0.0.1"
issue server "DNS:certfleet-server,DNS:localhost,IP:127.0.0.1"
if [ ! -s agent.token ]; then
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >agent.token
fi
chmod 600 agent.token
if [ ! -s api.token ]; then
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >api.token
fi
chmod 600 api.token
echo "dev-certs: ready in $dir"
ls -l "$dir"
