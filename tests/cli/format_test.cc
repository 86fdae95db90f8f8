#include <sstream>
#include <string>

#include "client/cli/exit_codes.h"
#include "client/cli/json_output.h"
#include "client/cli/message_format.h"
#include "client/cli/table_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

v1::ManagedCertificate SampleCertificate() {
  v1::ManagedCertificate c;
  c.set_name("www.example.com");
  auto* id = c.add_identifiers();
  id->set_type(v1::Identifier::TYPE_DNS);
  id->set_value("www.example.com");
  id = c.add_identifiers();
  id->set_type(v1::Identifier::TYPE_DNS);
  id->set_value("example.com");
  c.set_ca("pebble");
  c.set_key_type(v1::KEY_TYPE_ECDSA_P256);
  c.add_challenge_preference(v1::CHALLENGE_TYPE_TLS_ALPN_01);
  c.add_challenge_preference(v1::CHALLENGE_TYPE_HTTP_01);
  c.mutable_current()->set_serial("0A1B");
  c.mutable_current()->set_issuer("CN=Pebble Intermediate CA");
  c.mutable_current()->mutable_not_after()->set_seconds(1767225600);  // 2026-01-01T00:00:00Z
  c.mutable_latest_issuance()->set_id("iss_0000000000000001");
  c.mutable_latest_issuance()->set_state(v1::Issuance::STATE_VALID);
  return c;
}

TEST(TableWriterTest, AlignsColumnsAndDashesEmptyCells) {
  TableWriter table({"NAME", "STATE", "NOTE"});
  table.AddRow({"a", "valid", "x"});
  table.AddRow({"longer-name", "", ""});
  table.AddRow({"é", "running"});
  std::ostringstream out;
  table.Write(out);
  EXPECT_EQ(out.str(),
            "NAME         STATE    NOTE\n"
            "a            valid    x\n"
            "longer-name  -        -\n"
            "é            running  -\n");
}

TEST(TableWriterTest, KeyValues) {
  std::ostringstream out;
  WriteKeyValues({{"Name", "x"}, {"Not after", ""}}, out);
  EXPECT_EQ(out.str(),
            "Name:       x\n"
            "Not after:  -\n");
}

TEST(MessageFormatTest, CertificateTable) {
  google::protobuf::RepeatedPtrField<v1::ManagedCertificate> certificates;
  *certificates.Add() = SampleCertificate();
  v1::ManagedCertificate pending;
  pending.set_name("new.example");
  pending.set_ca("letsencrypt");
  pending.add_identifiers()->set_value("new.example");
  pending.mutable_latest_issuance()->set_state(v1::Issuance::STATE_PENDING);
  *certificates.Add() = pending;
  std::ostringstream out;
  WriteCertificateTable(certificates, out);
  EXPECT_EQ(out.str(),
            "NAME             CA           STATE    NAMES                        SERIAL  "
            "NOT AFTER             ISSUER\n"
            "www.example.com  pebble       valid    www.example.com,example.com  0A1B    "
            "2026-01-01T00:00:00Z  CN=Pebble Intermediate CA\n"
            "new.example      letsencrypt  pending  new.example                  -       "
            "-                     -\n");
}

TEST(MessageFormatTest, CertificateKeyValues) {
  std::ostringstream out;
  WriteCertificate(SampleCertificate(), out);
  EXPECT_THAT(out.str(), HasSubstr("Name:             www.example.com\n"));
  EXPECT_THAT(out.str(), HasSubstr("Challenges:       tls-alpn-01,http-01\n"));
  EXPECT_THAT(out.str(), HasSubstr("Key type:         ecdsa-p256\n"));
  EXPECT_THAT(out.str(), HasSubstr("Not after:        2026-01-01T00:00:00Z\n"));
  EXPECT_THAT(out.str(), HasSubstr("State:            valid\n"));
  EXPECT_THAT(out.str(), Not(HasSubstr("Revoked")));
}

TEST(MessageFormatTest, FailedIssuanceShowsError) {
  v1::Issuance issuance;
  issuance.set_id("iss_1");
  issuance.set_certificate_name("a.example");
  issuance.set_state(v1::Issuance::STATE_FAILED);
  issuance.set_error_code(9);
  issuance.set_error_message("urn:ietf:params:acme:error:unauthorized: no agent");
  std::ostringstream out;
  WriteIssuance(issuance, out);
  EXPECT_THAT(out.str(), HasSubstr("State:        failed\n"));
  EXPECT_THAT(
      out.str(),
      HasSubstr("Error:        urn:ietf:params:acme:error:unauthorized: no agent (code 9)\n"));
}

