#include "client/cli/message_format.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/cli/enum_names.h"
#include "client/cli/table_writer.h"

namespace certfleet::cli {
namespace {

using KeyValues = std::vector<std::pair<std::string, std::string>>;

std::string JoinIdentifiers(const google::protobuf::RepeatedPtrField<v1::Identifier>& ids) {
  std::vector<std::string> values;
  for (const v1::Identifier& id : ids) values.push_back(id.value());
  return absl::StrJoin(values, ",");
}

std::string JoinChallenges(const google::protobuf::RepeatedField<int>& types) {
  std::vector<std::string> names;
  for (int type : types) names.push_back(ChallengeTypeName(static_cast<v1::ChallengeType>(type)));
  return absl::StrJoin(names, ",");
}

std::string FormatError(int code, const std::string& message) {
  if (code == 0 && message.empty()) return "";
  if (code == 0) return message;
  return absl::StrCat(message, " (code ", code, ")");
}

void AppendVersionFields(const v1::CertificateVersion& version, KeyValues& fields) {
  fields.emplace_back("Serial", version.serial());
  fields.emplace_back("Issuer", version.issuer());
  fields.emplace_back("Not before", FormatTimestamp(version.not_before()));
  fields.emplace_back("Not after", FormatTimestamp(version.not_after()));
  if (version.has_revoke_time()) {
    fields.emplace_back("Revoked", FormatTimestamp(version.revoke_time()));
  }
}

}  // namespace

std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp) {
  if (timestamp.seconds() == 0 && timestamp.nanos() == 0) return "";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::FromUnixSeconds(timestamp.seconds()),
                          absl::UTCTimeZone());
}

void WriteIssuance(const v1::Issuance& issuance, std::ostream& out) {
  KeyValues fields = {
      {"Issuance", issuance.id()},
      {"Certificate", issuance.certificate_name()},
      {"State", IssuanceStateName(issuance.state())},
      {"Step", issuance.step()},
      {"Reason", IssuanceReasonName(issuance.reason())},
      {"Names", JoinIdentifiers(issuance.identifiers())},
      {"Attempts", absl::StrCat(issuance.attempts())},
  };
  if (issuance.error_code() != 0 || !issuance.error_message().empty()) {
    fields.emplace_back("Error", FormatError(issuance.error_code(), issuance.error_message()));
  }
  if (!issuance.request_id().empty()) fields.emplace_back("Request id", issuance.request_id());
  fields.emplace_back("Created", FormatTimestamp(issuance.create_time()));
  fields.emplace_back("Updated", FormatTimestamp(issuance.update_time()));
  if (issuance.has_finish_time()) {
    fields.emplace_back("Finished", FormatTimestamp(issuance.finish_time()));
  }
  if (issuance.has_certificate()) AppendVersionFields(issuance.certificate(), fields);
  for (const v1::Installation& installation : issuance.installations()) {
    fields.emplace_back(installation.success() ? "Installed" : "Install failed",
                        absl::StrCat(installation.agent_id(), ": ", installation.detail()));
  }
  WriteKeyValues(fields, out);
}

void WriteCertificate(const v1::ManagedCertificate& certificate, std::ostream& out) {
  KeyValues fields = {
      {"Name", certificate.name()},
      {"Names", JoinIdentifiers(certificate.identifiers())},
      {"CA", certificate.ca()},
      {"Key type", KeyTypeName(certificate.key_type())},
      {"Challenges", JoinChallenges(certificate.challenge_preference())},
      {"Created", FormatTimestamp(certificate.create_time())},
  };
  if (certificate.has_latest_issuance()) {
    const v1::Issuance& latest = certificate.latest_issuance();
    fields.emplace_back("Latest issuance", latest.id());
    fields.emplace_back("State", IssuanceStateName(latest.state()));
    if (latest.error_code() != 0 || !latest.error_message().empty()) {
      fields.emplace_back("Error", FormatError(latest.error_code(), latest.error_message()));
    }
  }
  if (certificate.has_current()) AppendVersionFields(certificate.current(), fields);
  WriteKeyValues(fields, out);
}

void WriteCertificateVersion(const v1::CertificateVersion& version, std::ostream& out) {
  KeyValues fields = {{"Names", absl::StrJoin(version.names(), ",")}};
  AppendVersionFields(version, fields);
  fields.emplace_back("Issuance", version.issuance_id());
  WriteKeyValues(fields, out);
}

void WriteCertificateTable(
    const google::protobuf::RepeatedPtrField<v1::ManagedCertificate>& certificates,
    std::ostream& out) {
  TableWriter table({"NAME", "CA", "STATE", "NAMES", "SERIAL", "NOT AFTER", "ISSUER"});
  for (const v1::ManagedCertificate& c : certificates) {
    table.AddRow({c.name(), c.ca(), IssuanceStateName(c.latest_issuance().state()),
                  JoinIdentifiers(c.identifiers()), c.current().serial(),
                  FormatTimestamp(c.current().not_after()), c.current().issuer()});
  }
  table.Write(out);
}

std::string FormatIssuanceEvent(const v1::IssuanceEvent& event) {
  const v1::Issuance& issuance = event.issuance();
  std::string time = FormatTimestamp(issuance.update_time());
  std::string state = IssuanceStateName(issuance.state());
  std::string line = absl::StrCat(time.empty() ? "-" : time, "  ", issuance.id(), "  ", state,
                                  std::string(state.size() < 7 ? 7 - state.size() : 0, ' '), "  ",
                                  issuance.certificate_name());
  if (!issuance.step().empty()) absl::StrAppend(&line, "  step=", issuance.step());
  if (issuance.has_certificate() && !issuance.certificate().serial().empty()) {
    absl::StrAppend(&line, "  serial=", issuance.certificate().serial());
  }
  if (issuance.error_code() != 0 || !issuance.error_message().empty()) {
    absl::StrAppend(&line,
                    "  error=", FormatError(issuance.error_code(), issuance.error_message()));
  }
  return line;
}

void WriteAccount(const v1::Account& account, std::ostream& out) {
  WriteKeyValues({{"CA", account.ca()},
                  {"Status", AccountStatusName(account.status())},
                  {"Directory", account.directory_url()},
                  {"Account URL", account.account_url()},
                  {"Contact", absl::StrJoin(account.contact(), ",")},
                  {"Key type", KeyTypeName(account.key_type())},
                  {"Key thumbprint", account.key_thumbprint()},
                  {"Created", FormatTimestamp(account.create_time())}},
                 out);
}

void WriteAccountTable(const google::protobuf::RepeatedPtrField<v1::Account>& accounts,
                       std::ostream& out) {
  TableWriter table({"CA", "STATUS", "KEY TYPE", "ACCOUNT URL", "CONTACT", "CREATED"});
  for (const v1::Account& a : accounts) {
    table.AddRow({a.ca(), AccountStatusName(a.status()), KeyTypeName(a.key_type()), a.account_url(),
                  absl::StrJoin(a.contact(), ","), FormatTimestamp(a.create_time())});
  }
  table.Write(out);
}

void WriteAgentTable(const google::protobuf::RepeatedPtrField<v1::AgentInfo>& agents,
                     std::ostream& out) {
  TableWriter table({"AGENT ID", "NAMES", "CAPABILITIES", "VERSION", "PEER", "LAST SEEN"});
  for (const v1::AgentInfo& a : agents) {
    table.AddRow({a.agent_id(), absl::StrJoin(a.names(), ","), JoinChallenges(a.capabilities()),
                  a.version(), a.peer(), FormatTimestamp(a.last_seen_time())});
  }
  table.Write(out);
}

}  // namespace certfleet::cli
