#include "server/app/config.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/key.h"
#include "common/crypto/token_digest.h"
#include "common/crypto/x509.h"
#include "common/status_macros.h"
#include "server/acme/challenge_solver.h"
#include "server/issuance/request_validation.h"

namespace certfleet::server {
namespace {

using nlohmann::json;

absl::Status ConfigError(const std::string& path, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("config: ", path, ": ", why));
}

std::string Child(const std::string& path, const std::string& key) {
  return path.empty() ? key : absl::StrCat(path, ".", key);
}

// Rejects keys of `object` outside `allowed`.
absl::Status CheckKeys(const json& object, const std::string& path,
                       const std::set<std::string>& allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (allowed.count(it.key()) == 0) return ConfigError(Child(path, it.key()), "unknown key");
  }
  return absl::OkStatus();
}

absl::Status GetString(const json& object, const std::string& path, const std::string& key,
                       std::string* out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) return ConfigError(Child(path, key), "must be a string");
  *out = it->get<std::string>();
  return absl::OkStatus();
}

absl::Status GetBool(const json& object, const std::string& path, const std::string& key,
                     bool* out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_boolean()) return ConfigError(Child(path, key), "must be true or false");
  *out = it->get<bool>();
  return absl::OkStatus();
}

absl::Status GetInt(const json& object, const std::string& path, const std::string& key, int lo,
                    int hi, int* out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number_integer() || it->get<int64_t>() < lo || it->get<int64_t>() > hi) {
    return ConfigError(Child(path, key), absl::StrCat("must be an integer from ", lo, " to ", hi));
  }
  *out = static_cast<int>(it->get<int64_t>());
  return absl::OkStatus();
}

absl::Status GetStringList(const json& object, const std::string& path, const std::string& key,
                           std::vector<std::string>* out) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  std::string p = Child(path, key);
  if (it->is_string()) {
    *out = {it->get<std::string>()};
    return absl::OkStatus();
  }
  if (!it->is_array()) return ConfigError(p, "must be an array of strings");
  out->clear();
  for (size_t i = 0; i < it->size(); ++i) {
    if (!(*it)[i].is_string()) return ConfigError(absl::StrCat(p, "[", i, "]"), "must be a string");
    out->push_back((*it)[i].get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status RequireObject(const json& value, const std::string& path) {
  if (!value.is_object()) return ConfigError(path, "must be an object");
  return absl::OkStatus();
}

bool IsBase64Url(const std::string& s) {
  for (char c : s) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_')) {
      return false;
    }
  }
  return !s.empty();
}

bool FileReadable(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

// Splits "host:port" / "[v6]:port"; false when malformed.
bool SplitHostPort(const std::string& address, std::string* host, int* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos) return false;
  *host = address.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  } else if (host->find(':') != std::string::npos) {
    return false;
  }
  int p = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &p) || p < 0 || p > 65535) return false;
  *port = p;
  return true;
}

absl::Status CheckListen(const std::string& path, const std::string& address) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(address, &host, &port)) {
    return ConfigError(path, absl::StrCat("\"", address,
                                          "\" is not HOST:PORT (port 0 picks a free port)"));
  }
  return absl::OkStatus();
}

