#include "server/issuance/order_runner.h"

#include <memory>

#include "common/status_macros.h"

namespace certfleet::issuance {

absl::StatusOr<acme::IssuedCertificate> AcmeOrderRunner::Run(
    const std::string& ca_name, const acme::OrderRequest& request,
    const crypto::PrivateKey& cert_key, acme::OrderProgress* progress,
    acme::ProgressSink* sink, acme::ChallengeSolver* solver) {
  ASSIGN_OR_RETURN(std::shared_ptr<acme::AcmeClient> client, accounts_->ClientFor(ca_name));
  acme::OrderDriver driver(client.get(), options_);
  return driver.Run(request, cert_key, progress, sink, solver);
}

}  // namespace certfleet::issuance
