#include "tests/support/pebble_fixture.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/crypto/openssl_ptr.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/test_pki.h"

namespace certfleet::testing {

using crypto::UniquePtr;
using child_process::ReadFileOrEmpty;

namespace {

constexpr auto kStartTimeout = std::chrono::seconds(30);
constexpr auto kPollPause = std::chrono::milliseconds(50);
constexpr absl::Duration kStopGrace = absl::Seconds(5);
constexpr absl::Duration kStopPoll = absl::Milliseconds(10);
constexpr int kStartAttempts = 3;
constexpr size_t kLogTailBytes = 3000;

// ---------------------------------------------------------------- files

absl::Status WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) return absl::InternalError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::string Tail(const std::string& text, size_t n) {
  if (text.size() <= n) return text;
  return "..." + text.substr(text.size() - n);
}

// Finds `name` on $PATH; empty when absent.
std::string FindExecutable(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::stringstream ss(dirs);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string candidate = dir + "/" + name;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// ---------------------------------------------------------------- certificates

// Writes ca.pem (trust bundle), cert.pem and key.pem (Pebble's listener) into `dir`.
absl::Status GenerateListenerCertificates(const std::string& dir) {
  ASSIGN_OR_RETURN(TestPki pki, MakeTestPki("certfleet test listener CA",
                                            "DNS:localhost,IP:127.0.0.1,IP:::1",
                                            "pebble fixture"));
  RETURN_IF_ERROR(WritePem(dir + "/ca.pem", pki.ca_cert.get(), nullptr, "pebble fixture"));
  RETURN_IF_ERROR(WritePem(dir + "/cert.pem", pki.leaf_cert.get(), nullptr, "pebble fixture"));
  RETURN_IF_ERROR(WritePem(dir + "/key.pem", nullptr, pki.leaf_key.get(), "pebble fixture"));
  return absl::OkStatus();
}

// ---------------------------------------------------------------- HTTP

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t AppendBody(char* data, size_t size, size_t nmemb, void* user) {
  static_cast<std::string*>(user)->append(data, size * nmemb);
  return size * nmemb;
}

struct HttpResult {
  long status = 0;
  std::string body;
};

// One request with short timeouts. `ca_bundle` empty = plain HTTP. `post_body` set = POST.
absl::StatusOr<HttpResult> HttpRequest(const std::string& url, const std::string& ca_bundle,
                                       const std::string* post_body, long timeout_ms) {
  EnsureCurlInitialized();
  CURL* curl = curl_easy_init();
  if (!curl) return absl::InternalError("curl_easy_init failed");
  HttpResult result;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, std::min(timeout_ms, 2000L));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &result.body);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  if (!ca_bundle.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_bundle.c_str());
  struct curl_slist* headers = nullptr;
  if (post_body) {
    headers = curl_slist_append(headers, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, post_body->c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(post_body->size()));
  }
  CURLcode rc = curl_easy_perform(curl);
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &result.status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (rc != CURLE_OK) {
    return absl::UnavailableError(
        absl::StrCat(url, ": ", error[0] ? error : curl_easy_strerror(rc)));
  }
  return result;
}

bool CanConnect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// Sends one DNS A query over UDP to 127.0.0.1:`port` and waits briefly for any answer.
bool DnsAnswers(int port) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Header: id 0x4346, RD, one question; then "ready.test" A IN.
  static const unsigned char kQuery[] = {0x43, 0x46, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
                                         0x00, 0x00, 5,    'r',  'e',  'a',  'd',  'y',  4,    't',
                                         'e',  's',  't',  0,    0x00, 0x01, 0x00, 0x01};
  bool ok = false;
  if (sendto(fd, kQuery, sizeof(kQuery), 0, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) ==
      static_cast<ssize_t>(sizeof(kQuery))) {
    pollfd p{fd, POLLIN, 0};
    unsigned char reply[512];
    if (poll(&p, 1, 200) == 1) {
      ssize_t n = recv(fd, reply, sizeof(reply), 0);
      ok = n >= 2 && reply[0] == 0x43 && reply[1] == 0x46;
    }
  }
  close(fd);
  return ok;
}