// Reads an entry's bearer token reference: exactly one of "token_sha256" (kept as given in
// `*token_sha256`; the policy checks its form) or "token_file" (its stripped text in `*token`).
absl::Status GetTokenReference(const json& entry, const std::string& path,
                               std::string* token_sha256, std::string* token) {
  std::string token_file;
  RETURN_IF_ERROR(GetString(entry, path, "token_sha256", token_sha256));
  RETURN_IF_ERROR(GetString(entry, path, "token_file", &token_file));
  if (token_sha256->empty() == token_file.empty()) {
    return ConfigError(path, "exactly one of token_sha256 and token_file must be set");
  }
  if (token_file.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> text = ReadFile(token_file);
  if (!text.ok()) {
    return ConfigError(Child(path, "token_file"), std::string(text.status().message()));
  }
  *token = std::string(absl::StripAsciiWhitespace(*text));
  if (token->empty()) return ConfigError(Child(path, "token_file"), "the file is empty");
  return absl::OkStatus();
}

absl::Status ParseCa(const std::string& name, const json& value, issuance::CaSettings* ca) {
  std::string path = absl::StrCat("cas.", name);
  RETURN_IF_ERROR(RequireObject(value, path));
  RETURN_IF_ERROR(CheckKeys(value, path,
                            {"directory_url", "contact", "eab", "ca_bundle", "preferred_chain",
                             "profile", "profile_mandatory", "terms_of_service_agreed"}));
  ca->name = name;
  RETURN_IF_ERROR(GetString(value, path, "directory_url", &ca->directory_url));
  // Let's Encrypt's two endpoints are known by name, as certbot and lego know them.
  if (ca->directory_url.empty() && name == "letsencrypt") {
    ca->directory_url = "https://acme-v02.api.letsencrypt.org/directory";
  } else if (ca->directory_url.empty() && name == "letsencrypt-staging") {
    ca->directory_url = "https://acme-staging-v02.api.letsencrypt.org/directory";
  }
  RETURN_IF_ERROR(GetStringList(value, path, "contact", &ca->contact));
  RETURN_IF_ERROR(GetString(value, path, "ca_bundle", &ca->ca_bundle));
  RETURN_IF_ERROR(GetString(value, path, "preferred_chain", &ca->preferred_chain));
  RETURN_IF_ERROR(GetString(value, path, "profile", &ca->profile));
  RETURN_IF_ERROR(GetBool(value, path, "profile_mandatory", &ca->profile_mandatory));
  RETURN_IF_ERROR(
      GetBool(value, path, "terms_of_service_agreed", &ca->terms_of_service_agreed));
  auto eab = value.find("eab");
  if (eab != value.end() && !eab->is_null()) {
    std::string eab_path = Child(path, "eab");
    RETURN_IF_ERROR(RequireObject(*eab, eab_path));
    RETURN_IF_ERROR(CheckKeys(*eab, eab_path, {"kid", "hmac_key"}));
    RETURN_IF_ERROR(GetString(*eab, eab_path, "kid", &ca->eab_kid));
    RETURN_IF_ERROR(GetString(*eab, eab_path, "hmac_key", &ca->eab_hmac_key));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<absl::Duration> ParseConfigDuration(const std::string& text) {
  absl::Duration d;
  if (absl::EndsWith(text, "d")) {
    int64_t days = 0;
    // Bounded so 24 * days cannot overflow (100 years is far beyond any certificate).
    if (absl::SimpleAtoi(text.substr(0, text.size() - 1), &days) && days >= 0 &&
        days <= 36500) {
      return absl::Hours(24 * days);
    }
  } else if (absl::ParseDuration(text, &d) && d != absl::InfiniteDuration() &&
             d != -absl::InfiniteDuration()) {
    return d;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", text, "\" is not a duration (e.g. \"30d\", \"720h\", \"90m\")"));
}

// Finds the first key given twice in one JSON object (nlohmann keeps the last silently,
// which would let a repeated CA or key override the first without a word).
class DuplicateKeyFinder {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        frames_.push_back({event == json::parse_event_t::array_start, NextPath(), {}, ""});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!frames_.empty()) frames_.pop_back();
        break;
      case json::parse_event_t::key:
        if (!frames_.empty() && parsed.is_string()) {
          Frame& frame = frames_.back();
          frame.last_key = parsed.get<std::string>();
          if (!frame.keys.insert(frame.last_key).second && duplicate_.empty()) {
            duplicate_ = Child(frame.path, frame.last_key);
          }
        }
        break;
      case json::parse_event_t::value:
        break;
    }
    return true;
  }

  // The key path of the first duplicate ("cas.pebble"), or "".
  const std::string& duplicate() const { return duplicate_; }

 private:
  struct Frame {
    bool is_array;
    std::string path;
    std::set<std::string> keys;
    std::string last_key;
  };

  std::string NextPath() const {
    if (frames_.empty()) return "";
    const Frame& parent = frames_.back();
    return parent.is_array ? absl::StrCat(parent.path, "[]") : Child(parent.path, parent.last_key);
  }

  std::vector<Frame> frames_;
  std::string duplicate_;
};

