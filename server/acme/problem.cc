#include "server/acme/problem.h"

#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/acme/json_fields.h"
#include "server/acme/retry_after.h"

namespace certfleet::acme {
namespace {

struct ProblemCode {
  const char* type;
  absl::StatusCode code;
};

// THE table: ACME error types (RFC 8555 section 6.7 and IANA registry) to status codes.
constexpr ProblemCode kProblemCodes[] = {
    {"accountDoesNotExist", absl::StatusCode::kNotFound},
    {"alreadyRevoked", absl::StatusCode::kAlreadyExists},
    {"badCSR", absl::StatusCode::kInvalidArgument},
    {"badNonce", absl::StatusCode::kUnavailable},
    {"badPublicKey", absl::StatusCode::kInvalidArgument},
    {"badRevocationReason", absl::StatusCode::kInvalidArgument},
    {"badSignatureAlgorithm", absl::StatusCode::kInvalidArgument},
    {"caa", absl::StatusCode::kFailedPrecondition},
    {"compound", absl::StatusCode::kFailedPrecondition},
    {"connection", absl::StatusCode::kFailedPrecondition},
    {"dns", absl::StatusCode::kFailedPrecondition},
    {"externalAccountRequired", absl::StatusCode::kFailedPrecondition},
    {"incorrectResponse", absl::StatusCode::kFailedPrecondition},
    {"invalidContact", absl::StatusCode::kInvalidArgument},
    {"malformed", absl::StatusCode::kInvalidArgument},
    {"orderNotReady", absl::StatusCode::kFailedPrecondition},
    {"rateLimited", absl::StatusCode::kResourceExhausted},
    {"rejectedIdentifier", absl::StatusCode::kInvalidArgument},
    {"serverInternal", absl::StatusCode::kUnavailable},
    {"tls", absl::StatusCode::kFailedPrecondition},
    {"unauthorized", absl::StatusCode::kPermissionDenied},
    {"unsupportedContact", absl::StatusCode::kInvalidArgument},
    {"unsupportedIdentifier", absl::StatusCode::kInvalidArgument},
    {"userActionRequired", absl::StatusCode::kFailedPrecondition},
    {"badCertificate", absl::StatusCode::kInvalidArgument},
    {"invalidProfile", absl::StatusCode::kInvalidArgument},
    {"alreadyReplaced", absl::StatusCode::kAlreadyExists},
};

absl::StatusCode HttpStatusToCode(int http_status) {
  if (http_status == 429) return absl::StatusCode::kResourceExhausted;
  if (http_status >= 500) return absl::StatusCode::kUnavailable;
  if (http_status == 401 || http_status == 403) return absl::StatusCode::kPermissionDenied;
  if (http_status == 404) return absl::StatusCode::kNotFound;
  if (http_status == 409) return absl::StatusCode::kFailedPrecondition;
  if (http_status >= 400) return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kUnknown;
}

std::string ShortTypeOf(std::string_view type) {
  if (absl::StartsWith(absl::string_view(type.data(), type.size()), kProblemPrefix)) {
    return std::string(type.substr(sizeof(kProblemPrefix) - 1));
  }
  return std::string(type);
}

std::string FormatUtc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

void AttachRetryAfter(absl::Status* status, std::optional<absl::Time> retry_after) {
  if (!retry_after) return;
  status->SetPayload(kRetryAfterPayload,
                     absl::Cord(FormatUtc(*retry_after)));
}

}  // namespace

static absl::Status ErrorBodyToStatus(const HttpResponse& response, absl::Time now);

std::string Problem::ShortType() const { return ShortTypeOf(type); }

absl::StatusOr<Problem> ParseProblem(std::string_view body) {
  return Problem::FromJson(
      nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false));
}

absl::StatusOr<Problem> Problem::FromJson(const nlohmann::json& doc) {
  if (!doc.is_object()) {
    return absl::InvalidArgumentError("problem document is not a JSON object");
  }
  Problem problem;
  problem.type = JsonString(doc, "type");
  problem.detail = JsonString(doc, "detail");
  auto status_it = doc.find("status");
  if (status_it != doc.end() && status_it->is_number_integer()) {
    problem.status = status_it->get<int>();
  }
  auto subs = doc.find("subproblems");
  if (subs != doc.end() && subs->is_array()) {
    for (const auto& sub : *subs) {
      if (!sub.is_object()) continue;
      Subproblem sp;
      sp.type = JsonString(sub, "type");
      sp.detail = JsonString(sub, "detail");
      auto id = sub.find("identifier");
      if (id != sub.end() && id->is_object()) {
        sp.identifier_type = JsonString(*id, "type");
        sp.identifier_value = JsonString(*id, "value");
      }
      problem.subproblems.push_back(std::move(sp));
    }
  }
  return problem;
}

