#include "client/agent/agent_config.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/agent/atomic_file.h"
#include "client/agent/flag_parser.h"
#include "common/crypto/x509.h"
#include "common/identifiers/identifier.h"
#include "nlohmann/json.hpp"

namespace certfleet::agent {
namespace {

const FlagParser& Parser() {
  static const FlagParser* const parser = new FlagParser({
      {"config", "FILE", false, "JSON config file; its keys are these flag names"},
      {"server", "HOST:PORT", false, "certfleet-server address (required)"},
      {"agent-id", "ID", false, "stable agent id (default: the hostname)"},
      {"token-file", "FILE", false, "bearer token for the server; must not be world-readable"},
      {"name", "NAME", true, "a name this host serves (at least one; \"*.example.com\" ok)"},
      {"tls-alpn-listen", "ADDR", false, "tls-alpn-01 listener (default \":443\")"},
      {"tls-alpn-passthrough", "HOST:PORT", false,
       "share the tls-alpn-01 listener with a web server: forward every connection that is "
       "not an ACME validation to HOST:PORT"},
      {"tls-alpn-proxy-protocol", "", false,
       "send a PROXY protocol v2 header on forwarded connections (Apache: mod_remoteip "
       "RemoteIPProxyProtocol On)"},
      {"http01-listen", "ADDR", false, "answer http-01 on this listener"},
      {"http01-webroot", "DIR", false,
       "answer http-01 by writing DIR/.well-known/acme-challenge/TOKEN"},
      {"cert-dir", "DIR", false, "install certificates under DIR/NAME/ (default /etc/certfleet/live)"},
      {"reload-command", "CMD", false,
       "run after installing (default \"apachectl -k graceful\"; \"\" for none)"},
      {"reload-timeout", "DURATION", false, "kill the reload command after this (default 60s)"},
      {"server-ca", "FILE", false, "PEM CA certificates to verify the server's TLS certificate"},
      {"insecure-plaintext", "", false, "plaintext gRPC; only with a loopback --server"},
      {"heartbeat-seconds", "N", false, "heartbeat interval until the server sets one (default 30)"},
      {"status-file", "FILE", false, "JSON file with the agent's counters, rewritten atomically"},
      {"reconnect-backoff-initial", "DURATION", false, "first reconnect delay (default 500ms)"},
      {"reconnect-backoff-max", "DURATION", false, "longest reconnect delay (default 30s)"},
      {"log-level", "LEVEL", false, "debug, info, warning or error (default info)"},
      {"help", "", false, "print this help and exit"},
  });
  return *parser;
}

// Builds error messages that say where a bad value came from.
class Errors {
 public:
  Errors(std::string config_path, std::set<std::string> from_file)
      : config_path_(std::move(config_path)), from_file_(std::move(from_file)) {}

  absl::Status Bad(absl::string_view flag, absl::string_view what) const {
    std::string msg = absl::StrCat("--", flag, ": ", what);
    if (from_file_.count(std::string(flag))) {
      absl::StrAppend(&msg, " (in config file ", config_path_, ")");
    }
    return absl::InvalidArgumentError(msg);
  }

 private:
  std::string config_path_;
  std::set<std::string> from_file_;
};

// Merges the JSON config file under `flags` (command-line values win). Records the flags
// that came from the file in `from_file`.
absl::Status MergeConfigFile(const std::string& path, ParsedFlags* flags,
                             std::set<std::string>* from_file) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat("--config: ", path, ": ", what));
  };
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--config: ", text.status().message()));
  }
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    return bad(absl::StrCat("not valid JSON: ", e.what()));
  }
  if (!json.is_object()) return bad("expected a JSON object");
  for (const auto& [raw_key, value] : json.items()) {
    std::string key = raw_key;
    for (char& c : key) {
      if (c == '_') c = '-';
    }
    if (key == "names") key = "name";
    const FlagSpec* spec = Parser().Find(key);
    if (spec == nullptr || key == "config" || key == "help") {
      return bad(absl::StrCat("unknown key \"", raw_key, "\""));
    }
    std::vector<std::string> values;
    auto scalar = [&](const nlohmann::json& v, std::string* out) {
      if (v.is_string()) {
        *out = v.get<std::string>();
      } else if (v.is_boolean()) {
        *out = v.get<bool>() ? "true" : "false";
      } else if (v.is_number_integer()) {
        *out = std::to_string(v.get<int64_t>());
      } else {
        return false;
      }
      return true;
    };
    if (spec->repeatable && value.is_array()) {
      for (const auto& item : value) {
        std::string s;
        if (!item.is_string()) return bad(absl::StrCat("\"", raw_key, "\": expected strings"));
        s = item.get<std::string>();
        values.push_back(std::move(s));
      }
    } else {
      std::string s;
      if (!scalar(value, &s)) {
        return bad(absl::StrCat("\"", raw_key, "\": expected a string",
                                spec->repeatable ? " or a list of strings" : ""));
      }
      if (spec->is_boolean()) {
        bool b;
        if (!ParseBoolFlag(s, &b)) {
          return bad(absl::StrCat("\"", raw_key, "\": expected true or false"));
        }
        s = b ? "true" : "false";
      }
      values.push_back(std::move(s));
    }
    if (flags->Has(key)) continue;  // the command line wins
    flags->Set(key, std::move(values));
    from_file->insert(key);
  }
  return absl::OkStatus();
}

