#pragma once

// ACME certificate resources (RFC 8555 section 7.4.2 and 7.6): download with alternate
// chains, choice of a preferred chain, revocation.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/acme/acme_client.h"

namespace certfleet::acme {

// A downloaded chain (PEM, leaf first) and the alternate chain URLs the CA linked.
struct DownloadedChain {
  std::string url;
  std::string pem;
  std::vector<std::string> alternate_urls;
};

// The rel="alternate" targets of every Link header in `headers`, resolved against
// `base_url` when relative.
std::vector<std::string> ParseAlternateLinks(const HttpHeaders& headers,
                                             const std::string& base_url);

// POST-as-GET of one chain with Accept: application/pem-certificate-chain.
absl::StatusOr<DownloadedChain> DownloadChain(AcmeClient& client, const std::string& url);

// True when the top (last) certificate of `chain_pem` has issuer CN or subject CN
// `preferred`.
bool ChainMatchesPreferred(const std::string& chain_pem, const std::string& preferred);

// Downloads the certificate at `url` and, when `preferred_chain` is set and the default
// does not match it, the alternates; returns the chosen chain's PEM.
absl::StatusOr<std::string> DownloadCertificate(AcmeClient& client, const std::string& url,
                                                const std::string& preferred_chain);

// revokeCert (RFC 8555 section 7.6) of a DER certificate with an RFC 5280 reason code
// (0 unspecified, 1 keyCompromise, 4 superseded, 5 cessationOfOperation, ...), signed by
// the account key. AlreadyExists when already revoked; the CA's problem otherwise.
absl::Status RevokeCertificate(AcmeClient& client, const std::string& cert_der, int reason);

}  // namespace certfleet::acme
