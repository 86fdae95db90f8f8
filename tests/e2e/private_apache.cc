#include "tests/e2e/private_apache.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto/openssl_ptr.h"
#include "gtest/gtest.h"
#include "tests/e2e/e2e_stack.h"
#include "tests/support/pebble_fixture.h"

namespace certfleet::e2e {
namespace {

constexpr char kModules[] = "/usr/lib/apache2/modules";
constexpr absl::Duration kCommandTimeout = absl::Seconds(60);

}  // namespace

absl::StatusOr<std::vector<crypto::Certificate>> ServedChain(const std::string& name,
                                                              const TlsRoute& route,
                                                              std::string* status_line) {
  crypto::UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (ctx == nullptr) return absl::InternalError("SSL_CTX_new failed");
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in src{};
  src.sin_family = AF_INET;
  inet_pton(AF_INET, route.source, &src.sin_addr);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(route.port));
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("cannot connect to port ", route.port));
  }
  if (route.local_proxy_header) {
    static const char kLocal[16] = {'\r', '\n', '\r', '\n', 0, '\r', '\n', 'Q',
                                    'U',  'I',  'T',  '\n', 0x20, 0, 0, 0};
    if (send(fd, kLocal, sizeof kLocal, MSG_NOSIGNAL) != sizeof kLocal) {
      close(fd);
      return absl::UnavailableError("cannot send the PROXY header");
    }
  }
  crypto::UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), name.c_str());
  static const unsigned char kAlpn[] = "\x02h2\x08http/1.1";
  SSL_set_alpn_protos(ssl.get(), kAlpn, sizeof kAlpn - 1);
  if (SSL_connect(ssl.get()) != 1) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("TLS handshake on port ", route.port, " failed"));
  }
  std::vector<crypto::Certificate> chain;
  STACK_OF(X509)* peer_chain = SSL_get_peer_cert_chain(ssl.get());
  for (int i = 0; peer_chain != nullptr && i < sk_X509_num(peer_chain); ++i) {
    unsigned char* der = nullptr;
    int len = i2d_X509(sk_X509_value(peer_chain, i), &der);
    if (len <= 0) break;
    std::string bytes(reinterpret_cast<char*>(der), static_cast<size_t>(len));
    OPENSSL_free(der);
    absl::StatusOr<crypto::Certificate> cert = crypto::Certificate::FromDer(bytes);
    if (!cert.ok()) break;
    chain.push_back(*std::move(cert));
  }
  if (route.http_request) {
    // Apache selects http/1.1 (mod_http2 is not loaded).
    std::string request = absl::StrCat("GET / HTTP/1.1\r\nHost: ", name,
                                       "\r\nConnection: close\r\n\r\n");
    SSL_write(ssl.get(), request.data(), static_cast<int>(request.size()));
    std::string response;
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl.get(), buf, sizeof buf)) > 0) response.append(buf, n);
    if (status_line != nullptr) *status_line = response.substr(0, response.find("\r\n"));
  }
  SSL_shutdown(ssl.get());
  close(fd);
  if (chain.empty()) return absl::UnavailableError("no certificate presented");
  return chain;
}

std::string ServedSerial(const std::string& name, const TlsRoute& route) {
  absl::StatusOr<std::vector<crypto::Certificate>> chain = ServedChain(name, route);
  return chain.ok() ? chain->front().SerialHex() : "";
}

pid_t ReadPidFile(const std::string& path) {
  int pid = 0;
  std::string text(absl::StripAsciiWhitespace(ReadFileOrEmpty(path)));
  return absl::SimpleAtoi(text, &pid) ? pid : 0;
}

absl::Status SeedCertificate(const std::string& cert_dir, const std::string& name,
                             const std::string& work_dir) {
  std::string dir = absl::StrCat(cert_dir, "/", name);
  std::filesystem::create_directories(dir);
  CommandResult r = RunCommand(
      {"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:P-256", "-nodes", "-keyout", dir + "/privkey.pem", "-out",
       dir + "/fullchain.pem", "-days", "2", "-subj", "/CN=certfleet-e2e-seed", "-addext",
       "subjectAltName=DNS:" + name},
      work_dir, kCommandTimeout);
  if (r.exit_code != 0) {
    return absl::InternalError(absl::StrCat("openssl req failed (", r.exit_code, "):\n", r.out,
                                            r.err));
  }
  chmod((dir + "/privkey.pem").c_str(), 0600);
  return absl::OkStatus();
}

