#pragma once

// RAII ownership for OpenSSL objects, modelled on BoringSSL's bssl::UniquePtr:
//   certfleet::crypto::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
// One deleter per type, all here. Works with OpenSSL 3 and BoringSSL.

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace certfleet::crypto {

template <typename T>
struct Deleter;

#define CERTFLEET_DEFINE_DELETER(type, free_fn) \
  template <>                                   \
  struct Deleter<type> {                        \
    void operator()(type* p) const { free_fn(p); } \
  };

CERTFLEET_DEFINE_DELETER(BIO, BIO_free_all)
CERTFLEET_DEFINE_DELETER(BIGNUM, BN_free)
CERTFLEET_DEFINE_DELETER(EVP_PKEY, EVP_PKEY_free)
CERTFLEET_DEFINE_DELETER(EVP_PKEY_CTX, EVP_PKEY_CTX_free)
CERTFLEET_DEFINE_DELETER(EVP_MD_CTX, EVP_MD_CTX_free)
CERTFLEET_DEFINE_DELETER(ECDSA_SIG, ECDSA_SIG_free)
CERTFLEET_DEFINE_DELETER(X509, X509_free)
CERTFLEET_DEFINE_DELETER(X509_REQ, X509_REQ_free)
CERTFLEET_DEFINE_DELETER(X509_NAME, X509_NAME_free)
CERTFLEET_DEFINE_DELETER(X509_EXTENSION, X509_EXTENSION_free)
CERTFLEET_DEFINE_DELETER(X509_STORE, X509_STORE_free)
CERTFLEET_DEFINE_DELETER(X509_STORE_CTX, X509_STORE_CTX_free)
CERTFLEET_DEFINE_DELETER(GENERAL_NAME, GENERAL_NAME_free)
CERTFLEET_DEFINE_DELETER(GENERAL_NAMES, GENERAL_NAMES_free)
// ASN1_INTEGER, ASN1_OCTET_STRING, ASN1_TIME, ... are all typedefs of ASN1_STRING in
// OpenSSL and BoringSSL, so this one deleter serves UniquePtr<ASN1_INTEGER> and the rest.
CERTFLEET_DEFINE_DELETER(ASN1_STRING, ASN1_STRING_free)
CERTFLEET_DEFINE_DELETER(ASN1_OBJECT, ASN1_OBJECT_free)
CERTFLEET_DEFINE_DELETER(SSL_CTX, SSL_CTX_free)
CERTFLEET_DEFINE_DELETER(SSL, SSL_free)

#undef CERTFLEET_DEFINE_DELETER

// Stacks own their elements: freeing the stack frees each element too.
template <>
struct Deleter<STACK_OF(X509)> {
  void operator()(STACK_OF(X509)* p) const { sk_X509_pop_free(p, X509_free); }
};
template <>
struct Deleter<STACK_OF(X509_EXTENSION)> {
  void operator()(STACK_OF(X509_EXTENSION)* p) const {
    sk_X509_EXTENSION_pop_free(p, X509_EXTENSION_free);
  }
};

template <typename T>
using UniquePtr = std::unique_ptr<T, Deleter<T>>;

}  // namespace certfleet::crypto
