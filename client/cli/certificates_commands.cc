// The certificate commands: issue, renew, get, list, revoke, issuance, watch.

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "certfleet/v1/certificates.grpc.pb.h"
#include "client/cli/command.h"
#include "client/cli/duration.h"
#include "client/cli/enum_names.h"
#include "client/cli/message_format.h"

namespace certfleet::cli {
namespace {

constexpr absl::Duration kDefaultTimeout = absl::Seconds(30);
constexpr absl::Duration kDefaultWaitTimeout = absl::Minutes(10);

bool IsFinished(v1::Issuance::State state) {
  return state == v1::Issuance::STATE_VALID || state == v1::Issuance::STATE_FAILED;
}

std::string IssuanceFailure(const v1::Issuance& issuance) {
  return absl::StrCat("issuance ", issuance.id(), " failed: ",
                      issuance.error_message().empty() ? "(no message)" : issuance.error_message());
}

// Prints the issuance; exit 1 when it failed, 0 otherwise.
int PrintIssuanceOutcome(CommandContext& ctx, const v1::Issuance& issuance) {
  if (ctx.options().output == OutputFormat::kJson) {
    if (int code = ctx.PrintJson(issuance); code != kExitOk) return code;
  } else {
    WriteIssuance(issuance, ctx.out());
  }
  if (issuance.state() == v1::Issuance::STATE_FAILED) {
    return ctx.Fail(kExitFailed, IssuanceFailure(issuance));
  }
  return kExitOk;
}

// Reports a failed issue/renew call; a deadline on a live connection gets a hint.
int WaitRpcError(CommandContext& ctx, const grpc::Status& status, bool wait) {
  int code = ctx.RpcError(status);
  if (wait && status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED &&
      code == kExitServerError) {
    ctx.err() << "certfleet: the issuance goes on on the server; follow it with "
                 "'certfleet watch ISSUANCE_ID --until-done'\n";
  }
  return code;
}

int RunIssue(CommandContext& ctx) {
  const ParsedArgs& args = ctx.args();
  v1::IssueCertificateRequest request;
  for (const std::string& name : args.positional()) request.add_names(name);
  if (auto ca = args.Get("ca")) request.set_ca(*ca);
  std::set<int> seen;
  for (const std::string& list : args.GetAll("challenge")) {
    for (absl::string_view item : absl::StrSplit(list, ',')) {
      auto type = ParseChallengeType(absl::StripAsciiWhitespace(item));
      if (!type.ok()) return ctx.UsageError(std::string(type.status().message()));
      if (!seen.insert(*type).second) {
        return ctx.UsageError(
            absl::StrCat("challenge type \"", ChallengeTypeName(*type), "\" listed twice"));
      }
      request.add_challenge_preference(*type);
    }
  }
  if (auto key_type = args.Get("key-type")) {
    auto parsed = ParseKeyType(*key_type);
    if (!parsed.ok()) return ctx.UsageError(std::string(parsed.status().message()));
    request.set_key_type(*parsed);
  }
  if (auto id = args.Get("request-id")) request.set_request_id(*id);
  if (auto name = args.Get("cert-name")) request.set_certificate_name(*name);
  request.set_wait(args.Has("wait"));

  auto stub = v1::Certificates::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context,
                             ctx.Timeout(request.wait() ? kDefaultWaitTimeout : kDefaultTimeout));
  v1::Issuance response;
  grpc::Status status = stub->IssueCertificate(&context, request, &response);
  if (!status.ok()) return WaitRpcError(ctx, status, request.wait());
  return PrintIssuanceOutcome(ctx, response);
}

int RunRenew(CommandContext& ctx) {
  v1::RenewCertificateRequest request;
  request.set_certificate_name(ctx.args().positional()[0]);
  if (auto id = ctx.args().Get("request-id")) request.set_request_id(*id);
  request.set_wait(ctx.args().Has("wait"));
  auto stub = v1::Certificates::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context,
                             ctx.Timeout(request.wait() ? kDefaultWaitTimeout : kDefaultTimeout));
  v1::Issuance response;
  grpc::Status status = stub->RenewCertificate(&context, request, &response);
  if (!status.ok()) return WaitRpcError(ctx, status, request.wait());
  return PrintIssuanceOutcome(ctx, response);
}

