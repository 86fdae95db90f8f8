#pragma once

// Conversions between the v1 API messages and the issuance/storage types. Private keys
// are never copied into a message.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "certfleet/v1/accounts.pb.h"
#include "certfleet/v1/certificates.pb.h"
#include "common/crypto/key.h"
#include "google/protobuf/timestamp.pb.h"
#include "server/issuance/issuance_manager.h"
#include "storage/records.h"

namespace certfleet::api {

// KEY_TYPE_UNSPECIFIED -> nullopt (the default); unknown numbers -> InvalidArgument
// "key_type: unknown value 42".
absl::StatusOr<std::optional<crypto::KeyType>> KeyTypeFromProto(int value);
// The proto enum for a key type name ("ecdsa-p256"); UNSPECIFIED for unknown names.
v1::KeyType KeyTypeToProto(const std::string& name);
v1::KeyType KeyTypeToProto(crypto::KeyType type);
// ACME names of the requested challenge types; InvalidArgument
// "challenge_preference[1]: unknown value 9" or "...: must not be unspecified".
absl::StatusOr<std::vector<std::string>> ChallengeTypesFromProto(
    const google::protobuf::RepeatedField<int>& values);
// Proto issuance state for a storage state (cancelled reads as FAILED).
v1::Issuance::State StateToProto(storage::IssuanceState state);
// The storage state for a filter value; nullopt for UNSPECIFIED, InvalidArgument for others.
absl::StatusOr<std::optional<storage::IssuanceState>> StateFromProto(int value);

// Seconds-precision timestamp.
void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out);
absl::Time FromTimestamp(const google::protobuf::Timestamp& ts);

void ToProto(const storage::CertificateVersionRecord& version, v1::CertificateVersion* out);
void ToProto(const issuance::IssuanceView& view, v1::Issuance* out);
void ToProto(const issuance::CertificateView& view, v1::ManagedCertificate* out);
void ToProto(const storage::AccountRecord& account, v1::Account* out);

}  // namespace certfleet::api
