#include "common/crypto/x509.h"

#include <openssl/asn1.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/bio_contents.h"
#include "common/crypto/openssl_error.h"
#include "common/crypto/subject_alt_name.h"

namespace certfleet::crypto {
namespace {

using internal::BioContents;

constexpr std::string_view kBeginCert = "-----BEGIN CERTIFICATE-----";
constexpr std::string_view kEndCert = "-----END CERTIFICATE-----";

std::string NameToString(const X509_NAME* name) {
  UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr) return "";
  // RFC 2253 order and escaping, but keep UTF-8 as is rather than \XX-escaping it.
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    ERR_clear_error();
    return "";
  }
  return BioContents(bio.get());
}

std::string CommonName(const X509_NAME* name) {
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) return "";
  X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, index);
  if (entry == nullptr) return "";
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
  if (len < 0) {
    ERR_clear_error();
    return "";
  }
  std::string out(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

// Values of the subjectAltName entries of `type` (GEN_DNS or GEN_IPADD) in text form.
std::vector<std::string> AltNames(X509* x509, int type) {
  std::vector<std::string> out;
  UniquePtr<GENERAL_NAMES> names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x509, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return out;
  for (size_t i = 0; i < static_cast<size_t>(sk_GENERAL_NAME_num(names.get())); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != type) continue;
    if (type == GEN_DNS) {
      const ASN1_STRING* s = name->d.dNSName;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                       static_cast<size_t>(ASN1_STRING_length(s)));
    } else {
      const ASN1_STRING* s = name->d.iPAddress;
      std::string text = FormatIpAddress(ASN1_STRING_get0_data(s), ASN1_STRING_length(s));
      if (!text.empty()) out.push_back(std::move(text));
    }
  }
  return out;
}

absl::Time ToTime(const ASN1_TIME* t) {
  UniquePtr<ASN1_TIME> epoch(ASN1_TIME_set(nullptr, 0));
  int days = 0;
  int seconds = 0;
  if (epoch == nullptr || t == nullptr || ASN1_TIME_diff(&days, &seconds, epoch.get(), t) != 1) {
    ERR_clear_error();
    return absl::InfinitePast();
  }
  return absl::FromUnixSeconds(static_cast<int64_t>(days) * 86400 + seconds);
}

std::string Describe(const std::vector<Certificate>& chain, size_t i) {
  return absl::StrCat("certificate ", i, " (", chain[i].Subject(), ")");
}

}  // namespace

absl::StatusOr<Certificate> Certificate::FromPem(std::string_view pem) {
  UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslInternal("BIO_new_mem_buf");
  UniquePtr<X509> x509(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (x509 == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "certificate PEM does not parse");
  }
  return Certificate(std::move(x509));
}

absl::StatusOr<Certificate> Certificate::FromDer(std::string_view der) {
  const auto* p = reinterpret_cast<const uint8_t*>(der.data());
  const uint8_t* end = p + der.size();
  UniquePtr<X509> x509(d2i_X509(nullptr, &p, static_cast<long>(der.size())));  // NOLINT
  if (x509 == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "certificate DER does not parse");
  }
  if (p != end) return absl::InvalidArgumentError("trailing data after certificate DER");
  return Certificate(std::move(x509));
}

std::string Certificate::SerialHex() const {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(x509_.get());
  const unsigned char* data = ASN1_STRING_get0_data(serial);
  int len = ASN1_STRING_length(serial);
  int start = 0;
  while (start + 1 < len && data[start] == 0) ++start;
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (int i = start; i < len; ++i) {
    out.push_back(kHex[data[i] >> 4]);
    out.push_back(kHex[data[i] & 0xf]);
  }
  return out.empty() ? "00" : out;
}

std::string Certificate::Subject() const {
  return NameToString(X509_get_subject_name(x509_.get()));
}
std::string Certificate::Issuer() const { return NameToString(X509_get_issuer_name(x509_.get())); }
std::string Certificate::IssuerCommonName() const {
  return CommonName(X509_get_issuer_name(x509_.get()));
}
std::string Certificate::SubjectCommonName() const {
  return CommonName(X509_get_subject_name(x509_.get()));
}
std::vector<std::string> Certificate::DnsNames() const { return AltNames(x509_.get(), GEN_DNS); }
std::vector<std::string> Certificate::IpAddresses() const {
  return AltNames(x509_.get(), GEN_IPADD);
}
absl::Time Certificate::NotBefore() const { return ToTime(X509_get0_notBefore(x509_.get())); }
absl::Time Certificate::NotAfter() const { return ToTime(X509_get0_notAfter(x509_.get())); }

