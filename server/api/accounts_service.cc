#include "server/api/accounts_service.h"

#include <utility>

#include "common/status_macros.h"
#include "server/api/async_unary.h"
#include "server/api/proto_convert.h"
#include "server/api/status_mapping.h"
#include "server/issuance/request_validation.h"

namespace certfleet::api {

AccountsService::AccountsService(issuance::AcmeAccounts* accounts, issuance::CaSettingsMap cas,
                                 issuance::Executor* executor, const ApiAuthenticator* auth)
    : accounts_(accounts), cas_(std::move(cas)), executor_(executor), auth_(auth) {}

absl::Status AccountsService::CheckCa(const std::string& ca) const {
  if (ca.empty()) return absl::InvalidArgumentError("ca: no CA given");
  RETURN_IF_ERROR(issuance::ValidateCaName(ca));
  return issuance::ResolveCa(ca, cas_, issuance::IssuanceDefaults{}).status();
}

grpc::ServerUnaryReactor* AccountsService::Run(
    v1::Account* response, std::function<absl::StatusOr<storage::AccountRecord>()> work) {
  return RunOnExecutor<v1::Account>(
      executor_, response, [work = std::move(work)](v1::Account* out) -> absl::Status {
        ASSIGN_OR_RETURN(storage::AccountRecord account, work());
        ToProto(account, out);
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AccountsService::ListAccounts(grpc::CallbackServerContext* context,
                                                        const v1::ListAccountsRequest* request,
                                                        v1::ListAccountsResponse* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Accounts.ListAccounts")) {
    return rejected;
  }
  return RunOnExecutor<v1::ListAccountsResponse>(
      executor_, response, [this](v1::ListAccountsResponse* out) -> absl::Status {
        ASSIGN_OR_RETURN(std::vector<storage::AccountRecord> list, accounts_->List());
        for (const auto& a : list) ToProto(a, out->add_accounts());
        return absl::OkStatus();
      });
}

grpc::ServerUnaryReactor* AccountsService::GetAccount(grpc::CallbackServerContext* context,
                                                      const v1::GetAccountRequest* request,
                                                      v1::Account* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Accounts.GetAccount")) {
    return rejected;
  }
  return Run(response, [this, ca = request->ca()]() -> absl::StatusOr<storage::AccountRecord> {
    RETURN_IF_ERROR(CheckCa(ca));
    return accounts_->Get(ca);
  });
}

grpc::ServerUnaryReactor* AccountsService::EnsureAccount(grpc::CallbackServerContext* context,
                                                         const v1::EnsureAccountRequest* request,
                                                         v1::Account* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Accounts.EnsureAccount")) {
    return rejected;
  }
  return Run(response, [this, ca = request->ca()]() -> absl::StatusOr<storage::AccountRecord> {
    RETURN_IF_ERROR(CheckCa(ca));
    return accounts_->Ensure(ca);
  });
}

grpc::ServerUnaryReactor* AccountsService::DeactivateAccount(
    grpc::CallbackServerContext* context, const v1::DeactivateAccountRequest* request,
    v1::Account* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Accounts.DeactivateAccount")) {
    return rejected;
  }
  return Run(response, [this, ca = request->ca()]() -> absl::StatusOr<storage::AccountRecord> {
    RETURN_IF_ERROR(CheckCa(ca));
    return accounts_->Deactivate(ca);
  });
}

grpc::ServerUnaryReactor* AccountsService::RollOverAccountKey(
    grpc::CallbackServerContext* context, const v1::RollOverAccountKeyRequest* request,
    v1::Account* response) {
  if (auto* rejected = RejectUnauthorized(auth_, context, "Accounts.RollOverAccountKey")) {
    return rejected;
  }
  absl::StatusOr<std::optional<crypto::KeyType>> type = KeyTypeFromProto(request->key_type());
  if (!type.ok()) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(ToGrpcStatus(type.status()));
    return reactor;
  }
  return Run(response, [this, ca = request->ca(),
                        t = *type]() -> absl::StatusOr<storage::AccountRecord> {
    RETURN_IF_ERROR(CheckCa(ca));
    return accounts_->RollOver(ca, t);
  });
}

}  // namespace certfleet::api
