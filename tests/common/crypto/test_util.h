#pragma once

// Helpers shared by the common/crypto tests: temp files, running the openssl CLI, cached
// keys, and a tiny in-test certificate authority.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/crypto/key.h"
#include "common/crypto/openssl_ptr.h"
#include "gtest/gtest.h"

namespace certfleet::crypto::testing {

// A fresh directory under the GoogleTest temp dir, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = ::testing::TempDir() + "certfleet_crypto_XXXXXX";
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  // Writes `content` to `name` inside the directory; returns the full path.
  std::string Write(const std::string& name, const std::string& content) const {
    std::string path = path_ + "/" + name;
    std::ofstream out(path, std::ios::binary);
    out << content;
    return path;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The exit status and combined stdout+stderr of a shell command.
struct CommandResult {
  int exit_code = -1;
  std::string output;
};

inline CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), pipe)) > 0) result.output.append(buf, n);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// One generated key per type for the whole test binary (RSA 4096 generation is slow).
inline const PrivateKey& TestKey(KeyType type) {
  static auto* keys = new std::map<KeyType, PrivateKey>();
  auto it = keys->find(type);
  if (it == keys->end()) {
    absl::StatusOr<PrivateKey> key = PrivateKey::Generate(type);
    if (!key.ok()) {
      ADD_FAILURE() << key.status();
      std::abort();
    }
    it = keys->emplace(type, *std::move(key)).first;
  }
  return it->second;
}

inline constexpr KeyType kAllKeyTypes[] = {KeyType::kEcdsaP256, KeyType::kEcdsaP384,
                                           KeyType::kRsa2048, KeyType::kRsa3072, KeyType::kRsa4096};

inline std::string HexEncode(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xf]);
  }
  return out;
}

// What a test certificate should look like. Times are Unix seconds.
struct CertSpec {
  std::string common_name;
  bool is_ca = false;
  long serial = 1;  // NOLINT(runtime/int)
  time_t not_before = std::time(nullptr) - 3600;
  time_t not_after = std::time(nullptr) + 30 * 86400;
  std::string san;  // subjectAltName in config syntax, e.g. "DNS:a.test,IP:192.0.2.1".
};

// Builds a certificate for `subject_key` signed by `issuer_key`, whose issuer name is
// `issuer`'s subject (or its own when `issuer` is null: self-signed). Test-only: aborts the
// test on any failure.
inline UniquePtr<X509> MakeCert(const CertSpec& spec, const PrivateKey& subject_key, X509* issuer,
                                const PrivateKey& issuer_key) {
  UniquePtr<X509> cert(X509_new());
  EXPECT_EQ(X509_set_version(cert.get(), 2), 1);
  EXPECT_EQ(ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), spec.serial), 1);
  X509_NAME* name = X509_get_subject_name(cert.get());
  EXPECT_EQ(
      X509_NAME_add_entry_by_NID(name, NID_organizationName, MBSTRING_UTF8,
                                 reinterpret_cast<const uint8_t*>("Certfleet Test"), -1, -1, 0),
      1);
  EXPECT_EQ(X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                       reinterpret_cast<const uint8_t*>(spec.common_name.c_str()),
                                       -1, -1, 0),
            1);
  EXPECT_EQ(
      X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name),
      1);
  EXPECT_NE(ASN1_TIME_set(X509_getm_notBefore(cert.get()), spec.not_before), nullptr);
  EXPECT_NE(ASN1_TIME_set(X509_getm_notAfter(cert.get()), spec.not_after), nullptr);
  EXPECT_EQ(X509_set_pubkey(cert.get(), subject_key.get()), 1);

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert.get(), cert.get(), nullptr, nullptr, 0);
  std::vector<std::pair<int, std::string>> exts;
  if (spec.is_ca) {
    exts.emplace_back(NID_basic_constraints, "critical,CA:TRUE");
    exts.emplace_back(NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    exts.emplace_back(NID_basic_constraints, "critical,CA:FALSE");
    exts.emplace_back(NID_key_usage, "critical,digitalSignature");
  }
  if (!spec.san.empty()) exts.emplace_back(NID_subject_alt_name, spec.san);
  for (const auto& [nid, value] : exts) {
    UniquePtr<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str()));
    EXPECT_NE(ext, nullptr) << value;
    if (ext != nullptr) {
      EXPECT_EQ(X509_add_ext(cert.get(), ext.get(), -1), 1);
    }
  }
  EXPECT_GT(X509_sign(cert.get(), issuer_key.get(), EVP_sha256()), 0);
  return cert;
}

inline std::string CertToPem(X509* cert) {
  UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);  // NOLINT(runtime/int)
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace certfleet::crypto::testing
