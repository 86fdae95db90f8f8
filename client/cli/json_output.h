#pragma once

// Protobuf JSON output for --output json.

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace certfleet::cli {

// How a JSON document is laid out.
enum class JsonStyle {
  // Indented over several lines (one document per result).
  kPretty,
  // One line (for streams: one object per line).
  kSingleLine,
};

// Converts `message` to protobuf JSON (lowerCamelCase field names, enums by name, fields with
// default values included so scripts see stable keys). No trailing newline. Fails with
// kInternal when the conversion fails.
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message, JsonStyle style);

}  // namespace certfleet::cli