bool IsValidAgentId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path, const Errors& errors) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return errors.Bad("token-file", absl::StrCat(path, ": ", strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return errors.Bad("token-file", absl::StrCat(path, ": not a regular file"));
  }
  if (st.st_mode & (S_IROTH | S_IWOTH)) {
    return errors.Bad("token-file",
                      absl::StrFormat("%s is accessible by other users (mode %04o); "
                                      "run chmod 600 %s",
                                      path, st.st_mode & 07777, path));
  }
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return errors.Bad("token-file", text.status().message());
  std::string token(absl::StripAsciiWhitespace(*text));
  if (token.empty()) return errors.Bad("token-file", absl::StrCat(path, " is empty"));
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) {
      return errors.Bad("token-file",
                        absl::StrCat(path, ": the token must be printable ASCII on one line"));
    }
  }
  return token;
}

absl::Status ParseDurationFlag(const ParsedFlags& flags, absl::string_view name,
                               const Errors& errors, absl::Duration* out) {
  if (!flags.Has(name)) return absl::OkStatus();
  std::string text = flags.Last(name);
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration() ||
      d == absl::InfiniteDuration()) {
    return errors.Bad(name, absl::StrCat("expected a positive duration such as \"500ms\" or "
                                         "\"30s\", got \"",
                                         text, "\""));
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status CheckListenAddress(const ParsedFlags& flags, absl::string_view name,
                                const Errors& errors) {
  std::string host;
  int port = 0;
  absl::Status split = SplitHostPort(flags.Last(name), &host, &port);
  if (!split.ok()) return errors.Bad(name, split.message());
  return absl::OkStatus();
}

// True for a host that means "all addresses" in a listen address.
bool IsWildcardHost(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

// --tls-alpn-passthrough must be HOST:PORT with a non-zero port, and not the listener itself
// (the agent would forward connections to itself).
absl::Status CheckPassthrough(const std::string& backend, const std::string& listen,
                              const Errors& errors) {
  std::string host, listen_host;
  int port = 0, listen_port = 0;
  if (absl::Status s = SplitHostPort(backend, &host, &port); !s.ok()) {
    return errors.Bad("tls-alpn-passthrough", s.message());
  }
  if (host.empty() || port == 0) {
    return errors.Bad("tls-alpn-passthrough",
                      absl::StrCat("\"", backend, "\" needs a host and a non-zero port (the web "
                                   "server's own listener, e.g. 127.0.0.1:8443)"));
  }
  if (IsWildcardHost(host)) {
    return errors.Bad("tls-alpn-passthrough",
                      absl::StrCat("\"", backend, "\": give the address the web server listens "
                                   "on, not a wildcard address"));
  }
  if (!SplitHostPort(listen, &listen_host, &listen_port).ok()) return absl::OkStatus();
  const std::string a = absl::AsciiStrToLower(host);
  const std::string b = absl::AsciiStrToLower(listen_host);
  bool same_host = a == b || IsWildcardHost(listen_host) ||
                   ((a == "localhost" || b == "localhost") && IsLoopbackHost(a) &&
                    IsLoopbackHost(b));
  if (port == listen_port && same_host) {
    return errors.Bad("tls-alpn-passthrough",
                      absl::StrCat("\"", backend, "\" is the --tls-alpn-listen address \"",
                                   listen, "\" itself; point it at the web server's own "
                                   "listener (e.g. Apache on 127.0.0.1:8443)"));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsLoopbackHost(const std::string& raw_host) {
  std::string host = raw_host;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (absl::AsciiStrToLower(host) == "localhost") return true;
  in_addr v4;
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6;
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6);
  }
  return false;
}

absl::Status SplitHostPort(const std::string& address, std::string* host, int* port) {
  std::string port_text;
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", address, "\" is not [IPV6]:PORT"));
    }
    *host = address.substr(1, close - 1);
    port_text = address.substr(close + 2);
  } else {
    size_t colon = address.rfind(':');
    if (colon == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", address, "\" has no port (expected HOST:PORT)"));
    }
    *host = address.substr(0, colon);
    if (host->find(':') != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", address, "\": put IPv6 addresses in brackets, [::1]:PORT"));
    }
    port_text = address.substr(colon + 1);
  }
  if (!absl::SimpleAtoi(port_text, port) || *port < 0 || *port > 65535 ||
      port_text.empty() || !absl::ascii_isdigit(static_cast<unsigned char>(port_text[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", address, "\": port \"", port_text, "\" is not a number 0-65535"));
  }
  return absl::OkStatus();
}