// ---------------------------------------------------------------- processes

struct Child {
  pid_t pid = -1;  // -1 until started.
  bool reaped = false;
  int exit_code = -1;
  std::string name;
  std::string log_path;
};

// Starts `argv` (argv[0] a full path) with `env` added to this process's environment,
// stdout+stderr appended to `log_path`. The child is killed if the spawning thread dies.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv,
                            const std::map<std::string, std::string>& env,
                            const std::string& log_path) {
  child_process::SpawnOptions spawn;
  spawn.stdout_path = log_path;
  spawn.stderr_path = log_path;
  spawn.append = true;
  spawn.env = env;
  return child_process::Spawn(argv, spawn);
}

// True (and reaps it) when the child has exited or was never started.
bool HasExited(Child& child) {
  if (child.pid <= 0) return true;
  return !child_process::Running(child.pid, &child.reaped, &child.exit_code);
}

// SIGTERM, a bounded wait, then SIGKILL; always reaps.
void StopChild(Child& child) {
  if (child.pid <= 0 || child.reaped) return;
  kill(child.pid, SIGTERM);
  child_process::Wait(child.pid, kStopGrace, kStopPoll, &child.reaped, &child.exit_code);
}

// Pebble's fairness settings, overridden by `options.env`.
std::map<std::string, std::string> PebbleEnvironment(const PebbleOptions& options) {
  std::map<std::string, std::string> vars = {
      {"PEBBLE_VA_NOSLEEP", "1"}, {"PEBBLE_WFE_NONCEREJECT", "0"}, {"PEBBLE_AUTHZREUSE", "0"}};
  for (const auto& [k, v] : options.env) vars[k] = v;
  return vars;
}

bool CurrentTestFailed() {
  auto* unit = ::testing::UnitTest::GetInstance();
  if (unit == nullptr) return false;
  if (unit->current_test_info() != nullptr) return ::testing::Test::HasFailure();
  return unit->Failed();
}

}  // namespace

// ---------------------------------------------------------------- fixture

struct PebbleFixture::Impl {
  PebbleOptions options;
  std::string dir;
  int pebble_port = 0;
  int pebble_mgmt_port = 0;
  int dns_port = 0;
  int chall_mgmt_port = 0;
  Child pebble;
  Child challtestsrv;

  ~Impl() {
    StopChild(pebble);
    StopChild(challtestsrv);
  }

  std::string Logs() const {
    return absl::StrCat("--- pebble log (", pebble.log_path, "):\n",
                        Tail(ReadFileOrEmpty(pebble.log_path), kLogTailBytes),
                        "\n--- challtestsrv log (", challtestsrv.log_path, "):\n",
                        Tail(ReadFileOrEmpty(challtestsrv.log_path), kLogTailBytes));
  }

  absl::Status WriteConfig() const {
    nlohmann::json p;
    p["listenAddress"] = absl::StrCat("127.0.0.1:", pebble_port);
    p["managementListenAddress"] = absl::StrCat("127.0.0.1:", pebble_mgmt_port);
    p["certificate"] = dir + "/cert.pem";
    p["privateKey"] = dir + "/key.pem";
    p["httpPort"] = options.http_port > 0 ? options.http_port : 5002;
    p["tlsPort"] = options.tls_port > 0 ? options.tls_port : 5001;
    p["ocspResponderURL"] = "";
    p["externalAccountBindingRequired"] = options.require_eab;
    if (options.require_eab) {
      p["externalAccountMACKeys"] = {{kEabKid1, kEabHmac1}, {kEabKid2, kEabHmac2}};
    }
    if (!options.domain_blocklist.empty()) p["domainBlocklist"] = options.domain_blocklist;
    if (options.certificate_validity_seconds > 0) {
      p["certificateValidityPeriod"] = options.certificate_validity_seconds;
    }
    nlohmann::json config;
    config["pebble"] = p;
    return WriteFile(dir + "/pebble-config.json", config.dump(2));
  }

