#pragma once

// Building subjectAltName values for CSRs and challenge certificates. Internal to
// common/crypto.

#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/x509v3.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/openssl_error.h"
#include "common/crypto/openssl_ptr.h"

namespace certfleet::crypto {

// The 4 (IPv4) or 16 (IPv6) network-order bytes of a textual address; InvalidArgument
// when it is neither.
inline absl::StatusOr<std::string> ParseIpAddress(const std::string& text) {
  unsigned char buf[16];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) {
    return std::string(reinterpret_cast<char*>(buf), 4);
  }
  if (inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    return std::string(reinterpret_cast<char*>(buf), 16);
  }
  return absl::InvalidArgumentError(absl::StrCat("not an IP address: \"", text, "\""));
}

// The textual form of 4 or 16 address bytes; "" for any other length.
inline std::string FormatIpAddress(const unsigned char* data, int len) {
  char buf[INET6_ADDRSTRLEN];
  int family = len == 4 ? AF_INET : len == 16 ? AF_INET6 : 0;
  if (family == 0 || inet_ntop(family, data, buf, sizeof(buf)) == nullptr) return "";
  return buf;
}

// GENERAL_NAMES with each of `dns_names` as dNSName then each of `ip_addresses` as
// iPAddress. InvalidArgument when an IP does not parse or a name is empty.
inline absl::StatusOr<UniquePtr<GENERAL_NAMES>> BuildSubjectAltNames(
    const std::vector<std::string>& dns_names, const std::vector<std::string>& ip_addresses) {
  UniquePtr<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return OpenSslInternal("sk_GENERAL_NAME_new_null");
  auto push = [&](int type, const std::string& bytes) -> absl::Status {
    UniquePtr<GENERAL_NAME> name(GENERAL_NAME_new());
    UniquePtr<ASN1_STRING> value(type == GEN_DNS ? ASN1_IA5STRING_new() : ASN1_OCTET_STRING_new());
    if (name == nullptr || value == nullptr ||
        ASN1_STRING_set(value.get(), bytes.data(), static_cast<int>(bytes.size())) != 1) {
      return OpenSslInternal("building a GENERAL_NAME");
    }
    GENERAL_NAME_set0_value(name.get(), type, value.release());
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) {
      return OpenSslInternal("sk_GENERAL_NAME_push");
    }
    name.release();  // Now owned by `names`.
    return absl::OkStatus();
  };
  for (const std::string& dns : dns_names) {
    if (dns.empty()) return absl::InvalidArgumentError("empty DNS name");
    absl::Status status = push(GEN_DNS, dns);
    if (!status.ok()) return status;
  }
  for (const std::string& ip : ip_addresses) {
    absl::StatusOr<std::string> bytes = ParseIpAddress(ip);
    if (!bytes.ok()) return bytes.status();
    absl::Status status = push(GEN_IPADD, *bytes);
    if (!status.ok()) return status;
  }
  return names;
}

}  // namespace certfleet::crypto
