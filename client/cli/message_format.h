#pragma once

// Human-readable (table) output of the API's messages for the certfleet CLI.

#include <ostream>
#include <string>

#include "certfleet/v1/accounts.pb.h"
#include "certfleet/v1/agents.pb.h"
#include "certfleet/v1/certificates.pb.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "google/protobuf/timestamp.pb.h"

namespace certfleet::cli {

// RFC 3339 in UTC to the second ("2025-01-02T03:04:05Z"); "" for an unset timestamp.
std::string FormatTimestamp(const google::protobuf::Timestamp& timestamp);

// Writes one issuance as aligned "Key:  value" lines.
void WriteIssuance(const v1::Issuance& issuance, std::ostream& out);

// Writes one managed certificate (policy, latest issuance, current version) as key-value lines.
void WriteCertificate(const v1::ManagedCertificate& certificate, std::ostream& out);

// Writes one certificate version as key-value lines.
void WriteCertificateVersion(const v1::CertificateVersion& version, std::ostream& out);

// Writes managed certificates as a table: NAME, CA, STATE, NAMES, SERIAL, NOT AFTER, ISSUER.
void WriteCertificateTable(
    const google::protobuf::RepeatedPtrField<v1::ManagedCertificate>& certificates,
    std::ostream& out);

// One line for a watched issuance event: time, id, state, certificate, step, and the error
// when failed. No trailing newline.
std::string FormatIssuanceEvent(const v1::IssuanceEvent& event);

// Writes one ACME account as key-value lines.
void WriteAccount(const v1::Account& account, std::ostream& out);

// Writes accounts as a table: CA, STATUS, KEY TYPE, ACCOUNT URL, CONTACT, CREATED.
void WriteAccountTable(const google::protobuf::RepeatedPtrField<v1::Account>& accounts,
                       std::ostream& out);

// Writes connected agents as a table: AGENT ID, NAMES, CAPABILITIES, VERSION, PEER, LAST SEEN.
void WriteAgentTable(const google::protobuf::RepeatedPtrField<v1::AgentInfo>& agents,
                     std::ostream& out);

}  // namespace certfleet::cli
