#include "server/acme/certificate.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto/base64url.h"
#include "common/crypto/x509.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/acme/problem.h"

namespace certfleet::acme {
namespace {

// Splits a Link header value on commas outside <...> and quotes.
std::vector<std::string> SplitLinkValues(const std::string& value) {
  std::vector<std::string> out;
  std::string current;
  bool in_angle = false, in_quote = false;
  for (char c : value) {
    if (c == '<' && !in_quote) in_angle = true;
    if (c == '>' && !in_quote) in_angle = false;
    if (c == '"' && !in_angle) in_quote = !in_quote;
    if (c == ',' && !in_angle && !in_quote) {
      out.push_back(current);
      current.clear();
      continue;
    }
    current.push_back(c);
  }
  if (!current.empty()) out.push_back(current);
  return out;
}

std::string ResolveUrl(const std::string& target, const std::string& base) {
  if (absl::StrContains(target, "://") || base.empty()) return target;
  size_t scheme = base.find("://");
  if (scheme == std::string::npos) return target;
  size_t path_start = base.find('/', scheme + 3);
  std::string origin = path_start == std::string::npos ? base : base.substr(0, path_start);
  if (absl::StartsWith(target, "/")) return origin + target;
  size_t last_slash = base.rfind('/');
  return base.substr(0, last_slash + 1) + target;
}

}  // namespace

std::vector<std::string> ParseAlternateLinks(const HttpHeaders& headers,
                                             const std::string& base_url) {
  std::vector<std::string> out;
  for (const std::string& header : headers.GetAll("Link")) {
    for (const std::string& link : SplitLinkValues(header)) {
      size_t open = link.find('<');
      size_t close = link.find('>', open == std::string::npos ? 0 : open);
      if (open == std::string::npos || close == std::string::npos) continue;
      std::string target = link.substr(open + 1, close - open - 1);
      bool alternate = false;
      for (absl::string_view param : absl::StrSplit(link.substr(close + 1), ';')) {
        param = absl::StripAsciiWhitespace(param);
        if (!absl::StartsWithIgnoreCase(param, "rel=")) continue;
        std::string rel(param.substr(4));
        rel.erase(std::remove(rel.begin(), rel.end(), '"'), rel.end());
        for (absl::string_view r : absl::StrSplit(rel, ' ', absl::SkipEmpty())) {
          if (absl::EqualsIgnoreCase(r, "alternate")) alternate = true;
        }
      }
      if (alternate) out.push_back(ResolveUrl(target, base_url));
    }
  }
  return out;
}

absl::StatusOr<DownloadedChain> DownloadChain(AcmeClient& client, const std::string& url) {
  auto response = client.PostAsGet(url, kPemCertificateChain);
  if (!response.ok()) {
    return AnnotateStatus(response.status(), absl::StrCat("downloading certificate ", url));
  }
  DownloadedChain chain;
  chain.url = url;
  chain.pem = response->body;
  chain.alternate_urls = ParseAlternateLinks(response->headers, url);
  return chain;
}

bool ChainMatchesPreferred(const std::string& chain_pem, const std::string& preferred) {
  auto certs = crypto::ParsePemChain(chain_pem);
  if (!certs.ok() || certs->empty()) return false;
  const crypto::Certificate& top = certs->back();
  return top.IssuerCommonName() == preferred || top.SubjectCommonName() == preferred;
}

absl::StatusOr<std::string> DownloadCertificate(AcmeClient& client, const std::string& url,
                                                const std::string& preferred_chain) {
  ASSIGN_OR_RETURN(DownloadedChain first, DownloadChain(client, url));
  if (preferred_chain.empty() || ChainMatchesPreferred(first.pem, preferred_chain)) {
    return first.pem;
  }
  for (const std::string& alt : first.alternate_urls) {
    ASSIGN_OR_RETURN(DownloadedChain chain, DownloadChain(client, alt));
    if (ChainMatchesPreferred(chain.pem, preferred_chain)) {
      CF_LOG(INFO) << "using preferred alternate chain" << Kv("preferred_chain", preferred_chain)
                   << Kv("chain", alt);
      return chain.pem;
    }
  }
  CF_LOG(WARNING) << "preferred chain not offered; using the CA's default"
                  << Kv("preferred_chain", preferred_chain) << Kv("certificate", url);
  return first.pem;
}

absl::Status RevokeCertificate(AcmeClient& client, const std::string& cert_der, int reason) {
  ASSIGN_OR_RETURN(Directory dir, client.GetDirectory());
  if (dir.revoke_cert.empty()) return absl::UnimplementedError("CA offers no revokeCert");
  nlohmann::json payload = {{"certificate", crypto::Base64UrlEncode(cert_der)},
                            {"reason", reason}};
  auto response = client.SignedPost(dir.revoke_cert, payload);
  if (!response.ok()) return AnnotateStatus(response.status(), "revoking certificate");
  return absl::OkStatus();
}

}  // namespace certfleet::acme