  // Starts both processes and waits until they serve. `*port_race` is set when a process
  // exited complaining that its address was taken.
  absl::Status StartProcesses(bool* port_race) {
    *port_race = false;
    std::string pebble_bin = FindExecutable("pebble");
    std::string chall_bin = FindExecutable("pebble-challtestsrv");
    if (pebble_bin.empty() || chall_bin.empty()) {
      return absl::UnavailableError(
          "pebble fixture: `pebble` or `pebble-challtestsrv` not on PATH "
          "(apt-get install pebble)");
    }
    pebble_port = PickFreePort();
    pebble_mgmt_port = PickFreePort();
    dns_port = PickFreePort();
    chall_mgmt_port = PickFreePort();
    if (pebble_port <= 0 || pebble_mgmt_port <= 0 || dns_port <= 0 || chall_mgmt_port <= 0) {
      return absl::UnavailableError("pebble fixture: cannot pick free ports");
    }
    RETURN_IF_ERROR(WriteConfig());
    std::map<std::string, std::string> env = PebbleEnvironment(options);

    challtestsrv.name = "pebble-challtestsrv";
    challtestsrv.log_path = dir + "/challtestsrv.log";
    std::vector<std::string> chall_argv = {chall_bin,
                                           "-dns01",
                                           absl::StrCat("127.0.0.1:", dns_port),
                                           "-http01",
                                           "",
                                           "-https01",
                                           "",
                                           "-tlsalpn01",
                                           "",
                                           "-management",
                                           absl::StrCat("127.0.0.1:", chall_mgmt_port),
                                           "-defaultIPv6",
                                           "",
                                           "-defaultIPv4",
                                           options.default_ipv4};
    ASSIGN_OR_RETURN(challtestsrv.pid, Spawn(chall_argv, env, challtestsrv.log_path));

    pebble.name = "pebble";
    pebble.log_path = dir + "/pebble.log";
    std::vector<std::string> pebble_argv = {pebble_bin, "-config", dir + "/pebble-config.json",
                                            "-dnsserver", absl::StrCat("127.0.0.1:", dns_port)};
    if (options.strict) pebble_argv.push_back("-strict");
    ASSIGN_OR_RETURN(pebble.pid, Spawn(pebble_argv, env, pebble.log_path));

    const std::string dir_url = absl::StrCat("https://127.0.0.1:", pebble_port, "/dir");
    const std::string ca = dir + "/ca.pem";
    auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    bool chall_ready = false;
    bool pebble_ready = false;
    std::string last_error = "not polled yet";
    while (true) {
      for (Child* child : {&challtestsrv, &pebble}) {
        if (HasExited(*child)) {
          std::string log = ReadFileOrEmpty(child->log_path);
          *port_race = absl::StrContains(log, "address already in use");
          return absl::UnavailableError(absl::StrCat("pebble fixture: ", child->name,
                                                     " exited during start (exit code ",
                                                     child->exit_code, ")\n", Logs()));
        }
      }
      if (!chall_ready) chall_ready = CanConnect(chall_mgmt_port) && DnsAnswers(dns_port);
      if (!pebble_ready) {
        auto r = HttpRequest(dir_url, ca, nullptr, 2000);
        if (!r.ok()) {
          last_error = std::string(r.status().message());
        } else if (r->status != 200 || !absl::StrContains(r->body, "newNonce")) {
          last_error = absl::StrCat("HTTP ", r->status, ": ", Tail(r->body, 300));
        } else {
          pebble_ready = true;
        }
      }
      if (chall_ready && pebble_ready) return absl::OkStatus();
      if (std::chrono::steady_clock::now() >= deadline) {
        return absl::UnavailableError(
            absl::StrCat("pebble fixture: not ready after 30 s (challtestsrv management/DNS ",
                         chall_ready ? "up" : "down",
                         ", directory: ", pebble_ready ? "ok" : last_error, ")\n", Logs()));
      }
      std::this_thread::sleep_for(kPollPause);
    }
  }
};

