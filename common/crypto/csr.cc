#include "common/crypto/csr.h"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>

#include "absl/status/status.h"
#include "common/crypto/openssl_error.h"
#include "common/crypto/openssl_ptr.h"
#include "common/crypto/subject_alt_name.h"
#include "common/status_macros.h"

namespace certfleet::crypto {

absl::StatusOr<std::string> CreateCsrDer(const std::vector<std::string>& dns_names,
                                         const std::vector<std::string>& ip_addresses,
                                         const PrivateKey& key) {
  if (dns_names.empty() && ip_addresses.empty()) {
    return absl::InvalidArgumentError("a CSR needs at least one DNS name or IP address");
  }
  ASSIGN_OR_RETURN(UniquePtr<GENERAL_NAMES> names, BuildSubjectAltNames(dns_names, ip_addresses));

  UniquePtr<X509_REQ> req(X509_REQ_new());
  if (req == nullptr) return OpenSslInternal("X509_REQ_new");
  if (X509_REQ_set_version(req.get(), 0) != 1) return OpenSslInternal("X509_REQ_set_version");
  if (X509_REQ_set_pubkey(req.get(), key.get()) != 1) return OpenSslInternal("X509_REQ_set_pubkey");

  const bool has_cn = !dns_names.empty() && dns_names.front().size() <= 64;
  if (has_cn) {
    const std::string& cn = dns_names.front();
    if (X509_NAME_add_entry_by_NID(X509_REQ_get_subject_name(req.get()), NID_commonName,
                                   MBSTRING_UTF8, reinterpret_cast<const uint8_t*>(cn.data()),
                                   static_cast<int>(cn.size()), -1, 0) != 1) {
      return OpenSslInternal("setting the CSR commonName");
    }
  }

  // RFC 5280 4.2.1.6: subjectAltName is critical when the subject is empty.
  STACK_OF(X509_EXTENSION)* raw_exts = nullptr;
  if (X509V3_add1_i2d(&raw_exts, NID_subject_alt_name, names.get(), has_cn ? 0 : 1,
                      X509V3_ADD_DEFAULT) != 1) {
    UniquePtr<STACK_OF(X509_EXTENSION)> cleanup(raw_exts);
    return OpenSslInternal("encoding subjectAltName");
  }
  UniquePtr<STACK_OF(X509_EXTENSION)> exts(raw_exts);
  if (X509_REQ_add_extensions(req.get(), exts.get()) != 1) {
    return OpenSslInternal("X509_REQ_add_extensions");
  }

  const EVP_MD* md = key.type() == KeyType::kEcdsaP384 ? EVP_sha384() : EVP_sha256();
  if (X509_REQ_sign(req.get(), key.get(), md) <= 0) return OpenSslInternal("X509_REQ_sign");

  uint8_t* der = nullptr;
  int len = i2d_X509_REQ(req.get(), &der);
  if (len <= 0 || der == nullptr) return OpenSslInternal("i2d_X509_REQ");
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string CsrDerToPem(const std::string& der) {
  std::string b64(4 * ((der.size() + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(b64.data()),
                            reinterpret_cast<const uint8_t*>(der.data()), der.size());
  b64.resize(static_cast<size_t>(len));
  std::string pem = "-----BEGIN CERTIFICATE REQUEST-----\n";
  for (size_t i = 0; i < b64.size(); i += 64) {
    pem += b64.substr(i, 64);
    pem += '\n';
  }
  pem += "-----END CERTIFICATE REQUEST-----\n";
  return pem;
}

}  // namespace certfleet::crypto
