#pragma once

// Lenient readers for members of ACME JSON resources (internal to server/acme): a member
// that is absent or of the wrong type reads as empty rather than failing the resource.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/time/time.h"

namespace certfleet::acme {

// The string member `key` of the object `obj`; "" when absent or not a string.
inline std::string JsonString(const nlohmann::json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// The RFC 3339 time in the string member `key` (an order's or authorization's
// "expires"); nullopt when absent, not a string or not RFC 3339.
inline std::optional<absl::Time> JsonRfc3339Time(const nlohmann::json& obj, const char* key) {
  std::string text = JsonString(obj, key);
  if (text.empty()) return std::nullopt;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) return std::nullopt;
  return t;
}

}  // namespace certfleet::acme