PebbleFixture::PebbleFixture(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<PebbleFixture>> PebbleFixture::Start(const PebbleOptions& options) {
  absl::Status last;
  for (int attempt = 1; attempt <= kStartAttempts; ++attempt) {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->dir = MakeTempDir("certfleet-pebble");
    if (impl->dir.empty()) {
      return absl::UnavailableError(absl::StrCat("pebble fixture: mkdtemp: ", strerror(errno)));
    }
    absl::Status s = GenerateListenerCertificates(impl->dir);
    bool port_race = false;
    if (s.ok()) s = impl->StartProcesses(&port_race);
    if (s.ok()) return std::unique_ptr<PebbleFixture>(new PebbleFixture(std::move(impl)));
    std::string dir = impl->dir;
    impl.reset();  // Stops whatever started.
    last = s;
    if (!port_race || attempt == kStartAttempts) {
      std::cerr << "pebble fixture: start failed; logs kept in " << dir << std::endl;
      return absl::Status(s.code(), absl::StrCat(s.message(), "\n(work dir ", dir, ")"));
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  return last;
}

PebbleFixture::~PebbleFixture() {
  std::string dir = impl_->dir;
  impl_.reset();  // Stops and reaps both processes.
  const char* keep = std::getenv("CERTFLEET_KEEP_PEBBLE_LOGS");
  if (CurrentTestFailed() || (keep != nullptr && std::string(keep) == "1")) {
    std::cerr << "pebble fixture: logs kept in " << dir << std::endl;
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

std::string PebbleFixture::directory_url() const {
  return absl::StrCat("https://127.0.0.1:", impl_->pebble_port, "/dir");
}

std::string PebbleFixture::ca_bundle_path() const { return impl_->dir + "/ca.pem"; }

std::string PebbleFixture::management_url() const {
  return absl::StrCat("https://127.0.0.1:", impl_->pebble_mgmt_port);
}

absl::StatusOr<std::string> PebbleFixture::ManagementGet(const std::string& path) const {
  ASSIGN_OR_RETURN(HttpResult r,
                   HttpRequest(management_url() + path, ca_bundle_path(), nullptr, 10000));
  if (r.status != 200) {
    return absl::UnavailableError(
        absl::StrCat("pebble management GET ", path, ": HTTP ", r.status, ": ", Tail(r.body, 300)));
  }
  return r.body;
}

absl::Status PebbleFixture::AddARecord(const std::string& name, const std::string& ipv4) const {
  nlohmann::json body = {{"host", name}, {"addresses", {ipv4}}};
  std::string text = body.dump();
  ASSIGN_OR_RETURN(HttpResult r,
                   HttpRequest(absl::StrCat("http://127.0.0.1:", impl_->chall_mgmt_port, "/add-a"),
                               "", &text, 10000));
  if (r.status != 200) {
    return absl::UnavailableError(
        absl::StrCat("challtestsrv /add-a: HTTP ", r.status, ": ", Tail(r.body, 300)));
  }
  return absl::OkStatus();
}

absl::Status PebbleFixture::ClearARecord(const std::string& name) const {
  nlohmann::json body = {{"host", name}};
  std::string text = body.dump();
  ASSIGN_OR_RETURN(
      HttpResult r,
      HttpRequest(absl::StrCat("http://127.0.0.1:", impl_->chall_mgmt_port, "/clear-a"), "", &text,
                  10000));
  if (r.status != 200) {
    return absl::UnavailableError(
        absl::StrCat("challtestsrv /clear-a: HTTP ", r.status, ": ", Tail(r.body, 300)));
  }
  return absl::OkStatus();
}

const PebbleOptions& PebbleFixture::options() const { return impl_->options; }

std::string PebbleFixture::work_dir() const { return impl_->dir; }

std::string PebbleFixture::PebbleLog() const { return ReadFileOrEmpty(impl_->pebble.log_path); }

std::string PebbleFixture::ChallTestSrvLog() const {
  return ReadFileOrEmpty(impl_->challtestsrv.log_path);
}

int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = 0;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string MakeTempDir(const std::string& prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = (tmp && *tmp) ? tmp : "/tmp";
  std::string templ = base + "/" + prefix + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) return "";
  return std::string(buf.data());
}

}  // namespace certfleet::testing
