#pragma once

// certfleet-server's configuration: one JSON file plus command-line flags for the common
// cases. Every error names the offending key: "config: <key path>: <why>".
//
//   {
//     "listen": "127.0.0.1:7443",
//     "tls": {"cert_file": "/etc/certfleet/server.pem", "key_file": "/etc/certfleet/server.key"},
//     "insecure_plaintext": false,
//     "database": "/var/lib/certfleet/certfleet.db",
//     "cas": {
//       "letsencrypt": {"directory_url": "https://acme-v02.api.letsencrypt.org/directory",
//                       "contact": ["mailto:ops@example.com"],
//                       "terms_of_service_agreed": true},
//       "pebble": {"directory_url": "https://127.0.0.1:14000/dir",
//                  "ca_bundle": "/tmp/pebble/ca.pem",
//                  "eab": {"kid": "kid-1", "hmac_key": "zWND..."},
//                  "preferred_chain": "", "profile": "", "profile_mandatory": false}
//     },
//     "default_ca": "letsencrypt",
//     "defaults": {"challenge_preference": ["tls-alpn-01", "http-01"],
//                  "key_type": "ecdsa-p256", "renew_before": "30d",
//                  "renewal_check_interval": "1h", "workers": 4},
//     "agents": {"allow_any": false,
//                "agents": [{"id": "web1", "token_sha256": "<64 hex>",
//                            "names": ["www.example.com", "*.example.com"]}]},
//     "api_clients": [{"name": "fleet-tooling", "token_sha256": "<64 hex>"},
//                     {"name": "ops", "token_file": "/etc/certfleet/ops.token"}],
//     "builtin_solver": {"tls_alpn_listen": "0.0.0.0:443", "http01_listen": ""},
//     "max_receive_message_bytes": 4194304
//   }

//
// defaults.renew_before: renew this long before notAfter; when it is at least a
// certificate's whole lifetime, renew once 2/3 of that lifetime has passed instead.
// defaults.renewal_check_interval: how often certificates are checked for renewal (first
// check at start; default "1h", at least "1s").
// api_clients: who may call the operators' API (Certificates, Accounts, Agents.ListAgents):
// every call must carry "authorization: Bearer TOKEN" (certfleet --token-file) with one of
// these tokens. Required when listen is not a loopback address; with none on loopback the
// API is open (development) and the server warns at start. Names must be unique.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/agents/agent_policy.h"
#include "server/api/api_auth.h"
#include "server/issuance/settings.h"

namespace certfleet::server {

// The whole server configuration after validation.
struct ServerConfig {
  std::string listen = "127.0.0.1:7443";  // host:port; port 0 picks a free port.
  std::string tls_cert_file;               // PEM chain for the gRPC listener.
  std::string tls_key_file;                // Its private key.
  bool insecure_plaintext = false;         // Allow plaintext on a non-loopback address.
  std::string database;                    // SQLite file path.
  issuance::CaSettingsMap cas;
  issuance::IssuanceDefaults defaults;     // defaults.default_ca is "default_ca".
  bool agents_allow_any = false;           // Development only.
  std::vector<agents::AgentGrant> agent_grants;
  // Operators' API tokens (token_file is read at parse time into token_sha256).
  std::vector<api::ApiClient> api_clients;
  std::string builtin_tls_alpn_listen;     // "" = off.
  std::string builtin_http01_listen;       // "" = off.
  int max_receive_message_bytes = 4 << 20;
  std::string port_file;                   // Flag only: write the bound port here.
};

// Parses the JSON text of a config file (unknown keys and keys given twice are errors) into
// `config`, on top of
// its current values. InvalidArgument "config: <key path>: <why>".
absl::Status ParseConfigJson(const std::string& text, ServerConfig* config);

// Reads and parses `path`. InvalidArgument "config: cannot read PATH: <why>" when unreadable.
absl::Status LoadConfigFile(const std::string& path, ServerConfig* config);

// Checks the whole configuration (after flags were applied): required keys, TLS unless the
// listen address is loopback or insecure_plaintext, default_ca among the CAs, files exist,
// api_clients unless the listen address is loopback.
absl::Status ValidateConfig(const ServerConfig& config);

// Parses a duration: absl forms ("720h", "90m", "1h30m") plus days ("30d").
// InvalidArgument otherwise.
absl::StatusOr<absl::Duration> ParseConfigDuration(const std::string& text);

// The whole file at `path`; NotFound "cannot read <path>" when it cannot be opened.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// True when `listen` ("host:port") names a loopback host (127.0.0.0/8, ::1, localhost).
bool IsLoopbackListenAddress(const std::string& listen);

// Parsed command line.
struct ServerFlags {
  std::string config_path;
  std::string listen;
  std::string database;
  std::string port_file;
  std::string log_level;
  bool insecure_plaintext = false;
  bool help = false;
};

// Parses argv (`--flag=value` or `--flag value`). InvalidArgument naming the flag.
absl::StatusOr<ServerFlags> ParseServerFlags(const std::vector<std::string>& args);
// The --help text.
std::string ServerUsage();

// Loads --config (if any), applies the flags over it and validates.
absl::StatusOr<ServerConfig> BuildServerConfig(const ServerFlags& flags);

}  // namespace certfleet::server
