#pragma once

// Retry-After (RFC 9110 section 10.2.3): delta-seconds or an HTTP-date.

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/acme/http_transport.h"

namespace certfleet::acme {

// The absolute time `value` names: `now` + delta-seconds, or the HTTP-date in IMF-fixdate
// ("Sun, 06 Nov 1994 08:49:37 GMT"), obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT")
// or asctime ("Sun Nov  6 08:49:37 1994") form, always read as UTC whatever the process
// time zone. InvalidArgument quoting the value otherwise.
absl::StatusOr<absl::Time> ParseRetryAfter(std::string_view value, absl::Time now);

// The time the Retry-After header in `headers` names (see ParseRetryAfter), relative to
// `now`; nullopt when the header is absent or unparseable.
std::optional<absl::Time> ReadRetryAfter(const HttpHeaders& headers, absl::Time now);

}  // namespace certfleet::acme
