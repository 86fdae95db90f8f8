#pragma once

// A fault-injecting HTTPS reverse proxy for ACME tests: it sits between the engine under
// test and a real Pebble, forwards every request (passing the Host header through, so the
// URLs Pebble builds name the proxy and the client keeps talking to it), and misbehaves as
// a per-test rule list asks, the way a production CA and its CDN do: Retry-After hints,
// HTML 5xx pages without Replay-Nonce, 404 for a just-announced resource, orderNotReady to
// a finalize, a response held past the client's timeout. Every request is logged.
//
//   FaultProxyOptions options;
//   options.upstream_base_url = "https://127.0.0.1:" + port;   // Pebble's listener
//   options.upstream_ca_bundle_path = pebble->ca_bundle_path();
//   options.rules = {FaultRule::ServerError("HEAD", ".*/nonce-plz", 503).First(2)};
//   auto proxy = FaultProxy::Start(options);
//   client trusts (*proxy)->ca_bundle_path(), fetches (*proxy)->directory_url()

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace certfleet::testing {

// What a rule does to a request it fires on.
enum class FaultAction {
  // Forward; then set `Retry-After: <seconds>` on the response.
  kRetryAfterSeconds,
  // Forward; then set `Retry-After: <IMF-fixdate>` = now (UTC) + seconds on the response.
  kRetryAfterHttpDate,
  // Do not forward; answer `status` (500/502/503) with an HTML body and no Replay-Nonce.
  kServerError,
  // Do not forward; answer 404 with a problem+json (malformed, "... not found") and a
  // fresh Replay-Nonce, as a CA replica that has not yet seen the resource does.
  kNotFound,
  // Do not forward; answer 403 urn:ietf:params:acme:error:orderNotReady with a fresh
  // Replay-Nonce.
  kOrderNotReady,
  // Forward (the CA acts on it), then hold the response for `delay` and drop the
  // connection without answering.
  kHoldAndDrop,
};

// Which of the requests matching a rule's method and path it fires on.
enum class FaultMatch {
  kAll,     // every match
  kNth,     // only the n-th match (1-based)
  kFirstN,  // matches 1..n
};

// One rule. Rules are checked in order; the first one that fires decides the response.
// Every rule whose method and path match counts the request, whether or not it fires.
struct FaultRule {
  std::string method;      // "GET", "HEAD", "POST"; "" = any
  std::string path_regex;  // ECMAScript regex, must match the whole path
  FaultAction action = FaultAction::kRetryAfterSeconds;
  FaultMatch match = FaultMatch::kAll;
  int n = 1;                // for kNth / kFirstN
  bool per_path = false;    // count matches per distinct path instead of in total
  int status = 503;         // kServerError
  int64_t retry_after_seconds = 1;             // kRetryAfter*
  absl::Duration delay = absl::Seconds(5);     // kHoldAndDrop
  std::string name;         // shown in the request log; defaults to a description

  // Constructors for each action (all fire on every match until narrowed below).
  static FaultRule RetryAfterSeconds(std::string method, std::string path_regex,
                                     int64_t seconds);
  static FaultRule RetryAfterHttpDate(std::string method, std::string path_regex,
                                      int64_t seconds);
  static FaultRule ServerError(std::string method, std::string path_regex, int status);
  static FaultRule NotFound(std::string method, std::string path_regex);
  static FaultRule OrderNotReady(std::string method, std::string path_regex);
  static FaultRule HoldAndDrop(std::string method, std::string path_regex,
                               absl::Duration delay);

  // Narrowing: fire only on the n-th match / on the first n matches; count per path.
  FaultRule& Nth(int which);
  FaultRule& First(int count);
  FaultRule& PerPath();
  FaultRule& Named(std::string label);
};

// One request as the proxy saw it.
struct ProxyLogEntry {
  std::string method;
  std::string path;
  std::string host;         // the Host header received (and passed on)
  absl::Time received;      // when the request was fully read
  absl::Time responded;     // when the response was sent (or the connection dropped)
  std::string jws_nonce;    // from the flattened JWS protected header; "" when none
  std::string jws_url;      // likewise
  int status = 0;           // status sent to the client; 0 = connection dropped
  int upstream_status = 0;  // status Pebble answered; 0 = not forwarded
  std::string retry_after;  // the Retry-After header sent, "" when none
  std::string rule;         // the rule that fired; "" = forwarded untouched
};

struct FaultProxyOptions {
  // Pebble's HTTPS listener, e.g. "https://127.0.0.1:14000" (no trailing slash).
  std::string upstream_base_url;
  // The trust bundle for the upstream (PebbleFixture::ca_bundle_path()).
  std::string upstream_ca_bundle_path;
  // Path of the CA's directory on the upstream (for directory_url()).
  std::string directory_path = "/dir";
  std::vector<FaultRule> rules;
};

class FaultProxy {
 public:
  // Generates a CA and a localhost/127.0.0.1 certificate, binds 127.0.0.1:0 and starts
  // serving. Internal/Unavailable when a certificate, the socket or the regexes fail.
  static absl::StatusOr<std::unique_ptr<FaultProxy>> Start(FaultProxyOptions options);
  // Stops accepting, wakes held responses, drops open connections and joins all threads.
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  // The port the proxy listens on (127.0.0.1).
  int port() const;
  // "https://127.0.0.1:PORT"
  std::string base_url() const;
  // base_url() + options.directory_path.
  std::string directory_url() const;
  // PEM file of the CA that signed the proxy's certificate: the client's trust bundle.
  std::string ca_bundle_path() const;

  // Replaces the rule list (match counters restart). InvalidArgument on a bad regex.
  absl::Status SetRules(std::vector<FaultRule> rules);
  // A copy of the request log so far, in the order requests were received.
  std::vector<ProxyLogEntry> Log() const;
  // Clears the request log.
  void ClearLog();
  // Blocks until no request is being handled (held ones included); false on timeout.
  // Note: the response of the last request may still be on its way to the client.
  bool WaitUntilIdle(absl::Duration timeout) const;
  // How many requests a rule (by name) has fired on so far.
  int FiredCount(const std::string& rule_name) const;

  // Implementation details live in fault_proxy.cc.
  struct Impl;

 private:
  explicit FaultProxy(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Formats `t` as an HTTP IMF-fixdate in GMT ("Sun, 06 Nov 1994 08:49:37 GMT"), whatever
// the local time zone.
std::string FormatHttpDate(absl::Time t);

}  // namespace certfleet::testing
