#include "client/agent/certificate_installer.h"

#include <array>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/agent/atomic_file.h"
#include "client/agent/command_runner.h"
#include "common/crypto/key.h"
#include "common/crypto/x509.h"
#include "common/log.h"

namespace certfleet::agent {
namespace {

constexpr mode_t kPublicMode = 0644;
constexpr mode_t kKeyMode = 0600;
constexpr mode_t kDirMode = 0755;

// The four files of one version, in write order (key last, so a reader that sees the new
// key also sees the new certificate).
struct FileSet {
  static constexpr std::array<const char*, 4> kNames = {kCertFile, kChainFile,
                                                        kFullchainFile, kPrivkeyFile};
  // Indexed as kNames; nullopt when the file is absent.
  std::array<std::optional<std::string>, 4> contents;

  bool Empty() const {
    for (const auto& c : contents) {
      if (c.has_value()) return false;
    }
    return true;
  }
};

mode_t ModeFor(const char* name) {
  return absl::string_view(name) == kPrivkeyFile ? kKeyMode : kPublicMode;
}

absl::StatusOr<FileSet> ReadFileSet(const std::string& dir) {
  FileSet set;
  for (size_t i = 0; i < FileSet::kNames.size(); ++i) {
    absl::StatusOr<std::optional<std::string>> c =
        ReadFileIfExists(absl::StrCat(dir, "/", FileSet::kNames[i]));
    if (!c.ok()) return c.status();
    set.contents[i] = std::move(c).value();
  }
  return set;
}

// Makes `dir` hold exactly `set`: writes present files atomically, removes absent ones.
absl::Status WriteFileSet(const std::string& dir, const FileSet& set) {
  for (size_t i = 0; i < FileSet::kNames.size(); ++i) {
    const std::string path = absl::StrCat(dir, "/", FileSet::kNames[i]);
    absl::Status status =
        set.contents[i].has_value()
            ? WriteFileAtomically(path, *set.contents[i], ModeFor(FileSet::kNames[i]))
            : RemoveFileDurably(path);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCertificateName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("certificate name is empty");
  if (name.size() > 255) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate name is longer than 255 bytes (", name.size(), ")"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate name \"", name, "\" is not a folder name"));
  }
  if (name.find('/') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate name \"", name, "\" contains '/'"));
  }
  if (name.find('\0') != absl::string_view::npos) {
    return absl::InvalidArgumentError("certificate name contains a NUL byte");
  }
  return absl::OkStatus();
}

InstallOutcome CertificateInstaller::Install(absl::string_view certificate_name,
                                             absl::string_view fullchain_pem,
                                             absl::string_view private_key_pem) {
  InstallOutcome out;
  out.status = ValidateCertificateName(certificate_name);
  if (!out.status.ok()) return out;

  // Validate everything before touching the disk.
  absl::StatusOr<std::vector<crypto::Certificate>> chain = crypto::ParsePemChain(
      std::string_view(fullchain_pem.data(), fullchain_pem.size()));
  if (!chain.ok()) {
    out.status = absl::InvalidArgumentError(
        absl::StrCat("fullchain does not parse: ", chain.status().message()));
    return out;
  }
  absl::StatusOr<crypto::PrivateKey> key = crypto::PrivateKey::FromPem(
      std::string_view(private_key_pem.data(), private_key_pem.size()));
  if (!key.ok()) {
    // Never quote the key material itself.
    out.status = absl::InvalidArgumentError("private key does not parse");
    return out;
  }
  const crypto::Certificate& leaf = chain->front();
  if (!leaf.MatchesKey(*key)) {
    out.status = absl::InvalidArgumentError(absl::StrCat(
        "private key does not match the certificate (serial ", leaf.SerialHex(), ")"));
    return out;
  }

  FileSet next;
  next.contents[0] = leaf.ToPem();
  std::string intermediates;
  for (size_t i = 1; i < chain->size(); ++i) intermediates += (*chain)[i].ToPem();
  next.contents[1] = intermediates;
  std::string fullchain = next.contents[0].value() + intermediates;
  next.contents[2] = fullchain;
  next.contents[3] = std::string(private_key_pem);

  const std::string dir = absl::StrCat(options_.cert_dir, "/", certificate_name);
  const std::string previous_dir = absl::StrCat(dir, "/", kPreviousDir);
  out.status = MakeDirectories(dir, kDirMode);
  if (!out.status.ok()) return out;

  // Remember the current and previous versions; the current one becomes previous/.
  absl::StatusOr<FileSet> current = ReadFileSet(dir);
  if (!current.ok()) {
    out.status = current.status();
    return out;
  }
  absl::StatusOr<FileSet> previous = ReadFileSet(previous_dir);
  if (!previous.ok()) previous = FileSet();
  if (!current->Empty()) {
    out.status = MakeDirectories(previous_dir, 0700);
    if (out.status.ok()) out.status = WriteFileSet(previous_dir, *current);
    if (!out.status.ok()) return out;
  }

  out.status = WriteFileSet(dir, next);
  if (!out.status.ok()) {
    absl::Status restored = WriteFileSet(dir, *current);
    if (!restored.ok()) {
      CF_LOG(ERROR) << "cannot restore previous certificate files" << Kv("dir", dir)
                    << Kv("error", restored.message());
    }
    return out;
  }
  out.install_path = dir;
  CF_LOG(INFO) << "certificate files written" << Kv("certificate", certificate_name)
               << Kv("serial", leaf.SerialHex()) << Kv("dir", dir);

  if (options_.reload_command.empty()) return out;
  out.reload_run = true;
  absl::StatusOr<int> reload =
      RunShellCommand(options_.reload_command, options_.reload_timeout);
  absl::Status failure;
  if (!reload.ok()) {
    failure = absl::FailedPreconditionError(
        absl::StrCat("reload command failed: ", reload.status().message()));
  } else {
    out.reload_exit_status = *reload;
    if (*reload != 0) {
      failure = absl::FailedPreconditionError(absl::StrCat(
          "reload command \"", options_.reload_command, "\" exited with status ", *reload));
    }
  }
  if (failure.ok()) {
    CF_LOG(INFO) << "reload command succeeded" << Kv("certificate", certificate_name)
                 << Kv("command", options_.reload_command);
    return out;
  }

  // Put the previous version back (or remove the new files when there was none).
  absl::Status restored = WriteFileSet(dir, *current);
  if (restored.ok() && !current->Empty()) restored = WriteFileSet(previous_dir, *previous);
  if (restored.ok()) {
    failure = absl::FailedPreconditionError(
        absl::StrCat(failure.message(), "; previous files restored"));
  } else {
    failure = absl::FailedPreconditionError(absl::StrCat(
        failure.message(), "; restoring the previous files failed too: ", restored.message()));
  }
  CF_LOG(ERROR) << "certificate install rolled back" << Kv("certificate", certificate_name)
                << Kv("error", failure.message());
  out.status = failure;
  return out;
}

}  // namespace certfleet::agent
