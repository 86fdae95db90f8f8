#pragma once

// An http-01 (RFC 8555 section 8.3) validation listener: answers
// GET /.well-known/acme-challenge/<token> with the key authorization as text/plain and
// 404 for anything else. Tokens can be added and removed from any thread while it runs.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace certfleet::responder {

class Http01Responder {
 public:
  virtual ~Http01Responder() = default;

  // Binds `listen_address` (as TlsAlpnResponder::Start) and serves on a background thread.
  static absl::StatusOr<std::unique_ptr<Http01Responder>> Start(std::string_view listen_address);

  virtual int port() const = 0;
  // InvalidArgument when `token` is not base64url characters only.
  virtual absl::Status AddToken(std::string_view token, std::string_view key_authorization) = 0;
  virtual void RemoveToken(std::string_view token) = 0;
  // Successful GETs of `token` since start.
  virtual uint64_t ServedCount(std::string_view token) const = 0;
  virtual void Stop() = 0;
};

}  // namespace certfleet::responder
