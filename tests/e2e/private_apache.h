#pragma once

// A private Apache httpd (Debian's /usr/sbin/apache2) for the end-to-end tests: its own
// self-contained httpd.conf under WORK_DIR/apache, a free loopback port, one HTTPS
// VirtualHost per name whose certificate and key live where certfleet-agent installs them
// (<cert-dir>/<name>/fullchain.pem and privkey.pem). It runs with -DFOREGROUND, the normal
// multi-process server only without detaching, so that it is a child of the test: `-k
// graceful` and `-k stop` work as on a real host and the test can wait for it.

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/x509.h"
#include "tests/e2e/e2e_process.h"

namespace certfleet::e2e {

// Debian's apache2 binary (used directly: apachectl does not pass -f through).
inline constexpr char kApacheBinary[] = "/usr/sbin/apache2";

// How a test's TLS connection reaches a server on loopback.
struct TlsRoute {
  int port = 0;
  bool local_proxy_header = false;  // Send a PROXY v2 LOCAL header before the handshake.
  const char* source = "127.0.0.1";  // The client's source address (any 127/8 address).
  bool http_request = false;  // Send "GET /" after the handshake and read the response.
};

// The chain presented on a fresh TLS connection to `route` with SNI `name` (leaf first), no
// verification; with `route.http_request`, also the HTTP status line answered.
absl::StatusOr<std::vector<crypto::Certificate>> ServedChain(const std::string& name,
                                                              const TlsRoute& route,
                                                              std::string* status_line = nullptr);

// The leaf's serial presented for `name` on `route`; "" when the handshake fails.
std::string ServedSerial(const std::string& name, const TlsRoute& route);

// The pid in the pid file at `path`; 0 while it is absent or unreadable.
pid_t ReadPidFile(const std::string& path);

// Writes a throwaway self-signed certificate for `name` (CN certfleet-e2e-seed) into
// CERT_DIR/NAME where the agent installs, so that Apache can start before any issuance.
absl::Status SeedCertificate(const std::string& cert_dir, const std::string& name,
                             const std::string& work_dir);

// One private Apache instance.
class PrivateApache {
 public:
  // What the instance serves beyond the shared skeleton.
  struct Options {
    std::vector<std::string> names;  // One VirtualHost each, seeded before the start.
    std::vector<std::string> extra_modules;  // "remoteip_module mod_remoteip.so"
    std::string extra_config;  // Global directives appended after the skeleton's.
  };

  // Paths under WORK_DIR/apache; certificates under `cert_dir`. Nothing runs yet.
  PrivateApache(std::string work_dir, std::string cert_dir);
  PrivateApache(const PrivateApache&) = delete;
  PrivateApache& operator=(const PrivateApache&) = delete;

  // Picks a free port, seeds the names, writes and checks (-t) the config, starts Apache and
  // waits up to `timeout` until `serving` holds; FailedPrecondition when -t rejects the
  // config, Unavailable with the logs when Apache does not start.
  absl::Status Start(const Options& options, const std::function<bool()>& serving,
                     absl::Duration timeout);
  // The way an operator stops it (`-k stop`); expects (gtest) a clean exit. No-op when it
  // does not run.
  void Stop();

  // True while the Apache master process runs.
  bool Running() { return daemon_ != nullptr && daemon_->Running(); }
  // The master's process id (the test's child).
  pid_t pid() const { return daemon_ != nullptr ? daemon_->pid() : 0; }
  // The pid in Apache's PidFile; 0 while it is absent.
  pid_t PidFromFile() const { return ReadPidFile(pid_file_); }
  // The shell command that gracefully restarts it.
  std::string GracefulCommand() const;
  // `apache2 -f CONF ARGS...` run to completion.
  CommandResult Control(const std::vector<std::string>& args) const;

  int port() const { return port_; }  // Its HTTPS port on 127.0.0.1.
  const std::string& dir() const { return dir_; }  // ServerRoot.
  const std::string& conf() const { return conf_; }  // httpd.conf.
  const std::string& pid_file() const { return pid_file_; }  // PidFile.
  const std::string& error_log() const { return error_log_; }  // ErrorLog.
  const std::string& access_log() const { return access_log_; }  // Free for a CustomLog.
  // Apache's own output so far and its error log.
  std::string Logs() const;

 private:
  std::string Config(const Options& options) const;

  std::string work_dir_;
  std::string cert_dir_;
  std::string dir_;
  std::string conf_;
  std::string pid_file_;
  std::string error_log_;
  std::string access_log_;
  int port_ = 0;
  std::unique_ptr<Daemon> daemon_;
};

}  // namespace certfleet::e2e