int RunGet(CommandContext& ctx) {
  v1::GetCertificateRequest request;
  request.set_certificate_name(ctx.args().positional()[0]);
  auto stub = v1::Certificates::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context, ctx.Timeout(kDefaultTimeout));
  v1::ManagedCertificate response;
  grpc::Status status = stub->GetCertificate(&context, request, &response);
  if (!status.ok()) return ctx.RpcError(status);
  if (ctx.args().Has("pem")) {
    if (response.current().chain_pem().empty()) {
      return ctx.Fail(kExitNotFound, absl::StrCat("certificate \"", response.name(),
                                                  "\" has no issued version yet"));
    }
    ctx.out() << response.current().chain_pem();
    if (response.current().chain_pem().back() != '\n') ctx.out() << "\n";
    return kExitOk;
  }
  if (ctx.options().output == OutputFormat::kJson) return ctx.PrintJson(response);
  WriteCertificate(response, ctx.out());
  return kExitOk;
}

int RunList(CommandContext& ctx) {
  const ParsedArgs& args = ctx.args();
  v1::ListCertificatesRequest request;
  if (auto filter = args.Get("filter")) request.set_name_filter(*filter);
  if (auto state = args.Get("state")) {
    auto parsed = ParseIssuanceState(*state);
    if (!parsed.ok()) return ctx.UsageError(std::string(parsed.status().message()));
    request.set_state_filter(*parsed);
  }
  if (auto within = args.Get("expiring-within")) {
    auto duration = ParseDuration(*within);
    if (!duration.ok()) {
      return ctx.UsageError(absl::StrCat("--expiring-within: ", duration.status().message()));
    }
    absl::Time before = absl::Now() + *duration;
    request.mutable_expiring_before()->set_seconds(absl::ToUnixSeconds(before));
  }
  if (auto size = args.Get("page-size")) {
    int page_size = 0;
    if (!absl::SimpleAtoi(*size, &page_size) || page_size <= 0) {
      return ctx.UsageError(
          absl::StrCat("invalid --page-size \"", *size, "\": want a positive integer"));
    }
    request.set_page_size(page_size);
  }
  if (auto token = args.Get("page-token")) request.set_page_token(*token);
  const bool all = args.Has("all");

  auto stub = v1::Certificates::NewStub(ctx.connection().channel());
  v1::ListCertificatesResponse combined;
  std::set<std::string> tokens_seen;
  while (true) {
    grpc::ClientContext context;
    ctx.connection().Configure(context, ctx.Timeout(kDefaultTimeout));
    v1::ListCertificatesResponse page;
    grpc::Status status = stub->ListCertificates(&context, request, &page);
    if (!status.ok()) return ctx.RpcError(status);
    for (auto& certificate : *page.mutable_certificates()) {
      *combined.add_certificates() = std::move(certificate);
    }
    combined.set_next_page_token(page.next_page_token());
    if (!all || page.next_page_token().empty()) break;
    if (!tokens_seen.insert(page.next_page_token()).second) {
      return ctx.Fail(kExitServerError, absl::StrCat("the server repeated page token \"",
                                                     page.next_page_token(), "\""));
    }
    request.set_page_token(page.next_page_token());
  }
  if (ctx.options().output == OutputFormat::kJson) return ctx.PrintJson(combined);
  WriteCertificateTable(combined.certificates(), ctx.out());
  if (!combined.next_page_token().empty()) {
    ctx.err() << "certfleet: more results: pass --all, or --page-token "
              << combined.next_page_token() << "\n";
  }
  return kExitOk;
}

int RunRevoke(CommandContext& ctx) {
  v1::RevokeCertificateRequest request;
  request.set_certificate_name(ctx.args().positional()[0]);
  if (auto serial = ctx.args().Get("serial")) {
    std::string hex = *serial;
    if (hex.empty() || !std::all_of(hex.begin(), hex.end(), [](char c) {
          return absl::ascii_isxdigit(static_cast<unsigned char>(c));
        })) {
      return ctx.UsageError(absl::StrCat("invalid --serial \"", hex, "\": want hex digits"));
    }
    request.set_serial(absl::AsciiStrToUpper(hex));
  }
  if (auto reason = ctx.args().Get("reason")) {
    auto code = ParseRevocationReason(*reason);
    if (!code.ok()) return ctx.UsageError(std::string(code.status().message()));
    request.set_reason(*code);
  }
  auto stub = v1::Certificates::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context, ctx.Timeout(kDefaultTimeout));
  v1::CertificateVersion response;
  grpc::Status status = stub->RevokeCertificate(&context, request, &response);
  if (!status.ok()) return ctx.RpcError(status);
  if (ctx.options().output == OutputFormat::kJson) return ctx.PrintJson(response);
  WriteCertificateVersion(response, ctx.out());
  return kExitOk;
}

