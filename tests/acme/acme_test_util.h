#pragma once

// Test doubles for the ACME engine: a scripted HttpTransport, a fake Clock, and access to
// the recorded responses in tests/testdata/acme/.

#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/acme/http_transport.h"

namespace certfleet::acme::testing {

// Reads tests/testdata/acme/<name>; aborts the test binary when missing.
inline std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(CERTFLEET_ACME_TESTDATA) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in) std::abort();
  return ss.str();
}

// A clock that only moves when SleepUntil is called (jumps to the deadline).
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1700000000)) : now_(start) {}
  absl::Time Now() const override { return now_; }
  void SleepUntil(absl::Time deadline) override {
    sleeps_.push_back(deadline - now_);
    if (deadline > now_) now_ = deadline;
  }
  const std::vector<absl::Duration>& sleeps() const { return sleeps_; }

 private:
  absl::Time now_;
  std::vector<absl::Duration> sleeps_;
};

// Answers every request with `handler` and records them.
class FakeTransport : public HttpTransport {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  explicit FakeTransport(Handler handler) : handler_(std::move(handler)) {}

  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(request);
    }
    return handler_(request);
  }
  std::vector<HttpRequest> requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

 private:
  Handler handler_;
  mutable absl::Mutex mu_;
  std::vector<HttpRequest> requests_;
};

// A response with a JSON body and optional Replay-Nonce.
inline HttpResponse JsonResponse(int status, const std::string& body,
                                 const std::string& nonce = "",
                                 const std::string& content_type = "application/json") {
  HttpResponse r;
  r.status = status;
  r.body = body;
  r.headers.Add("Content-Type", content_type);
  if (!nonce.empty()) r.headers.Add("Replay-Nonce", nonce);
  return r;
}

}  // namespace certfleet::acme::testing