std::string AgentUsage() {
  return absl::StrCat(
      "Usage: certfleet-agent --server=HOST:PORT --name=NAME [--name=NAME...] [flags]\n"
      "\n"
      "Keeps one stream to certfleet-server, answers tls-alpn-01 (and http-01) challenges\n"
      "for the names this host serves, and installs the certificates it receives.\n"
      "\n"
      "Sharing :443 with Apache (tls-alpn-01 is validated on port 443, which Apache owns):\n"
      "move Apache's HTTPS listener to 127.0.0.1:8443 (Listen 127.0.0.1:8443 https) and run\n"
      "the agent on :443 with --tls-alpn-passthrough 127.0.0.1:8443. The agent reads each\n"
      "ClientHello; ACME validations (ALPN acme-tls/1 for a name with a pending challenge) are\n"
      "answered by the agent, every other connection is forwarded byte for byte to Apache.\n"
      "Add --tls-alpn-proxy-protocol together with `RemoteIPProxyProtocol On` (mod_remoteip)\n"
      "so that Apache logs the real client addresses.\n"
      "\n",
      Parser().Usage());
}

absl::StatusOr<AgentConfig> ParseAgentConfig(int argc, const char* const* argv) {
  absl::StatusOr<ParsedFlags> parsed = Parser().Parse(argc, argv);
  if (!parsed.ok()) return parsed.status();
  ParsedFlags flags = std::move(parsed).value();
  AgentConfig config;
  if (flags.Last("help") == "true") {
    config.show_help = true;
    return config;
  }

  std::set<std::string> from_file;
  const std::string config_path = flags.Last("config");
  if (flags.Has("config")) {
    if (config_path.empty()) return absl::InvalidArgumentError("--config: empty path");
    absl::Status merged = MergeConfigFile(config_path, &flags, &from_file);
    if (!merged.ok()) return merged;
  }
  const Errors errors(config_path, from_file);

  // --server
  if (!flags.Has("server") || flags.Last("server").empty()) {
    return errors.Bad("server", "required (HOST:PORT of certfleet-server)");
  }
  config.server = flags.Last("server");
  std::string server_host;
  int server_port = 0;
  if (absl::Status s = SplitHostPort(config.server, &server_host, &server_port); !s.ok()) {
    return errors.Bad("server", s.message());
  }
  if (server_host.empty() || server_port == 0) {
    return errors.Bad("server", absl::StrCat("\"", config.server,
                                             "\" needs a host and a non-zero port"));
  }

  // --agent-id
  if (flags.Has("agent-id")) {
    config.agent_id = flags.Last("agent-id");
    if (!IsValidAgentId(config.agent_id)) {
      return errors.Bad("agent-id", absl::StrCat("\"", config.agent_id,
                                                 "\" must be 1 to 128 characters of "
                                                 "[A-Za-z0-9._-]"));
    }
  } else {
    char host[256] = {};
    if (gethostname(host, sizeof(host) - 1) != 0 || !IsValidAgentId(host)) {
      return errors.Bad("agent-id", absl::StrCat("the hostname \"", host,
                                                 "\" is not a valid agent id; set --agent-id"));
    }
    config.agent_id = host;
  }

  // --token-file
  if (flags.Has("token-file")) {
    absl::StatusOr<std::string> token = ReadTokenFile(flags.Last("token-file"), errors);
    if (!token.ok()) return token.status();
    config.token = std::move(token).value();
  }

  // --name
  if (flags.All("name").empty()) {
    return errors.Bad("name", "at least one is required (the names this host serves)");
  }
  std::set<std::string> seen;
  for (const std::string& name : flags.All("name")) {
    absl::StatusOr<identifiers::Identifier> id = identifiers::NormalizeIdentifier(name);
    if (!id.ok()) return errors.Bad("name", id.status().message());
    if (!seen.insert(id->value).second) {
      return errors.Bad("name", absl::StrCat("\"", name, "\" is given twice"));
    }
    config.names.push_back(id->value);
  }

  // Listeners.
  if (flags.Has("tls-alpn-listen")) {
    config.tls_alpn_listen = flags.Last("tls-alpn-listen");
  }
  {
    ParsedFlags tmp;
    tmp.Add("tls-alpn-listen", config.tls_alpn_listen);
    if (absl::Status s = CheckListenAddress(tmp, "tls-alpn-listen", errors); !s.ok()) return s;
  }
  if (flags.Has("tls-alpn-passthrough")) {
    absl::Status s = CheckPassthrough(flags.Last("tls-alpn-passthrough"), config.tls_alpn_listen,
                                      errors);
    if (!s.ok()) return s;
    config.tls_alpn_passthrough = flags.Last("tls-alpn-passthrough");
  }
  config.tls_alpn_proxy_protocol = flags.Last("tls-alpn-proxy-protocol") == "true";
  if (config.tls_alpn_proxy_protocol && config.tls_alpn_passthrough.empty()) {
    return errors.Bad("tls-alpn-proxy-protocol", "needs --tls-alpn-passthrough");
  }
  if (flags.Has("http01-listen") && flags.Has("http01-webroot")) {
    return errors.Bad("http01-webroot", "cannot be combined with --http01-listen");
  }
  if (flags.Has("http01-listen")) {
    if (absl::Status s = CheckListenAddress(flags, "http01-listen", errors); !s.ok()) return s;
    config.http01_listen = flags.Last("http01-listen");
  }
  if (flags.Has("http01-webroot")) {
    config.http01_webroot = flags.Last("http01-webroot");
    struct stat st;
    if (config.http01_webroot.empty()) return errors.Bad("http01-webroot", "empty path");
    if (stat(config.http01_webroot.c_str(), &st) != 0) {
      return errors.Bad("http01-webroot",
                        absl::StrCat(config.http01_webroot, ": ", strerror(errno)));
    }
    if (!S_ISDIR(st.st_mode)) {
      return errors.Bad("http01-webroot",
                        absl::StrCat(config.http01_webroot, ": not a directory"));
    }
  }

  // Installation.
  if (flags.Has("cert-dir")) {
    config.cert_dir = flags.Last("cert-dir");
    if (config.cert_dir.empty()) return errors.Bad("cert-dir", "empty path");
  }
  if (flags.Has("reload-command")) config.reload_command = flags.Last("reload-command");
  if (absl::Status s = ParseDurationFlag(flags, "reload-timeout", errors, &config.reload_timeout);
      !s.ok()) {
    return s;
  }

  // Transport security.
  config.insecure_plaintext = flags.Last("insecure-plaintext") == "true";
  if (flags.Has("server-ca")) {
    if (config.insecure_plaintext) {
      return errors.Bad("insecure-plaintext", "cannot be combined with --server-ca");
    }
    const std::string path = flags.Last("server-ca");
    absl::StatusOr<std::string> pem = ReadFile(path);
    if (!pem.ok()) return errors.Bad("server-ca", pem.status().message());
    absl::StatusOr<std::vector<crypto::Certificate>> certs = crypto::ParsePemChain(*pem);
    if (!certs.ok()) {
      return errors.Bad("server-ca", absl::StrCat(path, ": no PEM certificate in it (",
                                                  certs.status().message(), ")"));
    }
    config.server_ca_pem = std::move(pem).value();
  }
  if (config.insecure_plaintext && !IsLoopbackHost(server_host)) {
    return errors.Bad("insecure-plaintext",
                      absl::StrCat("only allowed when --server is a loopback address (got \"",
                                   config.server, "\"); use --server-ca for TLS"));
  }

  // Timing.
  if (flags.Has("heartbeat-seconds")) {
    const std::string text = flags.Last("heartbeat-seconds");
    if (!absl::SimpleAtoi(text, &config.heartbeat_seconds) || config.heartbeat_seconds < 1 ||
        config.heartbeat_seconds > 3600) {
      return errors.Bad("heartbeat-seconds",
                        absl::StrCat("expected a whole number from 1 to 3600, got \"", text,
                                     "\""));
    }
  }
  if (absl::Status s = ParseDurationFlag(flags, "reconnect-backoff-initial", errors,
                                         &config.reconnect_backoff_initial);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseDurationFlag(flags, "reconnect-backoff-max", errors,
                                         &config.reconnect_backoff_max);
      !s.ok()) {
    return s;
  }
  if (config.reconnect_backoff_max < config.reconnect_backoff_initial) {
    return errors.Bad("reconnect-backoff-max",
                      "must not be shorter than --reconnect-backoff-initial");
  }

  if (flags.Has("status-file")) {
    config.status_file = flags.Last("status-file");
    if (config.status_file.empty()) return errors.Bad("status-file", "empty path");
  }
  if (flags.Has("log-level")) {
    LogLevel level;
    if (!ParseLogLevel(flags.Last("log-level"), &level)) {
      return errors.Bad("log-level", absl::StrCat("expected debug, info, warning or error, got \"",
                                                  flags.Last("log-level"), "\""));
    }
    config.log_level = level;
  }
  return config;
}

}  // namespace certfleet::agent
