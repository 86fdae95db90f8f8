#pragma once

// The Accounts gRPC service (callback API) over issuance::AcmeAccounts; network work runs
// on the executor.

#include "certfleet/v1/accounts.grpc.pb.h"
#include "server/api/api_auth.h"
#include "server/issuance/acme_accounts.h"
#include "server/issuance/executor.h"

namespace certfleet::api {

class AccountsService final : public v1::Accounts::CallbackService {
 public:
  // Not owned; all must outlive the gRPC server. `cas` names the configured CAs. Every
  // call is first checked by `auth` (null: the API is open).
  AccountsService(issuance::AcmeAccounts* accounts, issuance::CaSettingsMap cas,
                  issuance::Executor* executor, const ApiAuthenticator* auth);

  grpc::ServerUnaryReactor* ListAccounts(grpc::CallbackServerContext* context,
                                         const v1::ListAccountsRequest* request,
                                         v1::ListAccountsResponse* response) override;
  grpc::ServerUnaryReactor* GetAccount(grpc::CallbackServerContext* context,
                                       const v1::GetAccountRequest* request,
                                       v1::Account* response) override;
  grpc::ServerUnaryReactor* EnsureAccount(grpc::CallbackServerContext* context,
                                          const v1::EnsureAccountRequest* request,
                                          v1::Account* response) override;
  grpc::ServerUnaryReactor* DeactivateAccount(grpc::CallbackServerContext* context,
                                              const v1::DeactivateAccountRequest* request,
                                              v1::Account* response) override;
  grpc::ServerUnaryReactor* RollOverAccountKey(grpc::CallbackServerContext* context,
                                               const v1::RollOverAccountKeyRequest* request,
                                               v1::Account* response) override;

 private:
  // `ca: unknown CA "x" (configured: ...)` unless configured.
  absl::Status CheckCa(const std::string& ca) const;
  grpc::ServerUnaryReactor* Run(v1::Account* response,
                                std::function<absl::StatusOr<storage::AccountRecord>()> work);

  issuance::AcmeAccounts* const accounts_;
  const issuance::CaSettingsMap cas_;
  issuance::Executor* const executor_;
  const ApiAuthenticator* const auth_;
};

}  // namespace certfleet::api
