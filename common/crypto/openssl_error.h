#pragma once

// Turning an OpenSSL/BoringSSL failure into an absl::Status. Internal to common/crypto.

#include <openssl/err.h>

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace certfleet::crypto {

// A status with `code` whose message is `what` plus the oldest queued library reason (if
// any). Clears the thread's error queue so later calls start clean.
inline absl::Status OpenSslError(absl::StatusCode code, std::string_view what) {
  std::string message(what);
  unsigned long err = ERR_get_error();  // NOLINT(runtime/int): the library's type.
  if (err != 0) {
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    message += ": ";
    message += buf;
  }
  ERR_clear_error();
  return absl::Status(code, message);
}

// OpenSslError with StatusCode::kInternal: a library call failed on valid input.
inline absl::Status OpenSslInternal(std::string_view what) {
  return OpenSslError(absl::StatusCode::kInternal, what);
}

}  // namespace certfleet::crypto
