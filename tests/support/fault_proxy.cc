#include "tests/support/fault_proxy.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/crypto/base64url.h"
#include "common/crypto/openssl_ptr.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "tests/support/pebble_fixture.h"
#include "tests/support/test_pki.h"

namespace certfleet::testing {

using crypto::UniquePtr;

namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 1024 * 1024;
constexpr long kUpstreamTimeoutMs = 30000;

absl::Status OpenSslError(const char* what) {
  return absl::InternalError(absl::StrCat("fault proxy: OpenSSL failed: ", what));
}

// ---------------------------------------------------------------- HTTP helpers

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

// Headers that describe one hop and are never passed on.
bool IsHopByHop(const std::string& lower_name) {
  return lower_name == "connection" || lower_name == "keep-alive" ||
         lower_name == "transfer-encoding" || lower_name == "content-length" ||
         lower_name == "expect" || lower_name == "te" || lower_name == "upgrade" ||
         lower_name == "proxy-connection" || lower_name == "host";
}

struct Request {
  std::string method;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (absl::EqualsIgnoreCase(k, name)) return v;
    }
    return "";
  }
};

struct Response {
  int status = 0;  // 0 = drop the connection
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  void SetHeader(const std::string& name, const std::string& value) {
    for (auto it = headers.begin(); it != headers.end();) {
      it = absl::EqualsIgnoreCase(it->first, name) ? headers.erase(it) : it + 1;
    }
    headers.emplace_back(name, value);
  }
  std::string Header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (absl::EqualsIgnoreCase(k, name)) return v;
    }
    return "";
  }
};

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t AppendBody(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

size_t CollectHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* response = static_cast<Response*>(user);
  std::string line(data, size * nmemb);
  absl::StripTrailingAsciiWhitespace(&line);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new status line (after a 100 Continue, say): start over.
    response->headers.clear();
    return size * nmemb;
  }
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    response->headers.emplace_back(std::move(name), std::move(value));
  }
  return size * nmemb;
}

// The flattened JWS's protected header fields "nonce" and "url"; empty when the body is
// not a JWS.
void DecodeJws(const std::string& body, std::string* nonce, std::string* url) {
  if (body.empty()) return;
  try {
    nlohmann::json jws = nlohmann::json::parse(body);
    if (!jws.is_object() || !jws.contains("protected") || !jws["protected"].is_string()) return;
    auto decoded = crypto::Base64UrlDecode(jws["protected"].get<std::string>());
    if (!decoded.ok()) return;
    nlohmann::json header = nlohmann::json::parse(*decoded);
    if (header.contains("nonce") && header["nonce"].is_string()) {
      *nonce = header["nonce"].get<std::string>();
    }
    if (header.contains("url") && header["url"].is_string()) {
      *url = header["url"].get<std::string>();
    }
  } catch (const nlohmann::json::exception&) {
    // Not JSON: leave both empty.
  }
}

std::string ActionName(FaultAction action) {
  switch (action) {
    case FaultAction::kRetryAfterSeconds: return "retry-after-seconds";
    case FaultAction::kRetryAfterHttpDate: return "retry-after-date";
    case FaultAction::kServerError: return "server-error";
    case FaultAction::kNotFound: return "not-found";
    case FaultAction::kOrderNotReady: return "order-not-ready";
    case FaultAction::kHoldAndDrop: return "hold-and-drop";
  }
  return "?";
}

FaultRule MakeRule(FaultAction action, std::string method, std::string path_regex) {
  FaultRule rule;
  rule.action = action;
  rule.name = absl::StrCat(ActionName(action), " ", method.empty() ? "*" : method, " ",
                           path_regex);
  rule.method = std::move(method);
  rule.path_regex = std::move(path_regex);
  return rule;
}

}  // namespace

// ---------------------------------------------------------------- FaultRule

