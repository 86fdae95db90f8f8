#pragma once

// The seam between the issuance manager and the ACME engine: one attempt of one issuance.
// The real runner resolves the CA's account client and drives acme::OrderDriver; tests
// inject a fake that returns scripted results without any network.

#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/key.h"
#include "server/acme/challenge_solver.h"
#include "server/acme/order_driver.h"
#include "server/issuance/acme_accounts.h"

namespace certfleet::issuance {

class OrderRunner {
 public:
  virtual ~OrderRunner() = default;

  // Runs (or resumes, from `*progress`) one attempt of an issuance against CA `ca_name`,
  // saving every step through `sink`. Returns the issued certificate or the attempt's error
  // (codes as acme::OrderDriver::Run; Cancelled once `request.cancelled` says so).
  // Blocking; called on a worker thread. Pointers are not owned and must not be null.
  virtual absl::StatusOr<acme::IssuedCertificate> Run(const std::string& ca_name,
                                                      const acme::OrderRequest& request,
                                                      const crypto::PrivateKey& cert_key,
                                                      acme::OrderProgress* progress,
                                                      acme::ProgressSink* sink,
                                                      acme::ChallengeSolver* solver) = 0;
};

// The production runner: AcmeAccounts::ClientFor(ca_name) then acme::OrderDriver::Run.
class AcmeOrderRunner : public OrderRunner {
 public:
  // `accounts` is not owned and must outlive the runner.
  AcmeOrderRunner(AcmeAccounts* accounts, acme::OrderDriverOptions options)
      : accounts_(accounts), options_(options) {}

  absl::StatusOr<acme::IssuedCertificate> Run(const std::string& ca_name,
                                              const acme::OrderRequest& request,
                                              const crypto::PrivateKey& cert_key,
                                              acme::OrderProgress* progress,
                                              acme::ProgressSink* sink,
                                              acme::ChallengeSolver* solver) override;

 private:
  AcmeAccounts* const accounts_;
  const acme::OrderDriverOptions options_;
};

}  // namespace certfleet::issuance
