#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "storage/database.h"
#include "storage/records.h"

namespace certfleet::storage {

// Filters for CertificateRepository::List; empty fields match everything.
struct CertificateFilter {
  std::string name_contains;  // Substring of the name (case-sensitive, literal).
  std::string state;          // Exact managed-certificate state.
  // Only certificates whose latest version's not_after is before this time (certificates
  // without any version never match).
  std::optional<absl::Time> expiring_before;
};

// One page of managed certificates.
struct CertificatePage {
  std::vector<ManagedCertificateRecord> certificates;  // Ordered by id.
  std::string next_page_token;                         // Empty on the last page.
};

// Managed certificates and their policy. Thread-safe; each call takes the Database lock.
// `db` is not owned and must outlive the repository.
class CertificateRepository {
 public:
  // Page size used when the caller passes page_size <= 0, and the largest honoured.
  static constexpr int kDefaultPageSize = 50;
  static constexpr int kMaxPageSize = 1000;

  explicit CertificateRepository(Database* db) : db_(db) {}

  // Inserts a managed certificate; AlreadyExists when the name is taken, InvalidArgument
  // when the name or identifiers are empty. Returns the stored row.
  absl::StatusOr<ManagedCertificateRecord> Create(const ManagedCertificateRecord& certificate);
  // NotFound when absent.
  absl::StatusOr<ManagedCertificateRecord> GetByName(std::string_view name);
  // NotFound when absent.
  absl::StatusOr<ManagedCertificateRecord> GetById(int64_t id);
  // Keyset paging by id: `page_token` is the token from the previous page ("" = first).
  // InvalidArgument for a malformed token.
  absl::StatusOr<CertificatePage> List(const CertificateFilter& filter, int page_size,
                                       std::string_view page_token);
  // Replaces the policy; NotFound when absent.
  absl::Status UpdatePolicy(int64_t id, const CertificatePolicy& policy);
  // Sets the state (e.g. kCertificateStateRevoked); NotFound when absent.
  absl::Status UpdateState(int64_t id, std::string_view state);

 private:
  Database* const db_;
};

}  // namespace certfleet::storage
