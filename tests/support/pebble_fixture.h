#pragma once

// Starts a real Pebble CA (Debian's `pebble`) and `pebble-challtestsrv` as its DNS on free
// ports for one test, with a listener certificate generated for the run. Stops both on
// destruction; keeps their logs (and prints their paths) when the test failed.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace certfleet::testing {

struct PebbleOptions {
  // Where Pebble connects for tls-alpn-01 and http-01 validation (the responders under
  // test). 0 = Pebble's defaults (5001/5002), which tests should not use.
  int tls_port = 0;
  int http_port = 0;
  // Extra environment for pebble (PEBBLE_VA_NOSLEEP=1 is always set; also
  // PEBBLE_WFE_NONCEREJECT=0 and PEBBLE_AUTHZREUSE=0 unless given here).
  std::map<std::string, std::string> env;
  // Require external account binding with Pebble's example keys (kid-1, kid-2).
  bool require_eab = false;
  // Names on Pebble's domainBlocklist.
  std::vector<std::string> domain_blocklist;
  // certificateValidityPeriod in seconds; 0 = Pebble's default.
  int64_t certificate_validity_seconds = 0;
  // The address challtestsrv answers for every A query (no AAAA is ever answered).
  std::string default_ipv4 = "127.0.0.1";
  // Run pebble with -strict (tests upcoming API-breaking changes).
  bool strict = true;
};

class PebbleFixture {
 public:
  // Starts both processes and waits (by polling the directory over HTTPS, bounded to ~30 s)
  // until Pebble answers; Unavailable with the tail of their logs when either fails to start.
  static absl::StatusOr<std::unique_ptr<PebbleFixture>> Start(const PebbleOptions& options);
  ~PebbleFixture();

  // https://127.0.0.1:PORT/dir
  std::string directory_url() const;
  // PEM file of the CA that signed Pebble's listener certificate: the trust bundle for
  // the ACME client and for the management interface.
  std::string ca_bundle_path() const;
  // https://127.0.0.1:MPORT (management: /roots/0, /intermediates/0, /cert-status-by-serial/)
  std::string management_url() const;
  // GET on the management interface; returns the body. Unavailable on failure.
  absl::StatusOr<std::string> ManagementGet(const std::string& path) const;
  // Maps `name` to `ipv4` in challtestsrv (POST /add-a), overriding the default.
  absl::Status AddARecord(const std::string& name, const std::string& ipv4) const;
  // Removes the records added for `name` (POST /clear-a), back to the default address.
  absl::Status ClearARecord(const std::string& name) const;
  // Pebble's example EAB key ids and HMAC keys (unpadded base64url).
  static constexpr char kEabKid1[] = "kid-1";
  static constexpr char kEabHmac1[] =
      "zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W";
  static constexpr char kEabKid2[] = "kid-2";
  static constexpr char kEabHmac2[] =
      "b10lLJs8l1GPIzsLP0s6pMt8O0XVGnfTaCeROxQM0BIt2XrJMDHJZBM5NuQmQJQH";
  // The options this fixture was started with.
  const PebbleOptions& options() const;
  // Folder holding config, certificates and logs for this run.
  std::string work_dir() const;
  // Pebble's own log so far (to assert on validation attempts).
  std::string PebbleLog() const;
  // challtestsrv's log so far.
  std::string ChallTestSrvLog() const;

  // Implementation details live in pebble_fixture.cc.
  struct Impl;

 private:
  explicit PebbleFixture(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Shared helpers for tests that start processes.
// Returns a TCP port that was free on 127.0.0.1 a moment ago (bind to 0, read, close).
int PickFreePort();
// A fresh temporary folder under $TMPDIR (removed by the caller or left for debugging).
std::string MakeTempDir(const std::string& prefix);

}  // namespace certfleet::testing
