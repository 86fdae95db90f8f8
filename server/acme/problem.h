#pragma once

// ACME problem documents (RFC 8555 section 6.7, RFC 7807) and their mapping to
// absl::Status. One table (problem.cc) maps every urn:ietf:params:acme:error:* type to a
// status code chosen by what the caller should do: Unavailable = retry the call,
// ResourceExhausted = back off, InvalidArgument = the input is wrong, ...

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/acme/http_transport.h"

namespace certfleet::acme {

inline constexpr char kProblemPrefix[] = "urn:ietf:params:acme:error:";
// Status payload URLs: the full problem type, and the Retry-After time (RFC 3339).
inline constexpr char kProblemTypePayload[] = "urn:certfleet:acme-problem-type";
inline constexpr char kRetryAfterPayload[] = "urn:certfleet:retry-after";
// The HTTP status code of the response an error came from (decimal).
inline constexpr char kHttpStatusPayload[] = "urn:certfleet:http-status";

// One subproblem (RFC 8555 section 6.7.1).
struct Subproblem {
  std::string type;
  std::string detail;
  std::string identifier_type;   // "dns", "ip", or "" when absent
  std::string identifier_value;
};

// A parsed problem document.
struct Problem {
  std::string type;    // full URN, or "" when absent ("about:blank")
  std::string detail;
  int status = 0;      // the "status" member, 0 when absent
  std::vector<Subproblem> subproblems;

  // The type without the ACME prefix ("badNonce"), or the type as is.
  std::string ShortType() const;

  // Reads an already parsed problem document (e.g. an order's "error" member).
  // InvalidArgument when `doc` is not a JSON object.
  static absl::StatusOr<Problem> FromJson(const nlohmann::json& doc);
};

// Parses a problem document. InvalidArgument when `body` is not a JSON object.
absl::StatusOr<Problem> ParseProblem(std::string_view body);
// The status code for a problem type (full URN or short name); Unknown for unknown types.
absl::StatusCode ProblemTypeToCode(std::string_view type);
// The Status for `problem`: code from the table (an unknown type falls back to the HTTP
// status), message "<context>: <shortType>: <detail> [<id>: <subtype>: <detail>; ...]" and
// the type in the kProblemTypePayload payload; `retry_after` (if set) in the message and in
// kRetryAfterPayload.
absl::Status ProblemToStatus(const Problem& problem, int http_status,
                             std::optional<absl::Time> retry_after);
// Turns any non-2xx response into a Status: a problem document when the body is one,
// otherwise "CA unavailable: HTTP 503 ..." (Unavailable for 5xx and 429) without quoting
// an HTML body. Retry-After is read relative to `now`. The HTTP status goes into
// kHttpStatusPayload.
absl::Status ErrorResponseToStatus(const HttpResponse& response, absl::Time now);
// The full problem type carried by `status` (kProblemTypePayload), or "".
std::string ProblemTypeOf(const absl::Status& status);
// The HTTP status carried by `status` (kHttpStatusPayload), or 0.
int HttpStatusOf(const absl::Status& status);
// The Retry-After time carried by `status`, if any.
std::optional<absl::Time> RetryAfterOf(const absl::Status& status);

}  // namespace certfleet::acme

namespace certfleet::acme {

// `status` with "<prefix>: " before its message, keeping code and payloads.
absl::Status AnnotateStatus(const absl::Status& status, std::string_view prefix);

}  // namespace certfleet::acme
