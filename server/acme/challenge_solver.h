#pragma once

// The seam between the ACME engine and whatever answers challenges: an agent on the web
// host, a responder built into the server, or a test double. The engine never knows which.

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/identifiers/identifier.h"

namespace certfleet::acme {

inline constexpr char kTlsAlpn01[] = "tls-alpn-01";
inline constexpr char kHttp01[] = "http-01";
inline constexpr char kDns01[] = "dns-01";

// One challenge to present: what the CA will look for, and for which identifier.
struct ChallengeTask {
  identifiers::Identifier identifier;
  std::string type;               // kTlsAlpn01, kHttp01, kDns01
  std::string token;
  std::string key_authorization;  // token.thumbprint
  std::string challenge_url;      // the CA's URL for this challenge (a stable id)
  std::string issuance_id;        // for logs and agent bookkeeping; may be empty
};

class ChallengeSolver {
 public:
  virtual ~ChallengeSolver() = default;

  // Checks, before any order is placed, that this solver can answer `type` for `id` now.
  // FailedPrecondition naming the identifier when it cannot (e.g. no agent serves it).
  virtual absl::Status CanSolve(const identifiers::Identifier& id, const std::string& type) = 0;
  // Makes the challenge answerable and returns once it is (or `deadline` passes:
  // DeadlineExceeded). FailedPrecondition/Unavailable with a reason otherwise.
  virtual absl::Status Present(const ChallengeTask& task, absl::Time deadline) = 0;
  // Withdraws the challenge; best effort, never fails the issuance.
  virtual void CleanUp(const ChallengeTask& task) = 0;
};

}  // namespace certfleet::acme
