#include "server/api/proto_convert.h"

#include "absl/strings/str_cat.h"
#include "common/crypto/jwk.h"
#include "common/crypto/x509.h"
#include "server/acme/challenge_solver.h"

namespace certfleet::api {
namespace {

v1::Identifier IdentifierToProto(const storage::IdentifierRecord& id) {
  v1::Identifier out;
  out.set_type(id.type == "ip" ? v1::Identifier::TYPE_IP : v1::Identifier::TYPE_DNS);
  out.set_value(id.value);
  return out;
}

v1::ChallengeType ChallengeToProto(const std::string& name) {
  if (name == acme::kTlsAlpn01) return v1::CHALLENGE_TYPE_TLS_ALPN_01;
  if (name == acme::kHttp01) return v1::CHALLENGE_TYPE_HTTP_01;
  if (name == acme::kDns01) return v1::CHALLENGE_TYPE_DNS_01;
  return v1::CHALLENGE_TYPE_UNSPECIFIED;
}

}  // namespace

absl::StatusOr<std::optional<crypto::KeyType>> KeyTypeFromProto(int value) {
  switch (value) {
    case v1::KEY_TYPE_UNSPECIFIED:
      return std::optional<crypto::KeyType>();
    case v1::KEY_TYPE_ECDSA_P256:
      return crypto::KeyType::kEcdsaP256;
    case v1::KEY_TYPE_ECDSA_P384:
      return crypto::KeyType::kEcdsaP384;
    case v1::KEY_TYPE_RSA_2048:
      return crypto::KeyType::kRsa2048;
    case v1::KEY_TYPE_RSA_3072:
      return crypto::KeyType::kRsa3072;
    case v1::KEY_TYPE_RSA_4096:
      return crypto::KeyType::kRsa4096;
    default:
      return absl::InvalidArgumentError(absl::StrCat("key_type: unknown value ", value));
  }
}

v1::KeyType KeyTypeToProto(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kEcdsaP256:
      return v1::KEY_TYPE_ECDSA_P256;
    case crypto::KeyType::kEcdsaP384:
      return v1::KEY_TYPE_ECDSA_P384;
    case crypto::KeyType::kRsa2048:
      return v1::KEY_TYPE_RSA_2048;
    case crypto::KeyType::kRsa3072:
      return v1::KEY_TYPE_RSA_3072;
    case crypto::KeyType::kRsa4096:
      return v1::KEY_TYPE_RSA_4096;
  }
  return v1::KEY_TYPE_UNSPECIFIED;
}

v1::KeyType KeyTypeToProto(const std::string& name) {
  absl::StatusOr<crypto::KeyType> type = crypto::ParseKeyType(name);
  return type.ok() ? KeyTypeToProto(*type) : v1::KEY_TYPE_UNSPECIFIED;
}

absl::StatusOr<std::vector<std::string>> ChallengeTypesFromProto(
    const google::protobuf::RepeatedField<int>& values) {
  std::vector<std::string> out;
  for (int i = 0; i < values.size(); ++i) {
    std::string field = absl::StrCat("challenge_preference[", i, "]: ");
    switch (values.Get(i)) {
      case v1::CHALLENGE_TYPE_TLS_ALPN_01:
        out.push_back(acme::kTlsAlpn01);
        break;
      case v1::CHALLENGE_TYPE_HTTP_01:
        out.push_back(acme::kHttp01);
        break;
      case v1::CHALLENGE_TYPE_DNS_01:
        out.push_back(acme::kDns01);
        break;
      case v1::CHALLENGE_TYPE_UNSPECIFIED:
        return absl::InvalidArgumentError(absl::StrCat(field, "must not be unspecified"));
      default:
        return absl::InvalidArgumentError(absl::StrCat(field, "unknown value ", values.Get(i)));
    }
  }
  return out;
}

v1::Issuance::State StateToProto(storage::IssuanceState state) {
  switch (state) {
    case storage::IssuanceState::kPending:
      return v1::Issuance::STATE_PENDING;
    case storage::IssuanceState::kRunning:
      return v1::Issuance::STATE_RUNNING;
    case storage::IssuanceState::kValid:
      return v1::Issuance::STATE_VALID;
    case storage::IssuanceState::kFailed:
    case storage::IssuanceState::kCancelled:
      return v1::Issuance::STATE_FAILED;
  }
  return v1::Issuance::STATE_UNSPECIFIED;
}

absl::StatusOr<std::optional<storage::IssuanceState>> StateFromProto(int value) {
  switch (value) {
    case v1::Issuance::STATE_UNSPECIFIED:
      return std::optional<storage::IssuanceState>();
    case v1::Issuance::STATE_PENDING:
      return storage::IssuanceState::kPending;
    case v1::Issuance::STATE_RUNNING:
      return storage::IssuanceState::kRunning;
    case v1::Issuance::STATE_VALID:
      return storage::IssuanceState::kValid;
    case v1::Issuance::STATE_FAILED:
      return storage::IssuanceState::kFailed;
    default:
      return absl::InvalidArgumentError(absl::StrCat("state_filter: unknown value ", value));
  }
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  out->set_seconds(absl::ToUnixSeconds(t));
  out->set_nanos(0);
}

