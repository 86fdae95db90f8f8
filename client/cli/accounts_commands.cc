// The account commands: accounts list, get, ensure, deactivate, rollover.

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certfleet/v1/accounts.grpc.pb.h"
#include "client/cli/command.h"
#include "client/cli/enum_names.h"
#include "client/cli/message_format.h"

namespace certfleet::cli {
namespace {

constexpr absl::Duration kDefaultTimeout = absl::Seconds(30);
// Registering or rolling over talks to the CA: allow it longer.
constexpr absl::Duration kCaTimeout = absl::Minutes(2);

// Prints one account (table or JSON).
int PrintAccount(CommandContext& ctx, const v1::Account& account) {
  if (ctx.options().output == OutputFormat::kJson) return ctx.PrintJson(account);
  WriteAccount(account, ctx.out());
  return kExitOk;
}

int RunList(CommandContext& ctx) {
  auto stub = v1::Accounts::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context, ctx.Timeout(kDefaultTimeout));
  v1::ListAccountsResponse response;
  grpc::Status status = stub->ListAccounts(&context, v1::ListAccountsRequest(), &response);
  if (!status.ok()) return ctx.RpcError(status);
  if (ctx.options().output == OutputFormat::kJson) return ctx.PrintJson(response);
  WriteAccountTable(response.accounts(), ctx.out());
  return kExitOk;
}

int RunGet(CommandContext& ctx) {
  auto stub = v1::Accounts::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context, ctx.Timeout(kDefaultTimeout));
  v1::GetAccountRequest request;
  request.set_ca(ctx.args().positional()[0]);
  v1::Account response;
  grpc::Status status = stub->GetAccount(&context, request, &response);
  if (!status.ok()) return ctx.RpcError(status);
  return PrintAccount(ctx, response);
}

int RunEnsure(CommandContext& ctx) {
  auto stub = v1::Accounts::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context, ctx.Timeout(kCaTimeout));
  v1::EnsureAccountRequest request;
  request.set_ca(ctx.args().positional()[0]);
  v1::Account response;
  grpc::Status status = stub->EnsureAccount(&context, request, &response);
  if (!status.ok()) return ctx.RpcError(status);
  return PrintAccount(ctx, response);
}

int RunDeactivate(CommandContext& ctx) {
  if (!ctx.args().Has("yes")) {
    return ctx.UsageError(absl::StrCat("deactivating the account for ", ctx.args().positional()[0],
                                       " cannot be undone: pass --yes to confirm"));
  }
  auto stub = v1::Accounts::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context, ctx.Timeout(kCaTimeout));
  v1::DeactivateAccountRequest request;
  request.set_ca(ctx.args().positional()[0]);
  v1::Account response;
  grpc::Status status = stub->DeactivateAccount(&context, request, &response);
  if (!status.ok()) return ctx.RpcError(status);
  return PrintAccount(ctx, response);
}

int RunRollover(CommandContext& ctx) {
  v1::RollOverAccountKeyRequest request;
  request.set_ca(ctx.args().positional()[0]);
  if (auto key_type = ctx.args().Get("key-type")) {
    auto parsed = ParseKeyType(*key_type);
    if (!parsed.ok()) return ctx.UsageError(std::string(parsed.status().message()));
    request.set_key_type(*parsed);
  }
  auto stub = v1::Accounts::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context, ctx.Timeout(kCaTimeout));
  v1::Account response;
  grpc::Status status = stub->RollOverAccountKey(&context, request, &response);
  if (!status.ok()) return ctx.RpcError(status);
  return PrintAccount(ctx, response);
}

}  // namespace

std::vector<Command> AccountCommands() {
  std::vector<Command> commands;
  commands.push_back(Command{"accounts list",
                             "",
                             "List the server's ACME accounts.",
                             "Lists the ACME accounts the server holds, one per CA used.",
                             {},
                             0,
                             0,
                             RunList});
  commands.push_back(Command{"accounts get",
                             "CA",
                             "Show the ACME account for a CA.",
                             "Shows the ACME account the server holds for the configured CA.",
                             {},
                             1,
                             1,
                             RunGet});
  commands.push_back(Command{
      "accounts ensure",
      "CA",
      "Register the ACME account for a CA if there is none.",
      "Registers an ACME account with the configured CA (newAccount, with EAB when configured)\n"
      "unless the server already has one; prints the account.",
      {},
      1,
      1,
      RunEnsure});
  commands.push_back(
      Command{"accounts deactivate",
              "CA",
              "Deactivate the ACME account for a CA (irreversible).",
              "Deactivates the server's ACME account with the CA. This cannot be undone; its\n"
              "certificates stay valid and the next issuance for that CA registers a new account.",
              {{"yes", "", "confirm the deactivation"}},
              1,
              1,
              RunDeactivate});
  commands.push_back(Command{
      "accounts rollover",
      "CA",
      "Replace the account key for a CA (ACME keyChange).",
      "Replaces the key of the server's ACME account with the CA (RFC 8555 keyChange).",
      {{"key-type", "TYPE",
        "type of the new key: ecdsa-p256, ecdsa-p384, rsa2048, rsa3072, rsa4096 (default: keep)"}},
      1,
      1,
      RunRollover});
  return commands;
}

}  // namespace certfleet::cli
