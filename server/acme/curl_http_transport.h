#pragma once

// HttpTransport over libcurl: TLS verification always on (with an optional CA bundle file),
// connect and total timeouts, User-Agent "certfleet/<version>", and a small pool of easy
// handles so connections are kept alive and reused. Thread-safe; blocking.

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/acme/http_transport.h"

namespace certfleet::acme {

struct CurlTransportOptions {
  // PEM file of trusted CAs; "" = the system store.
  std::string ca_bundle_path;
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration total_timeout = absl::Seconds(60);
  // Appended to "certfleet/<version>" when not empty, e.g. "(issuance worker)".
  std::string user_agent_suffix;
  // Hosts that bypass any proxy from the environment (CURLOPT_NOPROXY), e.g. "*" or
  // "localhost,127.0.0.1"; "" = libcurl's default (the no_proxy environment variable).
  std::string no_proxy;
  // Idle easy handles kept for reuse.
  int max_idle_handles = 4;
};

class CurlHttpTransport : public HttpTransport {
 public:
  explicit CurlHttpTransport(CurlTransportOptions options);
  ~CurlHttpTransport() override;
  CurlHttpTransport(const CurlHttpTransport&) = delete;
  CurlHttpTransport& operator=(const CurlHttpTransport&) = delete;

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override;

  // The User-Agent sent with every request.
  const std::string& user_agent() const { return user_agent_; }

 private:
  void* AcquireHandle();
  void ReleaseHandle(void* handle);

  const CurlTransportOptions options_;
  const std::string user_agent_;
  absl::Mutex mu_;
  std::vector<void*> idle_ ABSL_GUARDED_BY(mu_);  // CURL* easy handles
};

}  // namespace certfleet::acme