PrivateApache::PrivateApache(std::string work_dir, std::string cert_dir)
    : work_dir_(std::move(work_dir)),
      cert_dir_(std::move(cert_dir)),
      dir_(work_dir_ + "/apache"),
      conf_(dir_ + "/httpd.conf"),
      pid_file_(dir_ + "/httpd.pid"),
      error_log_(dir_ + "/error.log"),
      access_log_(dir_ + "/access.log") {}

// A self-contained httpd.conf: nothing from /etc/apache2, everything under dir_.
std::string PrivateApache::Config(const Options& options) const {
  const std::string& d = dir_;
  std::string conf = absl::StrCat(
      "ServerRoot \"", d, "\"\n",
      "DefaultRuntimeDir \"", d, "\"\n",
      "PidFile \"", pid_file_, "\"\n",
      "ErrorLog \"", error_log_, "\"\n",
      "LogLevel info\n",
      "Mutex file:", d, " default\n",
      "LoadModule mpm_event_module ", kModules, "/mod_mpm_event.so\n",
      "LoadModule authz_core_module ", kModules, "/mod_authz_core.so\n",
      "LoadModule socache_shmcb_module ", kModules, "/mod_socache_shmcb.so\n",
      "LoadModule ssl_module ", kModules, "/mod_ssl.so\n");
  for (const std::string& module : options.extra_modules) {
    std::pair<std::string, std::string> parts = absl::StrSplit(module, ' ');
    absl::StrAppend(&conf, "LoadModule ", parts.first, " ", kModules, "/", parts.second, "\n");
  }
  absl::StrAppend(
      &conf,
      // The parent runs as root (it reads the 0600 keys); workers drop to www-data.
      "User www-data\n",
      "Group www-data\n",
      "ServerName localhost\n",
      "StartServers 1\n",
      "Listen 127.0.0.1:", port_, " https\n",
      "SSLSessionCache shmcb:", d, "/ssl_scache(512000)\n",
      options.extra_config,
      "<Location />\n  Require all denied\n</Location>\n");
  for (const std::string& name : options.names) {
    std::string dir = absl::StrCat(cert_dir_, "/", name);
    absl::StrAppend(&conf, "<VirtualHost 127.0.0.1:", port_, ">\n",
                    "  ServerName ", name, "\n",
                    "  SSLEngine on\n",
                    "  SSLCertificateFile \"", dir, "/fullchain.pem\"\n",
                    "  SSLCertificateKeyFile \"", dir, "/privkey.pem\"\n",
                    "</VirtualHost>\n");
  }
  return conf;
}

absl::Status PrivateApache::Start(const Options& options, const std::function<bool()>& serving,
                                  absl::Duration timeout) {
  std::filesystem::create_directories(dir_);
  // Workers (www-data) may reopen the mutex file under dir_.
  chmod(work_dir_.c_str(), 0711);
  chmod(dir_.c_str(), 0755);
  port_ = testing::PickFreePort();
  for (const std::string& name : options.names) {
    absl::Status seeded = SeedCertificate(cert_dir_, name, work_dir_);
    if (!seeded.ok()) return seeded;
  }
  absl::Status written = WriteOrFail(conf_, Config(options), 0644);
  if (!written.ok()) return written;

  CommandResult check = Control({"-t"});
  if (check.exit_code != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "apache2 -t rejected the config (", check.exit_code, "):\n", check.out, check.err,
        "\n--- ", conf_, ":\n", ReadFileOrEmpty(conf_)));
  }
  auto daemon = Daemon::Spawn({kApacheBinary, "-f", conf_, "-DFOREGROUND"},
                              dir_ + "/stdout.log");
  if (!daemon.ok()) return daemon.status();
  daemon_ = *std::move(daemon);
  bool up = PollUntil([&] { return !daemon_->Running() || serving(); }, timeout);
  if (!up || !daemon_->Running()) {
    return absl::UnavailableError(absl::StrCat("Apache did not start:\n", Logs()));
  }
  return absl::OkStatus();
}

void PrivateApache::Stop() {
  if (!Running()) return;
  // The way an operator stops it: SIGTERM to the PidFile's process.
  CommandResult r = Control({"-k", "stop"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(daemon_->Wait(absl::Seconds(30)), 0) << ReadFileOrEmpty(error_log_);
}

std::string PrivateApache::GracefulCommand() const {
  return absl::StrCat(kApacheBinary, " -f ", ShellQuote(conf_), " -k graceful");
}

CommandResult PrivateApache::Control(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {kApacheBinary, "-f", conf_};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, work_dir_, kCommandTimeout);
}

std::string PrivateApache::Logs() const {
  return absl::StrCat(daemon_ != nullptr ? daemon_->Log() : "", ReadFileOrEmpty(error_log_));
}

}  // namespace certfleet::e2e
