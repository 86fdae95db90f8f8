#pragma once

// THE order state machine (after mod_md's md_acmev2_drive.c): new order → authorize
// (present, respond, poll, clean up) → finalize → poll while processing → download →
// verify. Every step is handed to a ProgressSink BEFORE the next network call, so a
// restarted process resumes an issuance instead of losing it or finalizing twice.
//
// Synchronous and blocking (network, polling waits on the injected Clock): the server's
// issuance layer runs it on worker threads, never on a gRPC thread.

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/crypto/key.h"
#include "common/identifiers/identifier.h"
#include "server/acme/acme_client.h"
#include "server/acme/authorization.h"
#include "server/acme/challenge_solver.h"
#include "server/acme/order.h"

namespace certfleet::acme {

// Step names stored in OrderProgress::step.
inline constexpr char kStepNew[] = "new";
inline constexpr char kStepOrdered[] = "ordered";
inline constexpr char kStepAuthorizing[] = "authorizing";
inline constexpr char kStepFinalizing[] = "finalizing";
inline constexpr char kStepDownloading[] = "downloading";
inline constexpr char kStepDone[] = "done";

// Where an issuance stands; persisted as JSON by the caller (ProgressSink).
struct OrderProgress {
  std::string step = kStepNew;
  std::string order_url;
  std::string finalize_url;
  std::string certificate_url;
  std::vector<std::string> authz_urls;
  std::string csr_der_b64;     // base64url DER of the CSR sent (or about to be sent)
  bool finalize_sent = false;  // set and saved BEFORE the finalize request goes out
  std::string profile;         // the profile actually requested ("" = none)

  nlohmann::json ToJson() const;
  // InvalidArgument when `json` is not an object or a member has the wrong type.
  static absl::StatusOr<OrderProgress> FromJson(const nlohmann::json& json);
};

// Persists progress. The driver stops (returning the error) when Save fails.
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual absl::Status Save(const OrderProgress& progress) = 0;
};

// What to issue.
struct OrderRequest {
  std::vector<identifiers::Identifier> identifiers;  // normalised, no duplicates
  // Allowed challenge types, best first; empty = DefaultChallengePreference().
  std::vector<std::string> challenge_preference;
  std::string profile;             // "" = none
  bool profile_mandatory = true;   // false: fall back to no profile when not offered
  std::string preferred_chain;     // issuer CN of the chain's top certificate; "" = default
  std::string issuance_id;         // for logs and ChallengeTask
  absl::Time deadline = absl::InfiniteFuture();
  // Checked between steps and during polling waits (which then sleep in short slices):
  // once it returns true the driver stops with Cancelled, its progress saved and
  // resumable. Empty = never cancelled. Called on the driver's thread.
  std::function<bool()> cancelled;
};

// The result of a successful issuance.
struct IssuedCertificate {
  std::string chain_pem;        // leaf first, as the CA sent the chosen chain
  std::string leaf_serial_hex;
  absl::Time not_before;
  absl::Time not_after;
  std::string issuer;           // the leaf's issuer DN
};

struct OrderDriverOptions {
  // Polling backoff when the CA gives no Retry-After: initial, doubled up to max.
  absl::Duration initial_poll_interval = absl::Seconds(1);
  absl::Duration max_poll_interval = absl::Seconds(10);
  // Consecutive transient (Unavailable) failures tolerated while polling.
  int max_transient_poll_errors = 3;
};

class OrderDriver {
 public:
  // `client` (with account key and URL set) must outlive the driver. Polling waits use
  // client->clock().
  explicit OrderDriver(AcmeClient* client, OrderDriverOptions options = {});

  // Runs (or resumes, from `*progress`) one issuance to the end.
  // Errors: FailedPrecondition before any order when the solver cannot answer an identifier
  // (or no allowed challenge is offered); InvalidArgument for a wildcard without dns-01 or a
  // mandatory profile the CA lacks; Aborted with the CA's detail when the order or an
  // authorization turns invalid (start a new order); DeadlineExceeded past
  // request.deadline; Unavailable/other codes from the CA (see problem.h). `progress` and
  // `sink` must not be null; `*progress` is updated and saved at every step. Challenges
  // presented through `solver` are always cleaned up.
  absl::StatusOr<IssuedCertificate> Run(const OrderRequest& request,
                                        const crypto::PrivateKey& cert_key,
                                        OrderProgress* progress, ProgressSink* sink,
                                        ChallengeSolver* solver);

 private:
  struct RunState;
  absl::Status CheckSolvable(const RunState& state);
  absl::StatusOr<Order> PlaceOrder(RunState& state);
  absl::StatusOr<Order> Resume(RunState& state, bool* restart);
  absl::Status Authorize(RunState& state, const Order& order);
  absl::StatusOr<Authorization> PollAuthorization(RunState& state, const std::string& url);
  absl::StatusOr<Order> PollOrder(RunState& state, const std::string& url,
                                  const std::string& while_status);
  // FetchOrder or FetchAuthorization.
  template <typename T>
  using Fetch = absl::StatusOr<T> (*)(AcmeClient& client, const std::string& url);
  // Fetches `url` until `still_waiting(resource)` is false, waiting before each fetch
  // (WaitBeforePoll) and retrying up to max_transient_poll_errors Unavailable errors.
  template <typename T, typename StillWaiting>
  absl::StatusOr<T> Poll(RunState& state, const std::string& url, Fetch<T> fetch,
                         StillWaiting still_waiting);
  // Fetch an order / authorization, first waiting out any Retry-After the CA gave for it.
  template <typename T>
  absl::StatusOr<T> Get(RunState& state, const std::string& url, Fetch<T> fetch);
  // Sleeps until `until` (no-op when past); DeadlineExceeded when it is past the deadline.
  absl::Status SleepUntil(RunState& state, absl::Time until);
  // Sleeps `*interval` (doubled for next time) or until the resource's Retry-After.
  absl::Status WaitBeforePoll(RunState& state, const std::string& url,
                              absl::Duration* interval);
  absl::Status InvalidOrderError(RunState& state, const Order& order);
  absl::StatusOr<IssuedCertificate> VerifyIssued(const RunState& state, const std::string& pem);
  absl::Status Save(RunState& state, const char* step);

  AcmeClient* client_;
  OrderDriverOptions options_;
};

}  // namespace certfleet::acme
