#include "storage/account_repository.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/absl_compat.h"
#include "storage/row_codec.h"

namespace certfleet::storage {
namespace {

absl::StatusOr<AccountRecord> SelectById(Database* db, int64_t id)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu()) {
  ASSIGN_OR_RETURN(Statement stmt,
                   db->Prepare("SELECT " CF_ACCOUNT_COLUMNS " FROM accounts WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindInt64(0, id));
  return internal::ReadOne(stmt, internal::ReadAccount, absl::StrCat("account ", id, " not found"));
}

absl::Status NotFoundUnlessChanged(Database* db, int64_t id)
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(db->mu()) {
  if (db->ChangedRows() == 0)
    return absl::NotFoundError(absl::StrCat("account ", id, " not found"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AccountRecord> AccountRepository::Upsert(const AccountRecord& account) {
  if (account.ca_name.empty()) return absl::InvalidArgumentError("account ca_name is empty");
  if (account.directory_url.empty()) {
    return absl::InvalidArgumentError("account directory_url is empty");
  }
  if (account.key_pem.empty()) return absl::InvalidArgumentError("account key_pem is empty");
  absl::MutexLock lock(db_->mu());
  absl::Time now = db_->clock()->Now();
  Transaction transaction(db_);
  RETURN_IF_ERROR(transaction.Begin());
  {
    ASSIGN_OR_RETURN(
        Statement stmt,
        db_->Prepare("INSERT INTO accounts (ca_name, directory_url, key_pem, account_url, "
                     "contact, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                     "ON CONFLICT (ca_name, directory_url) DO UPDATE SET "
                     "key_pem = excluded.key_pem, account_url = excluded.account_url, "
                     "contact = excluded.contact, status = excluded.status, "
                     "updated_at = excluded.updated_at"));
    RETURN_IF_ERROR(stmt.BindText(0, account.ca_name));
    RETURN_IF_ERROR(stmt.BindText(1, account.directory_url));
    RETURN_IF_ERROR(stmt.BindText(2, account.key_pem));
    RETURN_IF_ERROR(stmt.BindText(3, account.account_url));
    RETURN_IF_ERROR(stmt.BindText(4, internal::EncodeStrings(account.contact)));
    RETURN_IF_ERROR(stmt.BindText(5, account.status));
    RETURN_IF_ERROR(stmt.BindTime(6, now));
    RETURN_IF_ERROR(stmt.BindTime(7, now));
    RETURN_IF_ERROR(stmt.Run());
  }
  ASSIGN_OR_RETURN(Statement select,
                   db_->Prepare("SELECT " CF_ACCOUNT_COLUMNS
                                " FROM accounts WHERE ca_name = ? AND directory_url = ?"));
  RETURN_IF_ERROR(select.BindText(0, account.ca_name));
  RETURN_IF_ERROR(select.BindText(1, account.directory_url));
  ASSIGN_OR_RETURN(AccountRecord stored,
                   internal::ReadOne(select, internal::ReadAccount, "account vanished"));
  RETURN_IF_ERROR(transaction.Commit());
  return stored;
}

absl::StatusOr<AccountRecord> AccountRepository::Get(std::string_view ca_name,
                                                     std::string_view directory_url) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt,
                   db_->Prepare("SELECT " CF_ACCOUNT_COLUMNS
                                " FROM accounts WHERE ca_name = ? AND directory_url = ?"));
  RETURN_IF_ERROR(stmt.BindText(0, ca_name));
  RETURN_IF_ERROR(stmt.BindText(1, directory_url));
  return internal::ReadOne(stmt, internal::ReadAccount,
                           absl::StrCat("no account for CA '", internal::Av(ca_name), "' at ",
                                        internal::Av(directory_url)));
}

absl::StatusOr<AccountRecord> AccountRepository::GetById(int64_t id) {
  absl::MutexLock lock(db_->mu());
  return SelectById(db_, id);
}

absl::StatusOr<std::vector<AccountRecord>> AccountRepository::List() {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt,
                   db_->Prepare("SELECT " CF_ACCOUNT_COLUMNS " FROM accounts ORDER BY id"));
  return internal::ReadAll(stmt, internal::ReadAccount);
}

absl::Status AccountRepository::UpdateStatus(int64_t id, std::string_view status) {
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt,
                   db_->Prepare("UPDATE accounts SET status = ?, updated_at = ? WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindText(0, status));
  RETURN_IF_ERROR(stmt.BindTime(1, db_->clock()->Now()));
  RETURN_IF_ERROR(stmt.BindInt64(2, id));
  RETURN_IF_ERROR(stmt.Run());
  return NotFoundUnlessChanged(db_, id);
}

absl::Status AccountRepository::UpdateKey(int64_t id, std::string_view key_pem) {
  if (key_pem.empty()) return absl::InvalidArgumentError("account key_pem is empty");
  absl::MutexLock lock(db_->mu());
  ASSIGN_OR_RETURN(Statement stmt,
                   db_->Prepare("UPDATE accounts SET key_pem = ?, updated_at = ? WHERE id = ?"));
  RETURN_IF_ERROR(stmt.BindText(0, key_pem));
  RETURN_IF_ERROR(stmt.BindTime(1, db_->clock()->Now()));
  RETURN_IF_ERROR(stmt.BindInt64(2, id));
  RETURN_IF_ERROR(stmt.Run());
  return NotFoundUnlessChanged(db_, id);
}

}  // namespace certfleet::storage