absl::Status ParseConfigJson(const std::string& text, ServerConfig* config) {
  DuplicateKeyFinder duplicates;
  json root = json::parse(text, std::ref(duplicates), /*allow_exceptions=*/false,
                          /*ignore_comments=*/true);
  if (root.is_discarded()) {
    // Re-parse for the position of the error.
    try {
      json ignored = json::parse(text, nullptr, true, true);
      (void)ignored;
    } catch (const json::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat("config: not valid JSON: ", e.what()));
    }
    return absl::InvalidArgumentError("config: not valid JSON");
  }
  if (!root.is_object()) return absl::InvalidArgumentError("config: must be a JSON object");
  if (!duplicates.duplicate().empty()) {
    return ConfigError(duplicates.duplicate(), "given more than once");
  }
  RETURN_IF_ERROR(CheckKeys(root, "",
                            {"listen", "tls", "insecure_plaintext", "database", "cas",
                             "default_ca", "defaults", "agents", "api_clients", "builtin_solver",
                             "max_receive_message_bytes"}));
  RETURN_IF_ERROR(GetString(root, "", "listen", &config->listen));
  RETURN_IF_ERROR(GetBool(root, "", "insecure_plaintext", &config->insecure_plaintext));
  RETURN_IF_ERROR(GetString(root, "", "database", &config->database));
  RETURN_IF_ERROR(GetString(root, "", "default_ca", &config->defaults.default_ca));
  RETURN_IF_ERROR(GetInt(root, "", "max_receive_message_bytes", 1024, 64 << 20,
                         &config->max_receive_message_bytes));
  if (auto tls = root.find("tls"); tls != root.end() && !tls->is_null()) {
    RETURN_IF_ERROR(RequireObject(*tls, "tls"));
    RETURN_IF_ERROR(CheckKeys(*tls, "tls", {"cert_file", "key_file"}));
    RETURN_IF_ERROR(GetString(*tls, "tls", "cert_file", &config->tls_cert_file));
    RETURN_IF_ERROR(GetString(*tls, "tls", "key_file", &config->tls_key_file));
  }
  if (auto cas = root.find("cas"); cas != root.end() && !cas->is_null()) {
    RETURN_IF_ERROR(RequireObject(*cas, "cas"));
    for (auto it = cas->begin(); it != cas->end(); ++it) {
      issuance::CaSettings ca;
      RETURN_IF_ERROR(ParseCa(it.key(), it.value(), &ca));
      config->cas[it.key()] = std::move(ca);
    }
  }
  if (auto d = root.find("defaults"); d != root.end() && !d->is_null()) {
    RETURN_IF_ERROR(RequireObject(*d, "defaults"));
    RETURN_IF_ERROR(CheckKeys(*d, "defaults",
                              {"challenge_preference", "key_type", "renew_before",
                               "renewal_check_interval", "workers"}));
    RETURN_IF_ERROR(GetStringList(*d, "defaults", "challenge_preference",
                                  &config->defaults.challenge_preference));
    std::string key_type;
    RETURN_IF_ERROR(GetString(*d, "defaults", "key_type", &key_type));
    if (!key_type.empty()) {
      absl::StatusOr<crypto::KeyType> type = crypto::ParseKeyType(key_type);
      if (!type.ok()) {
        return ConfigError("defaults.key_type", std::string(type.status().message()));
      }
      config->defaults.key_type = *type;
    }
    std::string renew_before;
    RETURN_IF_ERROR(GetString(*d, "defaults", "renew_before", &renew_before));
    if (!renew_before.empty()) {
      absl::StatusOr<absl::Duration> duration = ParseConfigDuration(renew_before);
      if (!duration.ok()) {
        return ConfigError("defaults.renew_before", std::string(duration.status().message()));
      }
      config->defaults.renew_before = *duration;
    }
    std::string check_interval;
    RETURN_IF_ERROR(GetString(*d, "defaults", "renewal_check_interval", &check_interval));
    if (!check_interval.empty()) {
      absl::StatusOr<absl::Duration> duration = ParseConfigDuration(check_interval);
      if (!duration.ok()) {
        return ConfigError("defaults.renewal_check_interval",
                           std::string(duration.status().message()));
      }
      config->defaults.renewal_check_interval = *duration;
    }
    RETURN_IF_ERROR(GetInt(*d, "defaults", "workers", 1, 256, &config->defaults.workers));
  }
  if (auto a = root.find("agents"); a != root.end() && !a->is_null()) {
    RETURN_IF_ERROR(RequireObject(*a, "agents"));
    RETURN_IF_ERROR(CheckKeys(*a, "agents", {"allow_any", "agents"}));
    RETURN_IF_ERROR(GetBool(*a, "agents", "allow_any", &config->agents_allow_any));
    if (auto list = a->find("agents"); list != a->end() && !list->is_null()) {
      if (!list->is_array()) return ConfigError("agents.agents", "must be an array of objects");
      for (size_t i = 0; i < list->size(); ++i) {
        std::string path = absl::StrCat("agents.agents[", i, "]");
        const json& entry = (*list)[i];
        RETURN_IF_ERROR(RequireObject(entry, path));
        RETURN_IF_ERROR(CheckKeys(entry, path, {"id", "token_sha256", "token_file", "names"}));
        agents::AgentGrant grant;
        RETURN_IF_ERROR(GetString(entry, path, "id", &grant.agent_id));
        RETURN_IF_ERROR(GetStringList(entry, path, "names", &grant.allowed_names));
        if (!agents::IsValidAgentId(grant.agent_id)) {
          return ConfigError(Child(path, "id"),
                             "must be 1-128 characters of [A-Za-z0-9._-]");
        }
        RETURN_IF_ERROR(GetTokenReference(entry, path, &grant.token_sha256, &grant.token));
        if (grant.allowed_names.empty()) {
          return ConfigError(Child(path, "names"), "at least one name is required");
        }
        config->agent_grants.push_back(std::move(grant));
      }
    }
  }
  if (auto list = root.find("api_clients"); list != root.end() && !list->is_null()) {
    if (!list->is_array()) return ConfigError("api_clients", "must be an array of objects");
    config->api_clients.clear();
    for (size_t i = 0; i < list->size(); ++i) {
      std::string path = absl::StrCat("api_clients[", i, "]");
      const json& entry = (*list)[i];
      RETURN_IF_ERROR(RequireObject(entry, path));
      RETURN_IF_ERROR(CheckKeys(entry, path, {"name", "token_sha256", "token_file"}));
      api::ApiClient client;
      RETURN_IF_ERROR(GetString(entry, path, "name", &client.name));
      if (!agents::IsValidAgentId(client.name)) {
        return ConfigError(Child(path, "name"), "must be 1-128 characters of [A-Za-z0-9._-]");
      }
      for (const api::ApiClient& other : config->api_clients) {
        if (other.name == client.name) {
          return ConfigError(Child(path, "name"),
                             absl::StrCat("\"", client.name, "\" is given more than once"));
        }
      }
      std::string token;
      RETURN_IF_ERROR(GetTokenReference(entry, path, &client.token_sha256, &token));
      absl::StatusOr<crypto::TokenDigest> digest =
          token.empty() ? crypto::ParseTokenDigestHex(client.token_sha256)
                        : crypto::DigestToken(token);
      if (!digest.ok()) {
        return token.empty() ? ConfigError(Child(path, "token_sha256"),
                                           std::string(digest.status().message()))
                             : absl::InternalError(absl::StrCat("config: ", path, ": SHA-256 failed"));
      }
      if (!token.empty()) client.token_sha256 = crypto::TokenDigestHex(*digest);
      config->api_clients.push_back(std::move(client));
    }
  }
  if (auto b = root.find("builtin_solver"); b != root.end() && !b->is_null()) {
    RETURN_IF_ERROR(RequireObject(*b, "builtin_solver"));
    RETURN_IF_ERROR(CheckKeys(*b, "builtin_solver", {"tls_alpn_listen", "http01_listen"}));
    RETURN_IF_ERROR(
        GetString(*b, "builtin_solver", "tls_alpn_listen", &config->builtin_tls_alpn_listen));
    RETURN_IF_ERROR(
        GetString(*b, "builtin_solver", "http01_listen", &config->builtin_http01_listen));
  }
  return absl::OkStatus();
}

