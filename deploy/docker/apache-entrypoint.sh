#!/bin/sh
# Starts Apache (with a self-signed placeholder certificate until certfleet-agent installs the
# real one), then runs the command given (certfleet-agent) in the foreground.
set -eu
live="/etc/certfleet/live/${CERTFLEET_CERT_NAME}"
if [ ! -s "$live/fullchain.pem" ] || [ ! -s "$live/privkey.pem" ]; then
  mkdir -p "$live"
  umask 077
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=${CERTFLEET_CERT_NAME} (placeholder)" \
    -keyout "$live/privkey.pem" -out "$live/fullchain.pem" 2>/dev/null
  chmod 644 "$live/fullchain.pem"
fi
apachectl start
exec "$@"