FaultRule FaultRule::RetryAfterSeconds(std::string method, std::string path_regex,
                                       int64_t seconds) {
  FaultRule rule = MakeRule(FaultAction::kRetryAfterSeconds, std::move(method),
                            std::move(path_regex));
  rule.retry_after_seconds = seconds;
  return rule;
}

FaultRule FaultRule::RetryAfterHttpDate(std::string method, std::string path_regex,
                                        int64_t seconds) {
  FaultRule rule = MakeRule(FaultAction::kRetryAfterHttpDate, std::move(method),
                            std::move(path_regex));
  rule.retry_after_seconds = seconds;
  return rule;
}

FaultRule FaultRule::ServerError(std::string method, std::string path_regex, int status) {
  FaultRule rule =
      MakeRule(FaultAction::kServerError, std::move(method), std::move(path_regex));
  rule.status = status;
  return rule;
}

FaultRule FaultRule::NotFound(std::string method, std::string path_regex) {
  return MakeRule(FaultAction::kNotFound, std::move(method), std::move(path_regex));
}

FaultRule FaultRule::OrderNotReady(std::string method, std::string path_regex) {
  return MakeRule(FaultAction::kOrderNotReady, std::move(method), std::move(path_regex));
}

FaultRule FaultRule::HoldAndDrop(std::string method, std::string path_regex,
                                 absl::Duration delay) {
  FaultRule rule =
      MakeRule(FaultAction::kHoldAndDrop, std::move(method), std::move(path_regex));
  rule.delay = delay;
  return rule;
}

FaultRule& FaultRule::Nth(int which) {
  match = FaultMatch::kNth;
  n = which;
  return *this;
}

FaultRule& FaultRule::First(int count) {
  match = FaultMatch::kFirstN;
  n = count;
  return *this;
}

FaultRule& FaultRule::PerPath() {
  per_path = true;
  return *this;
}

FaultRule& FaultRule::Named(std::string label) {
  name = std::move(label);
  return *this;
}

std::string FormatHttpDate(absl::Time t) {
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  absl::TimeZone::CivilInfo ci = absl::UTCTimeZone().At(t);
  int weekday = 0;
  switch (absl::GetWeekday(ci.cs)) {
    case absl::Weekday::sunday: weekday = 0; break;
    case absl::Weekday::monday: weekday = 1; break;
    case absl::Weekday::tuesday: weekday = 2; break;
    case absl::Weekday::wednesday: weekday = 3; break;
    case absl::Weekday::thursday: weekday = 4; break;
    case absl::Weekday::friday: weekday = 5; break;
    case absl::Weekday::saturday: weekday = 6; break;
  }
  return absl::StrFormat("%s, %02d %s %04d %02d:%02d:%02d GMT", kDays[weekday], ci.cs.day(),
                         kMonths[ci.cs.month() - 1], ci.cs.year(), ci.cs.hour(),
                         ci.cs.minute(), ci.cs.second());
}

// ---------------------------------------------------------------- Impl

struct FaultProxy::Impl {
  struct RuleState {
    FaultRule rule;
    std::regex re;
    int total = 0;
    std::map<std::string, int> per_path;
  };

  FaultProxyOptions options;
  std::string dir;
  int port = 0;
  int listen_fd = -1;
  int wake_pipe[2] = {-1, -1};
  UniquePtr<SSL_CTX> ssl_ctx;
  absl::Notification stopping;
  std::thread accept_thread;

  mutable absl::Mutex mu;
  std::vector<RuleState> rules ABSL_GUARDED_BY(mu);
  std::map<std::string, int> fired ABSL_GUARDED_BY(mu);
  std::vector<ProxyLogEntry> log ABSL_GUARDED_BY(mu);
  uint64_t log_generation ABSL_GUARDED_BY(mu) = 0;  // bumped by ClearLog
  std::set<int> open_fds ABSL_GUARDED_BY(mu);
  std::vector<std::thread> connection_threads ABSL_GUARDED_BY(mu);
  std::string new_nonce_path ABSL_GUARDED_BY(mu);
  int in_flight ABSL_GUARDED_BY(mu) = 0;  // requests read but not yet answered or dropped

