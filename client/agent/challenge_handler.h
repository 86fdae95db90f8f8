#pragma once

// Presents and withdraws ACME challenges on this host: tls-alpn-01 through the
// TlsAlpnResponder, http-01 through the Http01Responder or as files in a webroot
// (<webroot>/.well-known/acme-challenge/<token>, certbot --webroot style).
// Only names this agent serves (and the server accepted) are answered.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "certfleet/v1/agents.pb.h"
#include "client/agent/agent_status.h"
#include "common/responder/http01_responder.h"
#include "common/responder/tls_alpn_responder.h"

namespace certfleet::agent {

class ChallengeHandler {
 public:
  struct Options {
    // Normalised names this host serves ("example.com", "*.example.com", "192.0.2.1").
    std::vector<std::string> names;
    // Not owned; null when tls-alpn-01 is not answered.
    responder::TlsAlpnResponder* tls_alpn = nullptr;
    // Not owned; null when http-01 is not answered by a listener.
    responder::Http01Responder* http01 = nullptr;
    // http-01 webroot; empty when unused. Used only when `http01` is null.
    std::string http01_webroot;
  };

  // `status` (not owned, may be null) receives the counters.
  ChallengeHandler(Options options, AgentStatus* status);
  ~ChallengeHandler();

  // The challenge types this agent can answer (for Hello.capabilities).
  std::vector<v1::ChallengeType> Capabilities() const;

  // Narrows the names answered to `accepted` ∩ configured (from Welcome.accepted_names).
  void SetAcceptedNames(const std::vector<std::string>& accepted);
  // Back to every configured name (a new stream, before its Welcome).
  void ResetAcceptedNames();

  // Starts answering. InvalidArgument for a malformed identifier, token or key
  // authorization, or an unsupported type; FailedPrecondition for a name this agent does
  // not serve or a type it is not configured for; other errors from the responder/disk.
  absl::Status Present(const v1::PresentChallenge& challenge);
  // Stops answering; OK (a no-op) when it was not presented. InvalidArgument for a
  // malformed identifier or token.
  absl::Status Withdraw(const v1::WithdrawChallenge& challenge);
  // Withdraws everything presented (on stream loss and shutdown).
  void WithdrawAll();
  // Number of challenges being presented now.
  size_t PresentedCount() const;

 private:
  struct Presented {
    v1::ChallengeType type;
    std::string name;       // the normalised identifier value (counters, logs)
    std::string responder_name;  // what the tls-alpn responder keys on
    bool is_ip = false;
    std::string token;
  };

  // Checks the identifier and that this agent may answer for it; fills `name`,
  // `responder_name` and `is_ip`.
  absl::Status CheckIdentifier(const v1::Identifier& identifier, std::string* name,
                               std::string* responder_name, bool* is_ip) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  static std::string Key(v1::ChallengeType type, const std::string& responder_name,
                         const std::string& token);
  void RemoveLocked(const Presented& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string WebrootPath(const std::string& token) const;

  const Options options_;
  AgentStatus* const status_;
  const std::set<std::string> configured_;
  mutable absl::Mutex mu_;
  std::set<std::string> accepted_ ABSL_GUARDED_BY(mu_);
  // tls-alpn-01 by "tls|<responder name>", http-01 by "http|<token>".
  std::map<std::string, Presented> presented_ ABSL_GUARDED_BY(mu_);
};

// True when `token` is 1-256 base64url characters.
bool IsValidChallengeToken(const std::string& token);
// OK when `key_authorization` is "<token>.<base64url thumbprint>"; InvalidArgument otherwise.
absl::Status CheckKeyAuthorization(const std::string& token,
                                   const std::string& key_authorization);

}  // namespace certfleet::agent