absl::Status LoadConfigFile(const std::string& path, ServerConfig* config) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: cannot read ", path, ": not a regular file"));
  }
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: cannot read ", path, ": ", std::strerror(errno)));
  }
  return ParseConfigJson(*text, config);
}

bool IsLoopbackListenAddress(const std::string& listen) {
  std::string host;
  int port = 0;
  if (!SplitHostPort(listen, &host, &port)) return false;
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  return false;
}

absl::Status ValidateConfig(const ServerConfig& config) {
  RETURN_IF_ERROR(CheckListen("listen", config.listen));
  if (config.tls_cert_file.empty() != config.tls_key_file.empty()) {
    return ConfigError(config.tls_cert_file.empty() ? "tls.cert_file" : "tls.key_file",
                       "required together with tls.cert_file and tls.key_file");
  }
  if (!config.tls_cert_file.empty()) {
    if (!FileReadable(config.tls_cert_file)) {
      return ConfigError("tls.cert_file", absl::StrCat("cannot read ", config.tls_cert_file));
    }
    if (!FileReadable(config.tls_key_file)) {
      return ConfigError("tls.key_file", absl::StrCat("cannot read ", config.tls_key_file));
    }
    // Checked here so a bad file is a config error (exit 2, nothing created), not a
    // failed listen after the database was opened.
    absl::StatusOr<std::string> cert_pem = ReadFile(config.tls_cert_file);
    absl::StatusOr<std::vector<crypto::Certificate>> chain =
        cert_pem.ok() ? crypto::ParsePemChain(*cert_pem)
                      : absl::StatusOr<std::vector<crypto::Certificate>>(cert_pem.status());
    if (!chain.ok() || chain->empty()) {
      return ConfigError("tls.cert_file", absl::StrCat(config.tls_cert_file,
                                                       " holds no PEM certificate"));
    }
    absl::StatusOr<std::string> key_pem = ReadFile(config.tls_key_file);
    absl::StatusOr<crypto::PrivateKey> key =
        key_pem.ok() ? crypto::PrivateKey::FromPem(*key_pem)
                     : absl::StatusOr<crypto::PrivateKey>(key_pem.status());
    if (!key.ok()) {
      // The key's bytes never go into the message.
      return ConfigError("tls.key_file", absl::StrCat(config.tls_key_file,
                                                      " holds no usable PEM private key"));
    }
    if (!chain->front().MatchesKey(*key)) {
      return ConfigError("tls.key_file",
                         absl::StrCat(config.tls_key_file, " does not match the first "
                                                           "certificate in ",
                                      config.tls_cert_file));
    }
  } else if (!config.insecure_plaintext && !IsLoopbackListenAddress(config.listen)) {
    return ConfigError("tls", absl::StrCat("required when listen (", config.listen,
                                           ") is not a loopback address: set tls.cert_file and "
                                           "tls.key_file, or \"insecure_plaintext\": true"));
  }
  if (config.database.empty()) return ConfigError("database", "required (or --db)");
  if (config.cas.empty()) {
    return ConfigError("cas", "at least one CA is required (e.g. \"cas\": {\"letsencrypt\": "
                              "{\"directory_url\": \"https://...\"}})");
  }
  for (const auto& [name, ca] : config.cas) {
    std::string path = absl::StrCat("cas.", name);
    bool name_ok = !name.empty() && issuance::ValidateCaName(name).ok();
    if (!name_ok) return ConfigError(path, "CA names must be 1-64 characters of [A-Za-z0-9._-]");
    if (ca.directory_url.empty()) return ConfigError(Child(path, "directory_url"), "required");
    if (!absl::StartsWith(ca.directory_url, "https://")) {
      return ConfigError(Child(path, "directory_url"),
                         absl::StrCat("\"", ca.directory_url, "\" is not an https:// URL"));
    }
    for (size_t i = 0; i < ca.contact.size(); ++i) {
      if (!absl::StartsWith(ca.contact[i], "mailto:") || ca.contact[i].size() <= 7 ||
          ca.contact[i].find('@') == std::string::npos) {
        return ConfigError(absl::StrCat(path, ".contact[", i, "]"),
                           absl::StrCat("\"", ca.contact[i],
                                        "\" is not a mailto: URI (\"mailto:ops@example.com\")"));
      }
    }
    if (ca.eab_kid.empty() != ca.eab_hmac_key.empty()) {
      return ConfigError(Child(path, ca.eab_kid.empty() ? "eab.kid" : "eab.hmac_key"),
                         "required together with the other EAB field");
    }
    if (!ca.eab_hmac_key.empty() && !IsBase64Url(ca.eab_hmac_key)) {
      return ConfigError(Child(path, "eab.hmac_key"), "must be base64url without padding");
    }
    if (!ca.ca_bundle.empty() && !FileReadable(ca.ca_bundle)) {
      return ConfigError(Child(path, "ca_bundle"), absl::StrCat("cannot read ", ca.ca_bundle));
    }
    if (ca.profile_mandatory && ca.profile.empty()) {
      return ConfigError(Child(path, "profile_mandatory"), "set but no profile is given");
    }
  }
  if (!config.defaults.default_ca.empty() && config.cas.count(config.defaults.default_ca) == 0) {
    std::string configured;
    for (const auto& [name, ca] : config.cas) {
      absl::StrAppend(&configured, configured.empty() ? "" : ", ", name);
    }
    return ConfigError("default_ca", absl::StrCat("unknown CA \"", config.defaults.default_ca,
                                                  "\" (configured: ", configured, ")"));
  }
  const auto& prefs = config.defaults.challenge_preference;
  if (prefs.empty()) return ConfigError("defaults.challenge_preference", "must not be empty");
  for (size_t i = 0; i < prefs.size(); ++i) {
    std::string path = absl::StrCat("defaults.challenge_preference[", i, "]");
    if (prefs[i] != acme::kTlsAlpn01 && prefs[i] != acme::kHttp01) {
      return ConfigError(path, absl::StrCat("\"", prefs[i],
                                            "\" is not a supported challenge type "
                                            "(tls-alpn-01, http-01)"));
    }
    for (size_t j = 0; j < i; ++j) {
      if (prefs[j] == prefs[i]) return ConfigError(path, absl::StrCat("\"", prefs[i], "\" repeated"));
    }
  }
  if (config.defaults.renew_before <= absl::ZeroDuration()) {
    return ConfigError("defaults.renew_before", "must be positive");
  }
  if (config.defaults.renewal_check_interval < absl::Seconds(1)) {
    return ConfigError("defaults.renewal_check_interval", "must be at least 1s");
  }
  if (config.agents_allow_any && !IsLoopbackListenAddress(config.listen)) {
    // Any agent could then claim any name: only for a development stack on one machine.
    return ConfigError("agents.allow_any", absl::StrCat("only allowed when listen is a loopback "
                                                        "address (listen is ",
                                                        config.listen,
                                                        "); list the agents and their names"));
  }
  if (!config.agents_allow_any) {
    absl::StatusOr<agents::AgentPolicy> policy =
        agents::AgentPolicy::FromGrants(config.agent_grants);
    if (!policy.ok()) return ConfigError("agents.agents", std::string(policy.status().message()));
  }
  if (config.api_clients.empty() && !IsLoopbackListenAddress(config.listen)) {
    // Otherwise anyone who reaches the port could issue, revoke and deactivate.
    return ConfigError("api_clients",
                       absl::StrCat("required when listen (", config.listen,
                                    ") is not a loopback address: add {\"name\": ..., "
                                    "\"token_sha256\": ...} or {\"name\": ..., "
                                    "\"token_file\": ...} and pass the token with certfleet "
                                    "--token-file"));
  }
  if (absl::StatusOr<api::ApiAuthenticator> auth =
          api::ApiAuthenticator::FromClients(config.api_clients);
      !auth.ok()) {
    return ConfigError("api_clients", std::string(auth.status().message()));
  }
  if (!config.builtin_tls_alpn_listen.empty()) {
    RETURN_IF_ERROR(CheckListen("builtin_solver.tls_alpn_listen", config.builtin_tls_alpn_listen));
  }
  if (!config.builtin_http01_listen.empty()) {
    RETURN_IF_ERROR(CheckListen("builtin_solver.http01_listen", config.builtin_http01_listen));
  }
  return absl::OkStatus();
}