bool Certificate::MatchesKey(const PrivateKey& key) const {
  bool match = X509_check_private_key(x509_.get(), key.get()) == 1;
  ERR_clear_error();
  return match;
}

bool Certificate::IsIssuedBy(const Certificate& issuer) const {
  if (X509_NAME_cmp(X509_get_issuer_name(x509_.get()), X509_get_subject_name(issuer.get())) != 0) {
    return false;
  }
  UniquePtr<EVP_PKEY> issuer_key(X509_get_pubkey(issuer.get()));
  bool ok = issuer_key != nullptr && X509_verify(x509_.get(), issuer_key.get()) == 1;
  ERR_clear_error();
  return ok;
}

std::string Certificate::ToPem() const {
  UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), x509_.get()) != 1) {
    ERR_clear_error();
    return "";
  }
  return BioContents(bio.get());
}

std::string Certificate::ToDer() const {
  uint8_t* der = nullptr;
  int len = i2d_X509(x509_.get(), &der);
  if (len <= 0 || der == nullptr) {
    ERR_clear_error();
    return "";
  }
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(len));
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<std::vector<Certificate>> ParsePemChain(std::string_view pem) {
  std::vector<Certificate> chain;
  size_t pos = 0;
  while ((pos = pem.find(kBeginCert, pos)) != std::string_view::npos) {
    size_t end = pem.find(kEndCert, pos);
    if (end == std::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("certificate ", chain.size(), " in the PEM chain has no END marker"));
    }
    end += kEndCert.size();
    absl::StatusOr<Certificate> cert = Certificate::FromPem(pem.substr(pos, end - pos));
    if (!cert.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "certificate ", chain.size(), " in the PEM chain: ", cert.status().message()));
    }
    chain.push_back(*std::move(cert));
    pos = end;
  }
  if (chain.empty()) return absl::InvalidArgumentError("no certificate in the PEM text");
  return chain;
}

absl::Status CheckChainOrder(const std::vector<Certificate>& chain) {
  if (chain.empty()) return absl::InvalidArgumentError("empty certificate chain");
  for (size_t i = 0; i + 1 < chain.size(); ++i) {
    if (!chain[i].IsIssuedBy(chain[i + 1])) {
      return absl::FailedPreconditionError(
          absl::StrCat(Describe(chain, i), " is not issued by ", Describe(chain, i + 1)));
    }
  }
  return absl::OkStatus();
}

absl::Status VerifyChain(const std::vector<Certificate>& chain, const Certificate& root) {
  if (chain.empty()) return absl::InvalidArgumentError("empty certificate chain");
  UniquePtr<X509_STORE> store(X509_STORE_new());
  if (store == nullptr || X509_STORE_add_cert(store.get(), root.get()) != 1) {
    return OpenSslInternal("building the trust store");
  }
  UniquePtr<STACK_OF(X509)> untrusted(sk_X509_new_null());
  if (untrusted == nullptr) return OpenSslInternal("sk_X509_new_null");
  for (size_t i = 1; i < chain.size(); ++i) {
    if (X509_up_ref(chain[i].get()) != 1) return OpenSslInternal("X509_up_ref");
    if (sk_X509_push(untrusted.get(), chain[i].get()) == 0) {
      X509_free(chain[i].get());
      return OpenSslInternal("sk_X509_push");
    }
  }
  UniquePtr<X509_STORE_CTX> ctx(X509_STORE_CTX_new());
  if (ctx == nullptr ||
      X509_STORE_CTX_init(ctx.get(), store.get(), chain[0].get(), untrusted.get()) != 1) {
    return OpenSslInternal("X509_STORE_CTX_init");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    return absl::FailedPreconditionError(
        absl::StrCat("certificate chain does not verify: ", X509_verify_cert_error_string(err)));
  }
  return absl::OkStatus();
}

}  // namespace certfleet::crypto