TEST(MessageFormatTest, IssuanceEventLine) {
  v1::IssuanceEvent event;
  event.mutable_issuance()->set_id("iss_1");
  event.mutable_issuance()->set_certificate_name("a.example");
  event.mutable_issuance()->set_state(v1::Issuance::STATE_RUNNING);
  event.mutable_issuance()->set_step("authorizing");
  event.mutable_issuance()->mutable_update_time()->set_seconds(1767225600);
  EXPECT_EQ(FormatIssuanceEvent(event),
            "2026-01-01T00:00:00Z  iss_1  running  a.example  step=authorizing");
  event.mutable_issuance()->set_state(v1::Issuance::STATE_VALID);
  event.mutable_issuance()->set_step("done");
  event.mutable_issuance()->mutable_certificate()->set_serial("FF");
  EXPECT_EQ(FormatIssuanceEvent(event),
            "2026-01-01T00:00:00Z  iss_1  valid    a.example  step=done  serial=FF");
}

TEST(MessageFormatTest, AccountAndAgentTables) {
  google::protobuf::RepeatedPtrField<v1::Account> accounts;
  v1::Account* account = accounts.Add();
  account->set_ca("pebble");
  account->set_status(v1::Account::STATUS_VALID);
  account->set_key_type(v1::KEY_TYPE_ECDSA_P256);
  account->set_account_url("https://pebble/acct/1");
  account->add_contact("mailto:ops@example.com");
  std::ostringstream out;
  WriteAccountTable(accounts, out);
  EXPECT_EQ(out.str(),
            "CA      STATUS  KEY TYPE    ACCOUNT URL            CONTACT                 CREATED\n"
            "pebble  valid   ecdsa-p256  https://pebble/acct/1  mailto:ops@example.com  -\n");

  google::protobuf::RepeatedPtrField<v1::AgentInfo> agents;
  v1::AgentInfo* agent = agents.Add();
  agent->set_agent_id("web1");
  agent->add_names("a.example");
  agent->add_capabilities(v1::CHALLENGE_TYPE_TLS_ALPN_01);
  std::ostringstream agent_out;
  WriteAgentTable(agents, agent_out);
  EXPECT_EQ(agent_out.str(),
            "AGENT ID  NAMES      CAPABILITIES  VERSION  PEER  LAST SEEN\n"
            "web1      a.example  tls-alpn-01   -        -     -\n");
}

TEST(JsonOutputTest, PrettyAndSingleLine) {
  v1::ManagedCertificate c = SampleCertificate();
  auto pretty = ToJson(c, JsonStyle::kPretty);
  ASSERT_TRUE(pretty.ok()) << pretty.status();
  EXPECT_THAT(*pretty, HasSubstr("\"name\": \"www.example.com\""));
  EXPECT_THAT(*pretty, HasSubstr("\"keyType\": \"KEY_TYPE_ECDSA_P256\""));
  EXPECT_THAT(*pretty, HasSubstr("\"notAfter\": \"2026-01-01T00:00:00Z\""));
  EXPECT_THAT(*pretty, HasSubstr("\"state\": \"STATE_VALID\""));
  EXPECT_NE(pretty->back(), '\n');

  v1::IssuanceEvent event;
  event.mutable_issuance()->set_id("iss_1");
  auto line = ToJson(event, JsonStyle::kSingleLine);
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(line->find('\n'), std::string::npos);
  EXPECT_THAT(*line, HasSubstr("\"id\":\"iss_1\""));
  // Default-valued fields are printed so scripts see stable keys.
  EXPECT_THAT(*line, HasSubstr("\"state\":\"STATE_UNSPECIFIED\""));
}

TEST(ExitCodesTest, MapsStatusCodes) {
  using grpc::StatusCode;
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::UNAVAILABLE, ""), false), 3);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::DEADLINE_EXCEEDED, ""), false), 3);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::DEADLINE_EXCEEDED, ""), true), 6);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::NOT_FOUND, ""), true), 4);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::INVALID_ARGUMENT, ""), true), 5);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::FAILED_PRECONDITION, ""), true), 5);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::INTERNAL, ""), true), 6);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::PERMISSION_DENIED, ""), true), 7);
  EXPECT_EQ(ExitCodeForStatus(grpc::Status(StatusCode::UNAUTHENTICATED, ""), true), 7);
  EXPECT_EQ(StatusCodeName(StatusCode::FAILED_PRECONDITION), "FAILED_PRECONDITION");
  EXPECT_EQ(StatusCodeName(StatusCode::UNAUTHENTICATED), "UNAUTHENTICATED");
}

}  // namespace
}  // namespace certfleet::cli
