#pragma once

// Test-only certificates: a throwaway CA and leaves it signs, built with OpenSSL directly.

#include <string>
#include <vector>

namespace certfleet::agent::testing {

// A leaf certificate issued by a throwaway intermediate, with its key.
struct TestChain {
  // Leaf PEM then intermediate PEM.
  std::string fullchain_pem;
  std::string leaf_pem;
  std::string intermediate_pem;
  // PKCS#8 PEM of the leaf's key.
  std::string key_pem;
};

// Builds a chain whose leaf carries `dns_names` as SANs (P-256 keys). Aborts the test
// binary on an OpenSSL failure.
TestChain MakeTestChain(const std::vector<std::string>& dns_names);

// A fresh P-256 PKCS#8 PEM key unrelated to any certificate.
std::string MakeUnrelatedKeyPem();

}  // namespace certfleet::agent::testing
