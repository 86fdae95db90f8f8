#pragma once

// The Certificates gRPC service (callback API): validates at the edge, hands the work to
// the issuance manager on an executor (never blocking a reaction), maps absl::Status to
// grpc::Status with the same code and message.

#include "certfleet/v1/certificates.grpc.pb.h"
#include "server/api/api_auth.h"
#include "server/issuance/executor.h"
#include "server/issuance/issuance_manager.h"

namespace certfleet::api {

class CertificatesService final : public v1::Certificates::CallbackService {
 public:
  // Not owned; all must outlive the gRPC server. Every call is first checked by `auth`
  // (null: the API is open).
  CertificatesService(issuance::IssuanceManager* manager, issuance::Executor* executor,
                      const ApiAuthenticator* auth);

  grpc::ServerUnaryReactor* IssueCertificate(grpc::CallbackServerContext* context,
                                             const v1::IssueCertificateRequest* request,
                                             v1::Issuance* response) override;
  grpc::ServerUnaryReactor* RenewCertificate(grpc::CallbackServerContext* context,
                                             const v1::RenewCertificateRequest* request,
                                             v1::Issuance* response) override;
  grpc::ServerUnaryReactor* GetCertificate(grpc::CallbackServerContext* context,
                                           const v1::GetCertificateRequest* request,
                                           v1::ManagedCertificate* response) override;
  grpc::ServerUnaryReactor* ListCertificates(grpc::CallbackServerContext* context,
                                             const v1::ListCertificatesRequest* request,
                                             v1::ListCertificatesResponse* response) override;
  grpc::ServerUnaryReactor* RevokeCertificate(grpc::CallbackServerContext* context,
                                              const v1::RevokeCertificateRequest* request,
                                              v1::CertificateVersion* response) override;
  grpc::ServerUnaryReactor* GetIssuance(grpc::CallbackServerContext* context,
                                        const v1::GetIssuanceRequest* request,
                                        v1::Issuance* response) override;
  grpc::ServerWriteReactor<v1::IssuanceEvent>* WatchIssuances(
      grpc::CallbackServerContext* context, const v1::WatchIssuancesRequest* request) override;

  // Converts an IssueCertificateRequest to manager parameters; InvalidArgument naming the
  // field for enum values out of range (names, CA, request_id are checked by the manager).
  static absl::StatusOr<issuance::IssueParams> ParamsFromRequest(
      const v1::IssueCertificateRequest& request);

 private:
  // Starts an issuance (`start` runs on the executor) and answers with it, at once or,
  // with `wait`, when it ends or the RPC deadline is near.
  grpc::ServerUnaryReactor* StartIssuance(
      grpc::CallbackServerContext* context, v1::Issuance* response, bool wait,
      std::function<absl::StatusOr<issuance::IssuanceView>()> start);

  issuance::IssuanceManager* const manager_;
  issuance::Executor* const executor_;
  const ApiAuthenticator* const auth_;
};

}  // namespace certfleet::api
