#pragma once

// Conversions between API identifiers and the stored form (type "dns" / "ip").

#include <string>
#include <utility>
#include <vector>

#include "common/identifiers/identifier.h"
#include "storage/records.h"

namespace certfleet::issuance {

inline std::vector<storage::IdentifierRecord> ToRecords(
    const std::vector<identifiers::Identifier>& ids) {
  std::vector<storage::IdentifierRecord> out;
  for (const auto& id : ids) out.push_back({std::string(id.TypeString()), id.value});
  return out;
}

// Any stored type other than "ip" reads as DNS.
inline std::vector<identifiers::Identifier> FromRecords(
    const std::vector<storage::IdentifierRecord>& records) {
  std::vector<identifiers::Identifier> out;
  for (const auto& r : records) {
    identifiers::Identifier id;
    id.type = r.type == "ip" ? identifiers::IdentifierType::kIp : identifiers::IdentifierType::kDns;
    id.value = r.value;
    out.push_back(std::move(id));
  }
  return out;
}

}  // namespace certfleet::issuance
