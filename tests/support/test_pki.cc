#include "tests/support/test_pki.h"

#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace certfleet::testing {

using crypto::UniquePtr;

namespace {

absl::Status OpenSslError(const std::string& prefix, const char* what) {
  return absl::InternalError(absl::StrCat(prefix, ": OpenSSL failed: ", what));
}

absl::Status AddExtension(const std::string& prefix, X509* cert, X509* issuer, int nid,
                          const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  UniquePtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!ext) return OpenSslError(prefix, value);
  if (X509_add_ext(cert, ext.get(), -1) != 1) return OpenSslError(prefix, "X509_add_ext");
  return absl::OkStatus();
}

// A certificate for `subject_key`, signed by `issuer_key` (self-signed when `issuer` null);
// `san` is added when not empty.
absl::StatusOr<UniquePtr<X509>> MakeCertificate(const std::string& prefix,
                                                const std::string& common_name,
                                                EVP_PKEY* subject_key, X509* issuer,
                                                EVP_PKEY* issuer_key, bool is_ca,
                                                const std::string& san) {
  UniquePtr<X509> cert(X509_new());
  if (!cert) return OpenSslError(prefix, "X509_new");
  if (X509_set_version(cert.get(), 2) != 1) return OpenSslError(prefix, "X509_set_version");
  unsigned char serial_bytes[12];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) {
    return OpenSslError(prefix, "RAND_bytes");
  }
  serial_bytes[0] &= 0x7f;
  UniquePtr<BIGNUM> serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (!serial || !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()))) {
    return OpenSslError(prefix, "serial");
  }
  if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
      !X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7L * 24 * 3600)) {
    return OpenSslError(prefix, "validity");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>(common_name.c_str()), -1,
                                 -1, 0) != 1) {
    return OpenSslError(prefix, "subject");
  }
  X509* issuer_cert = issuer ? issuer : cert.get();
  if (X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert)) != 1) {
    return OpenSslError(prefix, "issuer");
  }
  if (X509_set_pubkey(cert.get(), subject_key) != 1) {
    return OpenSslError(prefix, "X509_set_pubkey");
  }
  auto add = [&](int nid, const char* value) {
    return AddExtension(prefix, cert.get(), issuer_cert, nid, value);
  };
  if (is_ca) {
    RETURN_IF_ERROR(add(NID_basic_constraints, "critical,CA:TRUE"));
    RETURN_IF_ERROR(add(NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature"));
  } else {
    RETURN_IF_ERROR(add(NID_basic_constraints, "critical,CA:FALSE"));
    RETURN_IF_ERROR(add(NID_key_usage, "critical,digitalSignature"));
    RETURN_IF_ERROR(add(NID_ext_key_usage, "serverAuth"));
  }
  RETURN_IF_ERROR(add(NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(add(NID_authority_key_identifier, "keyid:always"));
  if (!san.empty()) RETURN_IF_ERROR(add(NID_subject_alt_name, san.c_str()));
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) {
    return OpenSslError(prefix, "X509_sign");
  }
  return cert;
}

}  // namespace

absl::StatusOr<TestPki> MakeTestPki(const std::string& ca_common_name,
                                    const std::string& leaf_san,
                                    const std::string& error_prefix) {
  TestPki pki;
  pki.ca_key.reset(EVP_EC_gen("P-256"));
  pki.leaf_key.reset(EVP_EC_gen("P-256"));
  if (!pki.ca_key || !pki.leaf_key) return OpenSslError(error_prefix, "EVP_EC_gen");
  ASSIGN_OR_RETURN(pki.ca_cert,
                   MakeCertificate(error_prefix, ca_common_name, pki.ca_key.get(), nullptr,
                                   pki.ca_key.get(), /*is_ca=*/true, ""));
  ASSIGN_OR_RETURN(pki.leaf_cert,
                   MakeCertificate(error_prefix, "localhost", pki.leaf_key.get(),
                                   pki.ca_cert.get(), pki.ca_key.get(), /*is_ca=*/false,
                                   leaf_san));
  return pki;
}

absl::Status WritePem(const std::string& path, X509* cert, EVP_PKEY* key,
                      const std::string& error_prefix) {
  UniquePtr<BIO> bio(BIO_new_file(path.c_str(), "w"));
  if (!bio) return absl::InternalError(absl::StrCat("cannot write ", path));
  if (cert && PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError(error_prefix, "PEM cert");
  }
  if (key && PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return OpenSslError(error_prefix, "PEM key");
  }
  return absl::OkStatus();
}

}  // namespace certfleet::testing
