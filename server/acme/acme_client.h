#pragma once

// The core of the ACME engine, over which the per-resource files (account.h, order.h,
// authorization.h, challenge.h, certificate.h) are written: it owns the transport, the
// cached directory, the nonce pool, the account key and the account URL ("kid"), and
// sends signed POSTs and POST-as-GETs (RFC 8555 section 6.2/6.3).
//
// Everything here is synchronous and may block for network round trips: the server runs
// it on worker threads, never on a gRPC thread. AcmeClient is thread-safe.

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/crypto/key.h"
#include "server/acme/directory.h"
#include "server/acme/http_transport.h"
#include "server/acme/nonce_pool.h"

namespace certfleet::acme {

inline constexpr char kJoseJson[] = "application/jose+json";
inline constexpr char kPemCertificateChain[] = "application/pem-certificate-chain";

struct AcmeClientOptions {
  // The CA's directory URL, e.g. https://acme-v02.api.letsencrypt.org/directory.
  std::string directory_url;
  // Attempts per signed request; every badNonce answer costs one (then the request is
  // re-signed with the nonce that came with the error).
  int max_nonce_attempts = 10;
  // Time source for Retry-After; nullptr = RealClock(). Not owned.
  Clock* clock = nullptr;
  // Attempts per request while the CA is unavailable (HTTP 5xx, connection failure or
  // timeout): each retry is re-signed with a fresh nonce after a backoff that starts at
  // `unavailable_backoff` and doubles up to `max_unavailable_backoff` (a later Retry-After
  // wins; one beyond `max_unavailable_backoff` ends the attempts at once).
  int max_unavailable_attempts = 4;
  absl::Duration unavailable_backoff = absl::Seconds(1);
  absl::Duration max_unavailable_backoff = absl::Seconds(10);
  // Attempts of a POST-as-GET answered 404: a CA's replicas may not yet know a resource it
  // has just announced (certificate, authorization, account). Retried after the delay.
  int max_not_found_attempts = 3;
  absl::Duration not_found_delay = absl::Seconds(1);
};

// A successful (2xx) response; `json` holds the parsed body when it is JSON, else null.
struct AcmeResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
  nlohmann::json json;

  // The Location header ("" when absent).
  std::string location() const { return headers.Get("Location"); }
};

class AcmeClient {
 public:
  // `transport` is shared (one curl transport may serve several CAs); must not be null.
  AcmeClient(std::shared_ptr<HttpTransport> transport, AcmeClientOptions options);

  // The directory, fetched on first use and cached. Unavailable/InvalidArgument when the
  // CA cannot be reached or answers something that is not a directory.
  absl::StatusOr<Directory> GetDirectory();

  // Sets the account key used to sign (replacing any previous one).
  void SetAccountKey(crypto::PrivateKey key);
  // The current account key, or nullptr before SetAccountKey. Shared: stays valid for the
  // holder even if the key is replaced (key rollover).
  std::shared_ptr<const crypto::PrivateKey> account_key() const;
  // The account URL (JWS "kid"); "" until an account is registered or looked up.
  void set_account_url(std::string url);
  std::string account_url() const;

  // POST of `payload` (JSON) to `url`, signed with the account key and kid.
  // FailedPrecondition without key or kid; the CA's problem as a Status on a non-2xx answer.
  absl::StatusOr<AcmeResponse> SignedPost(const std::string& url, const nlohmann::json& payload);
  // SignedPost for a request that must not be repeated blindly (finalize): a badNonce is
  // still retried, but a 5xx, a connection failure or a timeout is returned at once, since
  // the CA may have acted on it: the caller looks at the resource before sending it again.
  absl::StatusOr<AcmeResponse> SignedPostOnce(const std::string& url,
                                              const nlohmann::json& payload);
  // POST signed with the account key and its embedded "jwk" (newAccount, lookup).
  absl::StatusOr<AcmeResponse> SignedPostWithJwk(const std::string& url,
                                                 const nlohmann::json& payload);
  // POST-as-GET (empty payload) signed with kid. `accept` is sent as Accept when not "".
  absl::StatusOr<AcmeResponse> PostAsGet(const std::string& url, const std::string& accept = "");

  // The key authorization of `token` with the current account key (RFC 8555 section 8.1).
  absl::StatusOr<std::string> KeyAuthorization(const std::string& token) const;

  Clock* clock() const { return clock_; }
  NoncePool& nonce_pool() { return nonces_; }
  const AcmeClientOptions& options() const { return options_; }

 private:
  absl::StatusOr<std::string> FreshNonce();
  absl::StatusOr<HttpResponse> SendAndCollectNonce(const HttpRequest& request);
  absl::StatusOr<Directory> FetchDirectoryOnce();
  // Signs and sends (with CA-unavailable retries when `retry_unavailable`); `payload`
  // nullopt = POST-as-GET.
  absl::StatusOr<AcmeResponse> Post(const std::string& url,
                                    const std::optional<nlohmann::json>& payload, bool use_jwk,
                                    const std::string& accept, bool retry_unavailable);
  // One signed request, re-signed only on badNonce.
  absl::StatusOr<AcmeResponse> PostOnce(const std::string& url,
                                        const std::optional<nlohmann::json>& payload,
                                        bool use_jwk, const std::string& accept);
  // Sleeps before the next attempt after `error` (CA unavailable); false when the CA's
  // Retry-After is too far away to wait for here.
  bool BackOff(const absl::Status& error, absl::Duration* backoff);

  std::shared_ptr<HttpTransport> transport_;
  const AcmeClientOptions options_;
  Clock* clock_;
  NoncePool nonces_;
  mutable absl::Mutex mu_;
  absl::Mutex directory_mu_;  // held while fetching the directory
  std::optional<Directory> directory_ ABSL_GUARDED_BY(directory_mu_);
  std::shared_ptr<const crypto::PrivateKey> account_key_ ABSL_GUARDED_BY(mu_);
  std::string account_url_ ABSL_GUARDED_BY(mu_);
};

}  // namespace certfleet::acme