int RunIssuance(CommandContext& ctx) {
  v1::GetIssuanceRequest request;
  request.set_issuance_id(ctx.args().positional()[0]);
  auto stub = v1::Certificates::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context, ctx.Timeout(kDefaultTimeout));
  v1::Issuance response;
  grpc::Status status = stub->GetIssuance(&context, request, &response);
  if (!status.ok()) return ctx.RpcError(status);
  if (ctx.options().output == OutputFormat::kJson) return ctx.PrintJson(response);
  WriteIssuance(response, ctx.out());
  return kExitOk;
}

// Prints watch events, one line each, skipping repeats of an issuance's last printed state.
class EventPrinter {
 public:
  explicit EventPrinter(CommandContext& ctx) : ctx_(ctx) {}

  // Prints `event` unless it repeats the last state and step printed for its issuance.
  int Print(const v1::IssuanceEvent& event) {
    const v1::Issuance& issuance = event.issuance();
    std::string key = absl::StrCat(issuance.state(), "/", issuance.step());
    auto [it, inserted] = last_.emplace(issuance.id(), key);
    if (!inserted) {
      if (it->second == key) return kExitOk;
      it->second = key;
    }
    if (ctx_.options().output == OutputFormat::kJson) {
      int code = ctx_.PrintJson(event, JsonStyle::kSingleLine);
      ctx_.out().flush();
      return code;
    }
    ctx_.out() << FormatIssuanceEvent(event) << std::endl;
    return kExitOk;
  }

 private:
  CommandContext& ctx_;
  std::map<std::string, std::string> last_;
};

// Ends a watch stream that is no longer wanted.
void CancelStream(grpc::ClientContext& context,
                  std::unique_ptr<grpc::ClientReader<v1::IssuanceEvent>>& reader) {
  context.TryCancel();
  v1::IssuanceEvent ignored;
  while (reader->Read(&ignored)) {
  }
  reader->Finish().ok();
}

int RunWatch(CommandContext& ctx) {
  const bool until_done = ctx.args().Has("until-done");
  v1::WatchIssuancesRequest request;
  if (!ctx.args().positional().empty()) request.set_issuance_id(ctx.args().positional()[0]);
  if (until_done && request.issuance_id().empty()) {
    return ctx.UsageError("--until-done needs an ISSUANCE_ID");
  }
  auto stub = v1::Certificates::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context, ctx.Timeout(std::nullopt));
  std::unique_ptr<grpc::ClientReader<v1::IssuanceEvent>> reader =
      stub->WatchIssuances(&context, request);
  EventPrinter printer(ctx);
  auto outcome = [&](const v1::Issuance& issuance) {
    if (issuance.state() == v1::Issuance::STATE_VALID) return static_cast<int>(kExitOk);
    return ctx.Fail(kExitFailed, IssuanceFailure(issuance));
  };

  if (until_done) {
    // The issuance may have finished before the stream opened: look at it once.
    v1::GetIssuanceRequest get_request;
    get_request.set_issuance_id(request.issuance_id());
    grpc::ClientContext get_context;
    ctx.connection().Configure(get_context, ctx.Timeout(kDefaultTimeout));
    v1::Issuance current;
    grpc::Status status = stub->GetIssuance(&get_context, get_request, &current);
    if (!status.ok()) {
      CancelStream(context, reader);
      return ctx.RpcError(status);
    }
    v1::IssuanceEvent event;
    *event.mutable_issuance() = current;
    if (int code = printer.Print(event); code != kExitOk) {
      CancelStream(context, reader);
      return code;
    }
    if (IsFinished(current.state())) {
      CancelStream(context, reader);
      return outcome(current);
    }
  }

  v1::IssuanceEvent event;
  while (reader->Read(&event)) {
    if (int code = printer.Print(event); code != kExitOk) {
      CancelStream(context, reader);
      return code;
    }
    if (until_done && event.issuance().id() == request.issuance_id() &&
        IsFinished(event.issuance().state())) {
      CancelStream(context, reader);
      return outcome(event.issuance());
    }
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ctx.RpcError(status);
  if (until_done) {
    return ctx.Fail(kExitServerError, absl::StrCat("the server ended the watch before issuance ",
                                                   request.issuance_id(), " finished"));
  }
  return kExitOk;
}

}  // namespace

