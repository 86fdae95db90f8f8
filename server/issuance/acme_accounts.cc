#include "server/issuance/acme_accounts.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "server/acme/account.h"
#include "server/acme/problem.h"
#include "server/acme/curl_http_transport.h"

namespace certfleet::issuance {
namespace {

constexpr char kStatusValid[] = "valid";
constexpr char kStatusDeactivated[] = "deactivated";

acme::AccountOptions OptionsFor(const CaSettings& s) {
  acme::AccountOptions options;
  options.contact = s.contact;
  options.terms_of_service_agreed = s.terms_of_service_agreed;
  options.eab_kid = s.eab_kid;
  options.eab_hmac_key = s.eab_hmac_key;
  return options;
}

}  // namespace

AcmeAccounts::AcmeAccounts(storage::Database* db, CaSettingsMap cas, Clock* clock)
    : db_(db), accounts_(db), cas_(std::move(cas)), clock_(clock) {}

absl::StatusOr<CaSettings> AcmeAccounts::Settings(const std::string& ca) const {
  auto it = cas_.find(ca);
  if (it == cas_.end()) {
    return absl::InvalidArgumentError(absl::StrCat("ca: unknown CA \"", ca, "\""));
  }
  return it->second;
}

AcmeAccounts::Entry* AcmeAccounts::EntryFor(const std::string& ca) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<Entry>& entry = entries_[ca];
  if (!entry) entry = std::make_unique<Entry>();
  return entry.get();
}

absl::StatusOr<std::shared_ptr<acme::AcmeClient>> AcmeAccounts::ClientLocked(
    const CaSettings& settings, Entry* entry) {
  if (entry->client) return entry->client;
  acme::CurlTransportOptions transport_options;
  transport_options.ca_bundle_path = settings.ca_bundle;
  auto transport = std::make_shared<acme::CurlHttpTransport>(transport_options);
  acme::AcmeClientOptions client_options;
  client_options.directory_url = settings.directory_url;
  client_options.clock = clock_;
  auto client = std::make_shared<acme::AcmeClient>(transport, client_options);

  absl::StatusOr<storage::AccountRecord> stored =
      accounts_.Get(settings.name, settings.directory_url);
  if (!stored.ok() && !absl::IsNotFound(stored.status())) return stored.status();
  storage::AccountRecord record;
  bool need_new_key = !stored.ok() || stored->status == kStatusDeactivated ||
                      stored->status == "revoked";
  if (need_new_key) {
    // The key is stored before newAccount, so a crash cannot orphan a registered account.
    ASSIGN_OR_RETURN(crypto::PrivateKey key,
                     crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
    record.ca_name = settings.name;
    record.directory_url = settings.directory_url;
    record.key_pem = key.ToPem();
    record.contact = settings.contact;
    record.status = "";
    ASSIGN_OR_RETURN(record, accounts_.Upsert(record));
    client->SetAccountKey(std::move(key));
  } else {
    record = *stored;
    ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::FromPem(record.key_pem));
    client->SetAccountKey(std::move(key));
  }
  if (record.account_url.empty() || record.status != kStatusValid) {
    absl::StatusOr<acme::Account> account = acme::RegisterAccount(*client, OptionsFor(settings));
    if (!account.ok()) {
      return acme::AnnotateStatus(account.status(),
                                  absl::StrCat("registering an account with CA ", settings.name));
    }
    record.account_url = account->url;
    record.status = account->status.empty() ? kStatusValid : account->status;
    if (!account->contact.empty()) record.contact = account->contact;
    ASSIGN_OR_RETURN(record, accounts_.Upsert(record));
    CF_LOG(INFO) << "ACME account registered" << Kv("ca", settings.name)
                 << Kv("account", record.account_url);
  } else {
    client->set_account_url(record.account_url);
  }
  entry->client = client;
  return client;
}

absl::StatusOr<std::shared_ptr<acme::AcmeClient>> AcmeAccounts::ClientFor(const std::string& ca) {
  ASSIGN_OR_RETURN(CaSettings settings, Settings(ca));
  Entry* entry = EntryFor(ca);
  absl::MutexLock lock(&entry->mu);
  return ClientLocked(settings, entry);
}

absl::StatusOr<storage::AccountRecord> AcmeAccounts::Ensure(const std::string& ca) {
  ASSIGN_OR_RETURN(CaSettings settings, Settings(ca));
  RETURN_IF_ERROR(ClientFor(ca).status());
  return accounts_.Get(settings.name, settings.directory_url);
}

absl::StatusOr<storage::AccountRecord> AcmeAccounts::Get(const std::string& ca) {
  ASSIGN_OR_RETURN(CaSettings settings, Settings(ca));
  absl::StatusOr<storage::AccountRecord> record =
      accounts_.Get(settings.name, settings.directory_url);
  if (absl::IsNotFound(record.status())) {
    return absl::NotFoundError(absl::StrCat("no account registered with CA \"", ca, "\" yet"));
  }
  return record;
}

absl::StatusOr<std::vector<storage::AccountRecord>> AcmeAccounts::List() {
  return accounts_.List();
}

absl::StatusOr<storage::AccountRecord> AcmeAccounts::Deactivate(const std::string& ca) {
  ASSIGN_OR_RETURN(CaSettings settings, Settings(ca));
  ASSIGN_OR_RETURN(storage::AccountRecord record, Get(ca));
  Entry* entry = EntryFor(ca);
  absl::MutexLock lock(&entry->mu);
  if (record.status == kStatusDeactivated) return record;
  ASSIGN_OR_RETURN(std::shared_ptr<acme::AcmeClient> client, ClientLocked(settings, entry));
  absl::StatusOr<acme::Account> account = acme::DeactivateAccount(*client);
  if (!account.ok()) return account.status();
  RETURN_IF_ERROR(accounts_.UpdateStatus(record.id, kStatusDeactivated));
  entry->client.reset();  // The next use registers a new account.
  return accounts_.GetById(record.id);
}

absl::StatusOr<storage::AccountRecord> AcmeAccounts::RollOver(
    const std::string& ca, std::optional<crypto::KeyType> type) {
  ASSIGN_OR_RETURN(CaSettings settings, Settings(ca));
  Entry* entry = EntryFor(ca);
  absl::MutexLock lock(&entry->mu);
  ASSIGN_OR_RETURN(std::shared_ptr<acme::AcmeClient> client, ClientLocked(settings, entry));
  ASSIGN_OR_RETURN(storage::AccountRecord record,
                   accounts_.Get(settings.name, settings.directory_url));
  crypto::KeyType new_type = type.value_or(client->account_key()->type());
  ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::Generate(new_type));
  std::string pem = key.ToPem();
  RETURN_IF_ERROR(acme::ChangeAccountKey(*client, std::move(key)));
  RETURN_IF_ERROR(accounts_.UpdateKey(record.id, pem));
  return accounts_.GetById(record.id);
}

}  // namespace certfleet::issuance