  ~Impl() { Stop(); }

  void Stop() {
    if (!stopping.HasBeenNotified()) stopping.Notify();
    if (wake_pipe[1] >= 0) {
      char c = 'x';
      ssize_t ignored = write(wake_pipe[1], &c, 1);
      (void)ignored;
    }
    if (accept_thread.joinable()) accept_thread.join();
    std::vector<std::thread> threads;
    {
      absl::MutexLock lock(&mu);
      for (int fd : open_fds) shutdown(fd, SHUT_RDWR);
      threads.swap(connection_threads);
    }
    for (auto& t : threads) t.join();
    if (listen_fd >= 0) close(listen_fd);
    listen_fd = -1;
    for (int& fd : wake_pipe) {
      if (fd >= 0) close(fd);
      fd = -1;
    }
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }

  absl::Status Init() {
    dir = MakeTempDir("certfleet-fault-proxy");
    if (dir.empty()) return absl::InternalError("fault proxy: mkdtemp failed");
    ASSIGN_OR_RETURN(TestPki pki, MakeTestPki("certfleet fault proxy CA",
                                              "DNS:localhost,IP:127.0.0.1", "fault proxy"));
    RETURN_IF_ERROR(WritePem(dir + "/ca.pem", pki.ca_cert.get(), nullptr, "fault proxy"));
    ssl_ctx.reset(SSL_CTX_new(TLS_server_method()));
    if (!ssl_ctx) return OpenSslError("SSL_CTX_new");
    if (SSL_CTX_use_certificate(ssl_ctx.get(), pki.leaf_cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ssl_ctx.get(), pki.leaf_key.get()) != 1 ||
        SSL_CTX_add1_chain_cert(ssl_ctx.get(), pki.ca_cert.get()) != 1) {
      return OpenSslError("SSL_CTX certificate");
    }

    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) return absl::UnavailableError("fault proxy: socket failed");
    int one = 1;
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = 0;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd, 64) != 0 ||
        getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return absl::UnavailableError(
          absl::StrCat("fault proxy: bind/listen failed: ", strerror(errno)));
    }
    port = ntohs(addr.sin_port);
    if (pipe2(wake_pipe, O_CLOEXEC) != 0) return absl::UnavailableError("fault proxy: pipe");
    accept_thread = std::thread([this] { AcceptLoop(); });
    return absl::OkStatus();
  }

  absl::Status ReplaceRules(std::vector<FaultRule> new_rules) {
    std::vector<RuleState> states;
    for (auto& rule : new_rules) {
      RuleState state;
      try {
        state.re = std::regex(rule.path_regex, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        return absl::InvalidArgumentError(
            absl::StrCat("fault proxy: bad path regex '", rule.path_regex, "': ", e.what()));
      }
      state.rule = std::move(rule);
      states.push_back(std::move(state));
    }
    absl::MutexLock lock(&mu);
    rules = std::move(states);
    return absl::OkStatus();
  }

  void AcceptLoop() {
    while (!stopping.HasBeenNotified()) {
      pollfd fds[2] = {{listen_fd, POLLIN, 0}, {wake_pipe[0], POLLIN, 0}};
      int r = poll(fds, 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents != 0 || stopping.HasBeenNotified()) return;
      if ((fds[0].revents & POLLIN) == 0) continue;
      int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      absl::MutexLock lock(&mu);
      if (stopping.HasBeenNotified()) {
        close(fd);
        return;
      }
      open_fds.insert(fd);
      connection_threads.emplace_back([this, fd] { ServeConnection(fd); });
    }
  }

  // ------------------------------------------------------------ one connection

  void ServeConnection(int fd) {
    UniquePtr<SSL> ssl(SSL_new(ssl_ctx.get()));
    if (ssl && SSL_set_fd(ssl.get(), fd) == 1 && SSL_accept(ssl.get()) == 1) {
      std::string buffer;
      std::optional<Request> request;
      while (!stopping.HasBeenNotified() && (request = ReadRequest(ssl.get(), &buffer))) {
        if (!HandleOne(ssl.get(), *request)) break;
        if (absl::EqualsIgnoreCase(request->Header("Connection"), "close")) break;
      }
    }
    ssl.reset();
    absl::MutexLock lock(&mu);
    open_fds.erase(fd);
    close(fd);
  }

  static bool ReadMore(SSL* ssl, std::string* buffer) {
    char chunk[16384];
    int n = SSL_read(ssl, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buffer->append(chunk, static_cast<size_t>(n));
    return true;
  }

  static bool WriteAll(SSL* ssl, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      int n = SSL_write(ssl, data.data() + off, static_cast<int>(data.size() - off));
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads one request (headers + Content-Length body); nullopt on EOF or a malformed one.
  std::optional<Request> ReadRequest(SSL* ssl, std::string* buffer) {
    size_t end;
    while ((end = buffer->find("\r\n\r\n")) == std::string::npos) {
      if (buffer->size() > kMaxHeaderBytes || !ReadMore(ssl, buffer)) return std::nullopt;
    }
    std::string head = buffer->substr(0, end);
    buffer->erase(0, end + 4);
    std::vector<std::string> lines = absl::StrSplit(head, "\r\n");
    std::vector<std::string> parts = absl::StrSplit(lines[0], ' ', absl::SkipEmpty());
    if (parts.size() != 3) return std::nullopt;
    Request request;
    request.method = parts[0];
    request.path = parts[1];
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      request.headers.emplace_back(
          lines[i].substr(0, colon),
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1))));
    }
    if (absl::EqualsIgnoreCase(request.Header("Transfer-Encoding"), "chunked")) {
      return std::nullopt;  // ACME clients send Content-Length.
    }
    size_t length = 0;
    std::string cl = request.Header("Content-Length");
    if (!cl.empty() && (!absl::SimpleAtoi(cl, &length) || length > kMaxBodyBytes)) {
      return std::nullopt;
    }
    if (length > 0 && absl::StrContains(absl::AsciiStrToLower(request.Header("Expect")), "100-continue") &&
        buffer->empty()) {
      if (!WriteAll(ssl, "HTTP/1.1 100 Continue\r\n\r\n")) return std::nullopt;
    }
    while (buffer->size() < length) {
      if (!ReadMore(ssl, buffer)) return std::nullopt;
    }
    request.body = buffer->substr(0, length);
    buffer->erase(0, length);
    return request;
  }

  // Handles one request; false when the connection must be dropped.
  bool HandleOne(SSL* ssl, const Request& request) {
    ProxyLogEntry entry;
    entry.method = request.method;
    entry.path = request.path;
    entry.host = request.Header("Host");
    entry.received = absl::Now();
    DecodeJws(request.body, &entry.jws_nonce, &entry.jws_url);

    std::optional<FaultRule> rule;
    size_t index;
    uint64_t generation;
    {
      absl::MutexLock lock(&mu);
      rule = MatchLocked(request);
      if (rule) {
        entry.rule = rule->name;
        ++fired[rule->name];
      }
      ++in_flight;
      index = log.size();
      generation = log_generation;
      log.push_back(entry);
    }

    Response response;
    bool drop = false;
    if (!rule) {
      response = Forward(request, &entry.upstream_status);
    } else {
      switch (rule->action) {
        case FaultAction::kRetryAfterSeconds:
        case FaultAction::kRetryAfterHttpDate:
          response = Forward(request, &entry.upstream_status);
          if (entry.upstream_status != 0) {
            response.SetHeader(
                "Retry-After",
                rule->action == FaultAction::kRetryAfterSeconds
                    ? absl::StrCat(rule->retry_after_seconds)
                    : FormatHttpDate(absl::Now() + absl::Seconds(rule->retry_after_seconds)));
          }
          break;
        case FaultAction::kServerError:
          response.status = rule->status;
          response.headers = {{"Content-Type", "text/html; charset=utf-8"},
                              {"Cache-Control", "no-store"}};
          response.body = absl::StrCat(
              "<html><head><title>", rule->status, " ", ReasonPhrase(rule->status),
              "</title></head><body><h1>", rule->status, " ", ReasonPhrase(rule->status),
              "</h1><p>The CDN could not reach the origin.</p></body></html>\n");
          break;
        case FaultAction::kNotFound:
          response = Problem(404, "urn:ietf:params:acme:error:malformed",
                             absl::StrCat("Resource ", request.path, " not found"));
          break;
        case FaultAction::kOrderNotReady:
          response = Problem(403, "urn:ietf:params:acme:error:orderNotReady",
                             "Order's status (\"pending\") is not acceptable for finalization");
          break;
        case FaultAction::kHoldAndDrop:
          Forward(request, &entry.upstream_status);
          {
            absl::MutexLock lock(&mu);
            if (generation == log_generation && index < log.size()) log[index] = entry;
          }
          stopping.WaitForNotificationWithTimeout(rule->delay);
          drop = true;
          break;
      }
    }
    if (!drop) {
      entry.status = response.status;
      entry.retry_after = response.Header("Retry-After");
    }
    entry.responded = absl::Now();
    {
      absl::MutexLock lock(&mu);
      if (generation == log_generation && index < log.size()) log[index] = entry;
      --in_flight;
    }
    if (drop) return false;
    return WriteAll(ssl, Serialize(request, response));
  }

  std::optional<FaultRule> MatchLocked(const Request& request) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    std::optional<FaultRule> chosen;
    for (auto& state : rules) {
      if (!state.rule.method.empty() && state.rule.method != request.method) continue;
      if (!std::regex_match(request.path, state.re)) continue;
      int count = state.rule.per_path ? ++state.per_path[request.path] : ++state.total;
      bool fires = false;
      switch (state.rule.match) {
        case FaultMatch::kAll: fires = true; break;
        case FaultMatch::kNth: fires = count == state.rule.n; break;
        case FaultMatch::kFirstN: fires = count <= state.rule.n; break;
      }
      if (fires && !chosen) chosen = state.rule;
    }
    return chosen;
  }

  static std::string Serialize(const Request& request, const Response& response) {
    std::string out = absl::StrCat("HTTP/1.1 ", response.status, " ",
                                   ReasonPhrase(response.status), "\r\n");
    for (const auto& [k, v] : response.headers) {
      if (IsHopByHop(absl::AsciiStrToLower(k))) continue;
      absl::StrAppend(&out, k, ": ", v, "\r\n");
    }
    absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n\r\n");
    if (request.method != "HEAD") out += response.body;
    return out;
  }

  // An ACME problem document, with a fresh nonce from the upstream (as a CA would send).
  Response Problem(int status, const std::string& type, const std::string& detail) {
    Response response;
    response.status = status;
    response.headers = {{"Content-Type", "application/problem+json"},
                        {"Cache-Control", "no-store"}};
    nlohmann::json body = {{"type", type}, {"detail", detail}, {"status", status}};
    response.body = body.dump(2);
    std::string nonce = FetchNonce();
    if (!nonce.empty()) response.headers.emplace_back("Replay-Nonce", nonce);
    return response;
  }

  std::string FetchNonce() {
    std::string path;
    {
      absl::MutexLock lock(&mu);
      path = new_nonce_path;
    }
    int upstream_status = 0;
    if (path.empty()) {
      Request get_dir{"GET", options.directory_path, {}, ""};
      Response dir_response = Forward(get_dir, &upstream_status);
      try {
        nlohmann::json directory = nlohmann::json::parse(dir_response.body);
        std::string url = directory.at("newNonce").get<std::string>();
        size_t scheme = url.find("://");
        size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
        path = slash == std::string::npos ? "/" : url.substr(slash);
      } catch (const nlohmann::json::exception&) {
        return "";
      }
      absl::MutexLock lock(&mu);
      new_nonce_path = path;
    }
    Request head{"HEAD", path, {}, ""};
    return Forward(head, &upstream_status).Header("Replay-Nonce");
  }

  // Sends `request` to the upstream with its Host header; `*upstream_status` = its status
  // (0 on a transport failure, which becomes a 502 here).
  Response Forward(const Request& request, int* upstream_status) {
    EnsureCurlInitialized();
    Response response;
    CURL* curl = curl_easy_init();
    if (!curl) {
      response.status = 502;
      response.body = "fault proxy: curl_easy_init failed\n";
      return response;
    }
    std::string url = options.upstream_base_url + request.path;
    char error[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, kUpstreamTimeoutMs);
    curl_easy_setopt(curl, CURLOPT_CAINFO, options.upstream_ca_bundle_path.c_str());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
    struct curl_slist* headers = nullptr;
    for (const auto& [k, v] : request.headers) {
      if (IsHopByHop(absl::AsciiStrToLower(k))) continue;
      headers = curl_slist_append(headers, absl::StrCat(k, ": ", v).c_str());
    }
    std::string host = request.Header("Host");
    if (!host.empty()) headers = curl_slist_append(headers, ("Host: " + host).c_str());
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (request.method == "HEAD") {
      curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    } else if (request.method == "POST") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.c_str());
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.body.size()));
    } else if (request.method != "GET") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    if (rc != CURLE_OK) {
      *upstream_status = 0;
      response = Response{};
      response.status = 502;
      response.headers = {{"Content-Type", "text/plain"}};
      response.body = absl::StrCat("fault proxy: upstream ", url, ": ",
                                   error[0] ? error : curl_easy_strerror(rc), "\n");
      return response;
    }
    *upstream_status = static_cast<int>(status);
    response.status = static_cast<int>(status);
    return response;
  }
};

