#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/api/certificates_service.h"
#include "server/api/proto_convert.h"
#include "server/api/status_mapping.h"

namespace certfleet::api {
namespace {

using ::testing::HasSubstr;

TEST(StatusMappingTest, SameCodeAndMessage) {
  for (absl::StatusCode code :
       {absl::StatusCode::kInvalidArgument, absl::StatusCode::kNotFound,
        absl::StatusCode::kFailedPrecondition, absl::StatusCode::kUnavailable,
        absl::StatusCode::kDeadlineExceeded, absl::StatusCode::kResourceExhausted,
        absl::StatusCode::kAborted, absl::StatusCode::kInternal,
        absl::StatusCode::kPermissionDenied, absl::StatusCode::kAlreadyExists}) {
    absl::Status in(code, "names[2]: \"a..b\": empty label");
    grpc::Status out = ToGrpcStatus(in);
    EXPECT_EQ(static_cast<int>(out.error_code()), static_cast<int>(code));
    EXPECT_EQ(out.error_message(), "names[2]: \"a..b\": empty label");
    EXPECT_EQ(FromGrpcStatus(out), in);
  }
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
}

TEST(ParamsFromRequestTest, UnknownKeyType) {
  v1::IssueCertificateRequest request;
  request.add_names("www.example.com");
  request.set_key_type(static_cast<v1::KeyType>(42));
  absl::StatusOr<issuance::IssueParams> params =
      CertificatesService::ParamsFromRequest(request);
  ASSERT_FALSE(params.ok());
  EXPECT_EQ(params.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(params.status().message(), "key_type: unknown value 42");
}

TEST(ParamsFromRequestTest, UnknownChallengeType) {
  v1::IssueCertificateRequest request;
  request.add_names("www.example.com");
  request.add_challenge_preference(v1::CHALLENGE_TYPE_HTTP_01);
  request.add_challenge_preference(static_cast<v1::ChallengeType>(9));
  absl::StatusOr<issuance::IssueParams> params =
      CertificatesService::ParamsFromRequest(request);
  ASSERT_FALSE(params.ok());
  EXPECT_EQ(params.status().message(), "challenge_preference[1]: unknown value 9");
}

TEST(ParamsFromRequestTest, Maps) {
  v1::IssueCertificateRequest request;
  request.add_names("www.example.com");
  request.set_ca("pebble");
  request.set_key_type(v1::KEY_TYPE_RSA_2048);
  request.add_challenge_preference(v1::CHALLENGE_TYPE_HTTP_01);
  request.set_request_id("r-1");
  absl::StatusOr<issuance::IssueParams> params =
      CertificatesService::ParamsFromRequest(request);
  ASSERT_TRUE(params.ok()) << params.status();
  EXPECT_EQ(params->names, std::vector<std::string>{"www.example.com"});
  EXPECT_EQ(params->ca, "pebble");
  EXPECT_EQ(params->key_type, crypto::KeyType::kRsa2048);
  EXPECT_EQ(params->challenge_preference, std::vector<std::string>{"http-01"});
  EXPECT_EQ(params->request_id, "r-1");
  request.set_key_type(v1::KEY_TYPE_UNSPECIFIED);
  EXPECT_FALSE(CertificatesService::ParamsFromRequest(request)->key_type.has_value());
}

TEST(ProtoConvertTest, IssuanceNeverCarriesKeys) {
  issuance::IssuanceView view;
  view.issuance.id = "iss_0123456789abcdef";
  view.issuance.state = storage::IssuanceState::kFailed;
  view.issuance.error_code = 5;
  view.issuance.error_message = "boom";
  view.issuance.cert_key_pem = "-----BEGIN PRIVATE KEY-----SECRET";
  view.certificate.name = "www.example.com";
  view.certificate.identifiers = {{"dns", "www.example.com"}};
  storage::CertificateVersionRecord version;
  version.serial_hex = "0A";
  version.key_pem = "-----BEGIN PRIVATE KEY-----SECRET";
  view.version = version;
  v1::Issuance out;
  ToProto(view, &out);
  EXPECT_EQ(out.id(), "iss_0123456789abcdef");
  EXPECT_EQ(out.state(), v1::Issuance::STATE_FAILED);
  EXPECT_EQ(out.error_message(), "boom");
  EXPECT_EQ(out.certificate().serial(), "0A");
  EXPECT_EQ(out.identifiers(0).value(), "www.example.com");
  EXPECT_THAT(out.DebugString(), ::testing::Not(HasSubstr("SECRET")));
}

TEST(ProtoConvertTest, StateFilter) {
  EXPECT_FALSE(StateFromProto(0)->has_value());
  EXPECT_EQ(**StateFromProto(v1::Issuance::STATE_VALID), storage::IssuanceState::kValid);
  EXPECT_EQ(StateFromProto(17).status().message(), "state_filter: unknown value 17");
}

}  // namespace
}  // namespace certfleet::api