absl::StatusOr<ServerFlags> ParseServerFlags(const std::vector<std::string>& args) {
  ServerFlags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      flags.help = true;
      continue;
    }
    if (arg == "--insecure-plaintext") {
      flags.insecure_plaintext = true;
      continue;
    }
    std::string name = arg;
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    std::string* target = nullptr;
    if (name == "--config") target = &flags.config_path;
    if (name == "--listen") target = &flags.listen;
    if (name == "--db") target = &flags.database;
    if (name == "--port-file") target = &flags.port_file;
    if (name == "--log-level") target = &flags.log_level;
    if (target == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", name, " (see --help)"));
    }
    if (!has_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": missing value"));
      }
      value = args[++i];
    }
    *target = value;
  }
  return flags;
}

std::string ServerUsage() {
  return "usage: certfleet-server [--config FILE] [--listen HOST:PORT] [--db FILE]\n"
         "                        [--port-file FILE] [--log-level LEVEL] [--insecure-plaintext]\n"
         "\n"
         "  --config FILE        JSON configuration (CAs, defaults, agents, TLS, ...); the format\n"
         "                       is documented in README.md, \"Running it for a fleet\"\n"
         "  --listen HOST:PORT   gRPC listen address (overrides \"listen\"; default\n"
         "                       127.0.0.1:7443; port 0 = any free)\n"
         "  --db FILE            SQLite database (overrides \"database\")\n"
         "  --port-file FILE     write the bound gRPC port to FILE once serving\n"
         "  --log-level LEVEL    debug, info, warning or error\n"
         "  --insecure-plaintext allow plaintext gRPC on a non-loopback address\n";
}

absl::StatusOr<ServerConfig> BuildServerConfig(const ServerFlags& flags) {
  ServerConfig config;
  if (!flags.config_path.empty()) RETURN_IF_ERROR(LoadConfigFile(flags.config_path, &config));
  if (!flags.listen.empty()) config.listen = flags.listen;
  if (!flags.database.empty()) config.database = flags.database;
  if (flags.insecure_plaintext) config.insecure_plaintext = true;
  config.port_file = flags.port_file;
  if (config.defaults.default_ca.empty() && config.cas.size() == 1) {
    config.defaults.default_ca = config.cas.begin()->first;
  }
  RETURN_IF_ERROR(ValidateConfig(config));
  return config;
}

}  // namespace certfleet::server