// ---------------------------------------------------------------- FaultProxy

FaultProxy::FaultProxy(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

FaultProxy::~FaultProxy() = default;

absl::StatusOr<std::unique_ptr<FaultProxy>> FaultProxy::Start(FaultProxyOptions options) {
  // A client hanging up mid-write must not kill the test binary.
  signal(SIGPIPE, SIG_IGN);
  auto impl = std::make_unique<Impl>();
  std::vector<FaultRule> rules = std::move(options.rules);
  impl->options = std::move(options);
  RETURN_IF_ERROR(impl->ReplaceRules(std::move(rules)));
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<FaultProxy>(new FaultProxy(std::move(impl)));
}

int FaultProxy::port() const { return impl_->port; }

std::string FaultProxy::base_url() const { return absl::StrCat("https://127.0.0.1:", port()); }

std::string FaultProxy::directory_url() const {
  return base_url() + impl_->options.directory_path;
}

std::string FaultProxy::ca_bundle_path() const { return impl_->dir + "/ca.pem"; }

absl::Status FaultProxy::SetRules(std::vector<FaultRule> rules) {
  return impl_->ReplaceRules(std::move(rules));
}

std::vector<ProxyLogEntry> FaultProxy::Log() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->log;
}

void FaultProxy::ClearLog() {
  absl::MutexLock lock(&impl_->mu);
  impl_->log.clear();
  ++impl_->log_generation;
}

bool FaultProxy::WaitUntilIdle(absl::Duration timeout) const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->mu.AwaitWithTimeout(
      absl::Condition(
          +[](Impl* impl) ABSL_NO_THREAD_SAFETY_ANALYSIS { return impl->in_flight == 0; },
          impl_.get()),
      timeout);
}

int FaultProxy::FiredCount(const std::string& rule_name) const {
  absl::MutexLock lock(&impl_->mu);
  auto it = impl_->fired.find(rule_name);
  return it == impl_->fired.end() ? 0 : it->second;
}

}  // namespace certfleet::testing