absl::Time FromTimestamp(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

void ToProto(const storage::CertificateVersionRecord& version, v1::CertificateVersion* out) {
  out->set_serial(version.serial_hex);
  out->set_issuer(version.issuer);
  SetTimestamp(version.not_before, out->mutable_not_before());
  SetTimestamp(version.not_after, out->mutable_not_after());
  out->set_chain_pem(version.chain_pem);
  if (version.issuance_id.has_value()) out->set_issuance_id(*version.issuance_id);
  if (version.revoked_at.has_value()) SetTimestamp(*version.revoked_at, out->mutable_revoke_time());
  absl::StatusOr<crypto::Certificate> leaf = crypto::Certificate::FromPem(version.chain_pem);
  if (leaf.ok()) {
    for (const std::string& n : leaf->DnsNames()) out->add_names(n);
    for (const std::string& n : leaf->IpAddresses()) out->add_names(n);
  }
}

void ToProto(const issuance::IssuanceView& view, v1::Issuance* out) {
  const storage::IssuanceRecord& i = view.issuance;
  out->set_id(i.id);
  out->set_certificate_name(view.certificate.name);
  for (const auto& id : view.certificate.identifiers) *out->add_identifiers() = IdentifierToProto(id);
  out->set_state(StateToProto(i.state));
  out->set_step(i.step.empty() ? "new" : i.step);
  out->set_reason(i.reason == storage::IssuanceReason::kRenew ? v1::Issuance::REASON_RENEW
                                                             : v1::Issuance::REASON_ISSUE);
  out->set_error_code(i.error_code);
  out->set_error_message(i.error_message);
  out->set_attempts(i.attempts);
  if (view.version.has_value()) ToProto(*view.version, out->mutable_certificate());
  SetTimestamp(i.created_at, out->mutable_create_time());
  SetTimestamp(i.updated_at, out->mutable_update_time());
  if (i.finished_at.has_value()) SetTimestamp(*i.finished_at, out->mutable_finish_time());
  if (i.request_id.has_value()) out->set_request_id(*i.request_id);
  for (const storage::EventRecord& e : view.installs) {
    // Install events read "<agent id>: <where, or why it failed>".
    v1::Installation* installation = out->add_installations();
    size_t colon = e.message.find(": ");
    installation->set_agent_id(e.message.substr(0, colon));
    installation->set_detail(colon == std::string::npos ? "" : e.message.substr(colon + 2));
    installation->set_success(e.kind == "installed");
  }
}

void ToProto(const issuance::CertificateView& view, v1::ManagedCertificate* out) {
  const storage::ManagedCertificateRecord& c = view.certificate;
  out->set_name(c.name);
  for (const auto& id : c.identifiers) *out->add_identifiers() = IdentifierToProto(id);
  out->set_ca(c.policy.ca_name);
  out->set_key_type(KeyTypeToProto(c.policy.key_type));
  for (const std::string& ch : c.policy.challenge_preference) {
    out->add_challenge_preference(ChallengeToProto(ch));
  }
  if (view.current.has_value()) ToProto(*view.current, out->mutable_current());
  if (view.latest_issuance.has_value()) {
    issuance::IssuanceView iv;
    iv.issuance = *view.latest_issuance;
    iv.certificate = c;
    if (view.current.has_value() && view.current->issuance_id == view.latest_issuance->id) {
      iv.version = view.current;
    }
    ToProto(iv, out->mutable_latest_issuance());
  }
  SetTimestamp(c.created_at, out->mutable_create_time());
}

void ToProto(const storage::AccountRecord& account, v1::Account* out) {
  out->set_ca(account.ca_name);
  out->set_directory_url(account.directory_url);
  out->set_account_url(account.account_url);
  for (const std::string& c : account.contact) out->add_contact(c);
  if (account.status == "valid") {
    out->set_status(v1::Account::STATUS_VALID);
  } else if (account.status == "deactivated") {
    out->set_status(v1::Account::STATUS_DEACTIVATED);
  } else if (account.status == "revoked") {
    out->set_status(v1::Account::STATUS_REVOKED);
  }
  absl::StatusOr<crypto::PrivateKey> key = crypto::PrivateKey::FromPem(account.key_pem);
  if (key.ok()) {
    out->set_key_type(KeyTypeToProto(key->type()));
    out->set_key_thumbprint(crypto::JwkThumbprint(*key));
  }
  SetTimestamp(account.created_at, out->mutable_create_time());
}

}  // namespace certfleet::api
