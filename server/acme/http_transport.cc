#include "server/acme/http_transport.h"

#include "absl/strings/match.h"

namespace certfleet::acme {

void HttpHeaders::Add(std::string name, std::string value) {
  entries_.emplace_back(std::move(name), std::move(value));
}

std::string HttpHeaders::Get(std::string_view name) const {
  for (const auto& [k, v] : entries_) {
    if (absl::EqualsIgnoreCase(k, absl::string_view(name.data(), name.size()))) return v;
  }
  return "";
}

std::vector<std::string> HttpHeaders::GetAll(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : entries_) {
    if (absl::EqualsIgnoreCase(k, absl::string_view(name.data(), name.size()))) out.push_back(v);
  }
  return out;
}

bool HttpHeaders::Has(std::string_view name) const {
  for (const auto& entry : entries_) {
    if (absl::EqualsIgnoreCase(entry.first, absl::string_view(name.data(), name.size()))) return true;
  }
  return false;
}

}  // namespace certfleet::acme