std::vector<Command> CertificateCommands() {
  std::vector<Command> commands;
  commands.push_back(Command{
      "issue",
      "NAME...",
      "Request a certificate for NAME... and start an issuance.",
      "Creates (or updates) the managed certificate for NAME... (DNS names or IP addresses;\n"
      "the server normalises and validates them) and starts an issuance. Without --wait it\n"
      "prints the new issuance and returns; with --wait it returns when the issuance is valid\n"
      "(exit 0) or failed (exit 1). A repeated --request-id returns the same issuance.",
      {{"ca", "CA", "CA by its configured name (letsencrypt, letsencrypt-staging, pebble, ...)"},
       {"challenge", "TYPE[,TYPE]",
        "challenge types, most preferred first: tls-alpn-01, http-01, dns-01 (repeatable)",
        /*repeatable=*/true},
       {"key-type", "TYPE", "ecdsa-p256 (server default), ecdsa-p384, rsa2048, rsa3072, rsa4096"},
       {"request-id", "ID", "idempotency key: 1-64 characters of [A-Za-z0-9._-]"},
       {"cert-name", "NAME", "the managed certificate's name (default: the first name)"},
       {"wait", "", "wait until the issuance is valid or failed (--timeout default 10m)"}},
      1,
      SIZE_MAX,
      RunIssue});
  commands.push_back(Command{
      "renew",
      "CERT_NAME",
      "Renew a managed certificate now.",
      "Starts a renewal of the managed certificate CERT_NAME now, whatever its expiry, and\n"
      "prints the issuance. With --wait, exits 0 when it is valid and 1 when it failed.",
      {{"wait", "", "wait until the issuance is valid or failed (--timeout default 10m)"},
       {"request-id", "ID", "idempotency key: 1-64 characters of [A-Za-z0-9._-]"}},
      1,
      1,
      RunRenew});
  commands.push_back(Command{
      "get",
      "CERT_NAME",
      "Show a managed certificate and its current version.",
      "Shows the managed certificate CERT_NAME: its names, CA, policy, latest issuance and\n"
      "current version. With --pem, prints only the current chain (leaf first) as PEM.",
      {{"pem", "", "print only the current certificate chain, PEM"}},
      1,
      1,
      RunGet});
  commands.push_back(Command{
      "list",
      "",
      "List managed certificates.",
      "Lists managed certificates, one page (--page-size) at a time; --all follows the page\n"
      "tokens to the end.",
      {{"filter", "TEXT", "only certificates whose name contains TEXT"},
       {"state", "STATE", "only those whose latest issuance is pending, running, valid or failed"},
       {"expiring-within", "DUR", "only those whose current version expires within DUR (e.g. 30d)"},
       {"page-size", "N", "results per page (server default 50)"},
       {"page-token", "TOKEN", "continue from a previous page"},
       {"all", "", "fetch every page"}},
      0,
      0,
      RunList});
  commands.push_back(Command{
      "revoke",
      "CERT_NAME",
      "Revoke a certificate version with the CA.",
      "Revokes the current version of CERT_NAME (or the version with --serial) with the CA.",
      {{"serial", "HEX", "serial number of the version to revoke (default: the current one)"},
       {"reason", "REASON",
        "keyCompromise, superseded, cessationOfOperation, affiliationChanged, unspecified, or "
        "0-10"}},
      1,
      1,
      RunRevoke});
  commands.push_back(
      Command{"issuance",
              "ISSUANCE_ID",
              "Show one issuance.",
              "Shows the issuance ISSUANCE_ID (\"iss_...\"): state, step, error and,\n"
              "once valid, the certificate. Exits 0 whatever its state.",
              {},
              1,
              1,
              RunIssuance});
  commands.push_back(Command{
      "watch",
      "[ISSUANCE_ID]",
      "Stream issuance state changes.",
      "Prints one line per issuance state change (one JSON object per line with --output json),\n"
      "for every issuance or only ISSUANCE_ID. With --until-done and an ISSUANCE_ID, exits 0\n"
      "when that issuance is valid and 1 when it failed.",
      {{"until-done", "", "exit when ISSUANCE_ID is valid (0) or failed (1)"}},
      0,
      1,
      RunWatch});
  return commands;
}

}  // namespace certfleet::cli
