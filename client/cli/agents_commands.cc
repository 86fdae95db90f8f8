// The agent commands: agents list.

#include <vector>

#include "certfleet/v1/agents.grpc.pb.h"
#include "client/cli/command.h"
#include "client/cli/message_format.h"

namespace certfleet::cli {
namespace {

int RunList(CommandContext& ctx) {
  auto stub = v1::Agents::NewStub(ctx.connection().channel());
  grpc::ClientContext context;
  ctx.connection().Configure(context, ctx.Timeout(absl::Seconds(30)));
  v1::ListAgentsResponse response;
  grpc::Status status = stub->ListAgents(&context, v1::ListAgentsRequest(), &response);
  if (!status.ok()) return ctx.RpcError(status);
  if (ctx.options().output == OutputFormat::kJson) return ctx.PrintJson(response);
  WriteAgentTable(response.agents(), ctx.out());
  return kExitOk;
}

}  // namespace

std::vector<Command> AgentCommands() {
  return {Command{"agents list",
                  "",
                  "List the connected agents.",
                  "Lists the agents connected to the server: the names each serves, its\n"
                  "challenge capabilities, version, peer address and when it was last heard from.",
                  {},
                  0,
                  0,
                  RunList}};
}

}  // namespace certfleet::cli
