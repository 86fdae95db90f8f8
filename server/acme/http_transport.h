#pragma once

// The HTTP seam of the ACME engine: an abstract transport (libcurl in production, a fake
// in unit tests). Synchronous: callers run it on worker threads, never on a gRPC thread.

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace certfleet::acme {

// Response headers: an ordered multimap with case-insensitive names.
class HttpHeaders {
 public:
  // Appends one header (name kept as received).
  void Add(std::string name, std::string value);
  // The first value of `name` (case-insensitive), or "" when absent.
  std::string Get(std::string_view name) const;
  // Every value of `name`, in order.
  std::vector<std::string> GetAll(std::string_view name) const;
  bool Has(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& entries() const { return entries_; }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

// One HTTP request. `headers` are sent as given.
struct HttpRequest {
  std::string method;  // "GET", "HEAD", "POST"
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// One HTTP response, whatever its status code.
struct HttpResponse {
  int status = 0;
  HttpHeaders headers;
  std::string body;
};

// Sends HTTP requests. Implementations must be thread-safe.
class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Sends `request` and returns the response for any HTTP status; Unavailable on a
  // connection, TLS or timeout failure (the message names the URL and the reason).
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
};

}  // namespace certfleet::acme
