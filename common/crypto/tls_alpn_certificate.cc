#include "common/crypto/tls_alpn_certificate.h"

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/bio_contents.h"
#include "common/crypto/openssl_error.h"
#include "common/crypto/subject_alt_name.h"
#include "common/status_macros.h"

namespace certfleet::crypto {
namespace {

// A random positive 128-bit serial number.
absl::Status SetRandomSerial(X509* cert) {
  uint8_t bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return OpenSslInternal("RAND_bytes");
  bytes[0] = static_cast<uint8_t>((bytes[0] & 0x7f) | 0x01);
  UniquePtr<BIGNUM> bn(BN_bin2bn(bytes, sizeof(bytes), nullptr));
  if (bn == nullptr) return OpenSslInternal("BN_bin2bn");
  UniquePtr<ASN1_INTEGER> serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (serial == nullptr || X509_set_serialNumber(cert, serial.get()) != 1) {
    return OpenSslInternal("setting the serial number");
  }
  return absl::OkStatus();
}

// Adds the critical acmeIdentifier extension whose value is the DER OCTET STRING of
// `digest` (04 20 <32 bytes>).
absl::Status AddAcmeIdentifier(X509* cert, std::string_view digest) {
  std::string value_der = std::string("\x04\x20", 2);
  value_der.append(digest);
  UniquePtr<ASN1_OBJECT> oid(OBJ_txt2obj(kAcmeIdentifierOid, /*dont_search_for_name=*/1));
  UniquePtr<ASN1_OCTET_STRING> value(ASN1_OCTET_STRING_new());
  if (oid == nullptr || value == nullptr ||
      ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const uint8_t*>(value_der.data()),
                            static_cast<int>(value_der.size())) != 1) {
    return OpenSslInternal("building acmeIdentifier");
  }
  UniquePtr<X509_EXTENSION> ext(
      X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), /*crit=*/1, value.get()));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslInternal("adding acmeIdentifier");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ChallengeCertificate> CreateTlsAlpnCertificate(std::string_view identifier,
                                                              bool is_ip, std::string_view digest) {
  if (digest.size() != 32) {
    return absl::InvalidArgumentError(
        absl::StrCat("acmeIdentifier digest must be 32 bytes (SHA-256), got ", digest.size()));
  }
  if (identifier.empty()) return absl::InvalidArgumentError("empty identifier");
  const std::string id(identifier);
  std::vector<std::string> dns_names, ips;
  (is_ip ? ips : dns_names).push_back(id);
  ASSIGN_OR_RETURN(UniquePtr<GENERAL_NAMES> names, BuildSubjectAltNames(dns_names, ips));
  ASSIGN_OR_RETURN(PrivateKey key, PrivateKey::Generate(KeyType::kEcdsaP256));

  UniquePtr<X509> cert(X509_new());
  if (cert == nullptr) return OpenSslInternal("X509_new");
  if (X509_set_version(cert.get(), 2) != 1) return OpenSslInternal("X509_set_version");
  RETURN_IF_ERROR(SetRandomSerial(cert.get()));

  // Subject = issuer = CN=<identifier> when it fits; else an empty name and a critical SAN.
  const bool has_cn = id.size() <= 64;
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (has_cn && X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                           reinterpret_cast<const uint8_t*>(id.data()),
                                           static_cast<int>(id.size()), -1, 0) != 1) {
    return OpenSslInternal("setting commonName");
  }
  if (X509_set_issuer_name(cert.get(), name) != 1) return OpenSslInternal("X509_set_issuer_name");
  time_t now = std::time(nullptr);  // One reading, so the validity is exactly seven days.
  if (X509_time_adj_ex(X509_getm_notBefore(cert.get()), -1, 0, &now) == nullptr ||
      X509_time_adj_ex(X509_getm_notAfter(cert.get()), 6, 0, &now) == nullptr) {
    return OpenSslInternal("setting validity");
  }
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return OpenSslInternal("X509_set_pubkey");
  if (X509_add1_ext_i2d(cert.get(), NID_subject_alt_name, names.get(), has_cn ? 0 : 1,
                        X509V3_ADD_DEFAULT) != 1) {
    return OpenSslInternal("adding subjectAltName");
  }
  RETURN_IF_ERROR(AddAcmeIdentifier(cert.get(), digest));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return OpenSslInternal("X509_sign");

  UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert.get()) != 1) {
    return OpenSslInternal("PEM_write_bio_X509");
  }
  std::string pem = internal::BioContents(bio.get());
  return ChallengeCertificate{std::move(key), std::move(cert), std::move(pem)};
}

}  // namespace certfleet::crypto
