#pragma once

// Internal to storage/: Debian's abseil keeps absl::string_view distinct from
// std::string_view (ABSL_OPTION_USE_STD_STRING_VIEW=0); these convert without copying.

#include <string_view>

#include "absl/strings/string_view.h"

namespace certfleet::storage::internal {

// std::string_view -> absl::string_view (e.g. for absl::StrCat).
inline absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }
// absl::string_view -> std::string_view (e.g. for Statement::BindText(status.message())).
inline std::string_view Sv(absl::string_view s) { return std::string_view(s.data(), s.size()); }

}  // namespace certfleet::storage::internal
