#pragma once

// Installs issued certificates on the host, certbot-style:
//   <cert_dir>/<name>/{fullchain,chain,cert,privkey}.pem   (privkey 0600, others 0644)
//   <cert_dir>/<name>/previous/...                           the version before
// then runs the reload command; a failed reload restores the previous files.

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace certfleet::agent {

// File names inside a certificate's folder.
inline constexpr char kFullchainFile[] = "fullchain.pem";
inline constexpr char kChainFile[] = "chain.pem";
inline constexpr char kCertFile[] = "cert.pem";
inline constexpr char kPrivkeyFile[] = "privkey.pem";
inline constexpr char kPreviousDir[] = "previous";

// What InstallCertificate did.
struct InstallOutcome {
  // OK when the files are in place and the reload command succeeded (or none is set).
  // InvalidArgument for bad input (nothing written); FailedPrecondition when the reload
  // failed (previous files restored); Internal/DeadlineExceeded otherwise.
  absl::Status status;
  // The reload command's exit status; -1 when it was not run (or was killed on timeout).
  int reload_exit_status = -1;
  // Whether the reload command was started.
  bool reload_run = false;
  // The certificate's folder (set once the files were written).
  std::string install_path;
};

// Checks that `name` is usable as one path component: 1-255 bytes, not "." or "..", no
// '/' or NUL. InvalidArgument naming the problem otherwise.
absl::Status ValidateCertificateName(absl::string_view name);

class CertificateInstaller {
 public:
  struct Options {
    // Folder holding one sub-folder per certificate; created (0755) when missing.
    std::string cert_dir;
    // Run with /bin/sh -c after writing; empty: no reload.
    std::string reload_command;
    // The reload command is killed after this long.
    absl::Duration reload_timeout = absl::Seconds(60);
  };

  explicit CertificateInstaller(Options options) : options_(std::move(options)) {}

  // Validates (name safe, chain parses, key parses and matches the leaf), writes the files
  // atomically keeping the previous version, runs the reload command, and restores the
  // previous files when the reload fails. Not thread-safe: call from one thread.
  InstallOutcome Install(absl::string_view certificate_name, absl::string_view fullchain_pem,
                         absl::string_view private_key_pem);

  const Options& options() const { return options_; }

 private:
  Options options_;
};

}  // namespace certfleet::agent
