#include "tests/agent/test_certificates.h"

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <cstdlib>

#include "common/crypto/openssl_ptr.h"

namespace certfleet::agent::testing {
namespace {

using crypto::UniquePtr;

void Check(bool ok) {
  if (!ok) std::abort();
}

UniquePtr<EVP_PKEY> NewKey() {
  UniquePtr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  Check(key != nullptr);
  return key;
}

std::string KeyPem(EVP_PKEY* key) {
  UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_PKCS8PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) ==
        1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::string CertPem(X509* cert) {
  UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  Check(PEM_write_bio_X509(bio.get(), cert) == 1);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  UniquePtr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  Check(ext != nullptr);
  Check(X509_add_ext(cert, ext.get(), -1) == 1);
}

UniquePtr<X509> MakeCert(const std::string& cn, EVP_PKEY* key, X509* issuer,
                         EVP_PKEY* issuer_key, long serial, bool ca,
                         const std::vector<std::string>& dns_names) {
  UniquePtr<X509> cert(X509_new());
  Check(cert != nullptr);
  Check(X509_set_version(cert.get(), 2) == 1);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 90L * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  Check(X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer)
                                                           : name) == 1);
  Check(X509_set_pubkey(cert.get(), key) == 1);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  AddExt(cert.get(), signer, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
  if (!dns_names.empty()) {
    std::string san;
    for (const std::string& n : dns_names) san += (san.empty() ? "DNS:" : ",DNS:") + n;
    AddExt(cert.get(), signer, NID_subject_alt_name, san);
  }
  Check(X509_sign(cert.get(), issuer_key, EVP_sha256()) > 0);
  return cert;
}

}  // namespace

TestChain MakeTestChain(const std::vector<std::string>& dns_names) {
  UniquePtr<EVP_PKEY> ca_key = NewKey();
  UniquePtr<X509> ca = MakeCert("Test Intermediate", ca_key.get(), nullptr, ca_key.get(), 1,
                                true, {});
  UniquePtr<EVP_PKEY> leaf_key = NewKey();
  static long serial = 1000;
  UniquePtr<X509> leaf = MakeCert(dns_names.empty() ? "leaf" : dns_names[0], leaf_key.get(),
                                  ca.get(), ca_key.get(), ++serial, false, dns_names);
  TestChain chain;
  chain.leaf_pem = CertPem(leaf.get());
  chain.intermediate_pem = CertPem(ca.get());
  chain.fullchain_pem = chain.leaf_pem + chain.intermediate_pem;
  chain.key_pem = KeyPem(leaf_key.get());
  return chain;
}

std::string MakeUnrelatedKeyPem() {
  UniquePtr<EVP_PKEY> key = NewKey();
  return KeyPem(key.get());
}

}  // namespace certfleet::agent::testing
