#pragma once

// certfleet-agent configuration: an optional JSON config file (--config) whose keys are
// the flag names ("server", "agent-id" or "agent_id", "names": [...], ...), overridden by
// command-line flags. Every bad value is reported as "--flag: what is wrong".

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/log.h"

namespace certfleet::agent {

struct AgentConfig {
  // --help was given: print AgentUsage() and exit 0; nothing else is validated.
  bool show_help = false;
  // certfleet-server address, HOST:PORT.
  std::string server;
  // Stable agent id ([A-Za-z0-9._-], 1-128); defaults to the hostname.
  std::string agent_id;
  // Bearer token read from --token-file (secret: never log); empty when none.
  std::string token;
  // Normalised names this host serves (DNS names, wildcards, IPs), in flag order.
  std::vector<std::string> names;
  // tls-alpn-01 listener address ("host:port", ":port").
  std::string tls_alpn_listen = ":443";
  // --tls-alpn-passthrough: HOST:PORT of the web server (e.g. Apache on 127.0.0.1:8443) that
  // gets every non-validation connection to the tls-alpn-01 listener; empty: none.
  std::string tls_alpn_passthrough;
  // --tls-alpn-proxy-protocol: prefix forwarded connections with a PROXY v2 header.
  bool tls_alpn_proxy_protocol = false;
  // http-01 listener address; empty when not listening.
  std::string http01_listen;
  // http-01 webroot folder (tokens go under .well-known/acme-challenge/); empty if unused.
  std::string http01_webroot;
  // Where certificates are installed: <cert_dir>/<certificate name>/.
  std::string cert_dir = "/etc/certfleet/live";
  // Run with /bin/sh -c after installing; empty: no reload.
  std::string reload_command = "apachectl -k graceful";
  // The reload command is killed after this long.
  absl::Duration reload_timeout = absl::Seconds(60);
  // PEM roots for TLS to the server (contents of --server-ca); empty: system roots.
  std::string server_ca_pem;
  // Plaintext gRPC (only with a loopback --server).
  bool insecure_plaintext = false;
  // Heartbeat interval until the server's Welcome says otherwise.
  int heartbeat_seconds = 30;
  // JSON status/counters file rewritten atomically; empty: none.
  std::string status_file;
  // Reconnect backoff: first delay and cap (each delay jittered to [d/2, d]).
  absl::Duration reconnect_backoff_initial = absl::Milliseconds(500);
  absl::Duration reconnect_backoff_max = absl::Seconds(30);
  // --log-level when given.
  std::optional<LogLevel> log_level;
};

// Parses flags (and the --config file they name). InvalidArgument with the message to
// print after "certfleet-agent: " on the first bad value; main exits 2 then.
absl::StatusOr<AgentConfig> ParseAgentConfig(int argc, const char* const* argv);

// The --help text.
std::string AgentUsage();

// True for "localhost", 127.0.0.0/8 and ::1 (with or without brackets).
bool IsLoopbackHost(const std::string& host);

// Splits "host:port" / "[v6]:port" / ":port". InvalidArgument (message without flag name)
// when the port is missing or not 0-65535.
absl::Status SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace certfleet::agent
