#pragma once

// ACME order resources (RFC 8555 section 7.4): newOrder (with an optional profile,
// draft-aaron-acme-profiles), fetch, finalize. Synchronous (worker threads).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/identifiers/identifier.h"
#include "server/acme/acme_client.h"
#include "server/acme/directory.h"
#include "server/acme/problem.h"

namespace certfleet::acme {

// An order object.
struct Order {
  std::string url;
  std::string status;  // pending, ready, processing, valid, invalid
  std::optional<absl::Time> expires;
  std::vector<identifiers::Identifier> identifiers;
  std::vector<std::string> authorizations;
  std::string finalize;
  std::string certificate;  // set once valid
  std::string profile;
  std::optional<Problem> error;
  // Retry-After of the response that returned this order (polling hint).
  std::optional<absl::Time> retry_after;

  // Parses an order object. InvalidArgument when it is not an object or lacks status.
  static absl::StatusOr<Order> FromJson(const nlohmann::json& json, std::string url);
};

// Parses an ACME identifier object {"type","value"}; InvalidArgument for other types.
absl::StatusOr<identifiers::Identifier> IdentifierFromJson(const nlohmann::json& json);
// {"type":..., "value":...}
nlohmann::json IdentifierToJson(const identifiers::Identifier& id);

// The profile to send in newOrder: `wanted` when the CA offers it (meta.profiles), "" when
// nothing is wanted. A profile the CA does not offer is InvalidArgument naming it and the
// offered ones when `mandatory`, else "" (fall back to the CA's default; logged).
absl::StatusOr<std::string> SelectProfile(const DirectoryMeta& meta, const std::string& wanted,
                                          bool mandatory);

// newOrder for `ids` with `profile` ("" = none). The CA's problem otherwise, annotated with
// the identifiers (e.g. InvalidArgument "... rejectedIdentifier ...").
absl::StatusOr<Order> NewOrder(AcmeClient& client,
                               const std::vector<identifiers::Identifier>& ids,
                               const std::string& profile);
// POST-as-GET of an order.
absl::StatusOr<Order> FetchOrder(AcmeClient& client, const std::string& order_url);
// Finalizes with a DER CSR; returns the order as the CA answered (often "processing").
// Sent once (AcmeClient::SignedPostOnce): after a 5xx or a timeout the CA may still have
// acted on it, so the caller fetches the order before finalizing again.
absl::StatusOr<Order> FinalizeOrder(AcmeClient& client, const Order& order,
                                    const std::string& csr_der);

}  // namespace certfleet::acme