absl::StatusCode ProblemTypeToCode(std::string_view type) {
  std::string short_type = ShortTypeOf(type);
  for (const ProblemCode& entry : kProblemCodes) {
    if (short_type == entry.type) return entry.code;
  }
  return absl::StatusCode::kUnknown;
}

absl::Status ProblemToStatus(const Problem& problem, int http_status,
                             std::optional<absl::Time> retry_after) {
  absl::StatusCode code = ProblemTypeToCode(problem.type);
  if (code == absl::StatusCode::kUnknown) {
    code = HttpStatusToCode(http_status != 0 ? http_status : problem.status);
  }
  std::string type = problem.type.empty() ? "about:blank" : problem.ShortType();
  std::string message = absl::StrCat(type, ": ",
                                     problem.detail.empty() ? "(no detail)" : problem.detail);
  if (!problem.subproblems.empty()) {
    std::vector<std::string> parts;
    for (const Subproblem& sp : problem.subproblems) {
      std::string id = sp.identifier_value.empty()
                           ? std::string("(no identifier)")
                           : absl::StrCat(sp.identifier_type, ":", sp.identifier_value);
      parts.push_back(absl::StrCat(id, ": ", ShortTypeOf(sp.type), ": ", sp.detail));
    }
    absl::StrAppend(&message, " [", absl::StrJoin(parts, "; "), "]");
  }
  if (retry_after) {
    absl::StrAppend(&message, " (retry after ",
                    FormatUtc(*retry_after), ")");
  }
  absl::Status status(code, message);
  if (!problem.type.empty()) status.SetPayload(kProblemTypePayload, absl::Cord(problem.type));
  AttachRetryAfter(&status, retry_after);
  return status;
}

absl::Status ErrorResponseToStatus(const HttpResponse& response, absl::Time now) {
  absl::Status status = ErrorBodyToStatus(response, now);
  status.SetPayload(kHttpStatusPayload, absl::Cord(absl::StrCat(response.status)));
  return status;
}

int HttpStatusOf(const absl::Status& status) {
  auto payload = status.GetPayload(kHttpStatusPayload);
  int code = 0;
  if (!payload || !absl::SimpleAtoi(std::string(*payload), &code)) return 0;
  return code;
}

static absl::Status ErrorBodyToStatus(const HttpResponse& response, absl::Time now) {
  std::optional<absl::Time> retry_after = ReadRetryAfter(response.headers, now);
  std::string content_type = response.headers.Get("Content-Type");
  bool looks_json = absl::StrContains(content_type, "json") ||
                    (!response.body.empty() && response.body.front() == '{');
  if (looks_json) {
    auto problem = ParseProblem(response.body);
    if (problem.ok() && (!problem->type.empty() || !problem->detail.empty())) {
      return ProblemToStatus(*problem, response.status, retry_after);
    }
  }
  absl::StatusCode code = HttpStatusToCode(response.status);
  std::string message =
      code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kResourceExhausted
          ? absl::StrCat("CA unavailable: HTTP ", response.status)
          : absl::StrCat("CA answered HTTP ", response.status);
  if (!content_type.empty()) absl::StrAppend(&message, " (", content_type, ")");
  if (retry_after) {
    absl::StrAppend(&message, " (retry after ",
                    FormatUtc(*retry_after), ")");
  }
  absl::Status status(code, message);
  AttachRetryAfter(&status, retry_after);
  return status;
}

std::string ProblemTypeOf(const absl::Status& status) {
  auto payload = status.GetPayload(kProblemTypePayload);
  return payload ? std::string(*payload) : "";
}

std::optional<absl::Time> RetryAfterOf(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryAfterPayload);
  if (!payload) return std::nullopt;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(*payload), &t, &err)) return std::nullopt;
  return t;
}

}  // namespace certfleet::acme

namespace certfleet::acme {

absl::Status AnnotateStatus(const absl::Status& status, std::string_view prefix) {
  if (status.ok()) return status;
  absl::Status out(status.code(), absl::StrCat(absl::string_view(prefix.data(), prefix.size()), ": ", status.message()));
  status.ForEachPayload([&out](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

}  // namespace certfleet::acme
