#pragma once

// certfleet-server's wiring, startable in-process by tests: storage, ACME accounts per CA,
// the agent registry and Agents service, the challenge solvers (agent-backed, built-in, and
// the composite choosing between them), the issuance manager, and the gRPC server with
// health checking and reflection.

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "grpcpp/grpcpp.h"
#include "server/agents/agent_challenge_solver.h"
#include "server/agents/agent_registry.h"
#include "server/agents/agents_service.h"
#include "server/api/accounts_service.h"
#include "server/api/api_auth.h"
#include "server/api/certificates_service.h"
#include "server/app/agent_installer.h"
#include "server/app/config.h"
#include "server/issuance/acme_accounts.h"
#include "server/issuance/builtin_solver.h"
#include "server/issuance/composite_solver.h"
#include "server/issuance/executor.h"
#include "server/issuance/issuance_manager.h"
#include "storage/database.h"

namespace certfleet::server {

// Knobs tests may turn; the defaults are production's.
struct AppOptions {
  Clock* clock = RealClock();  // Not owned.
  // Threads for API work (SQLite, revocation, account calls).
  int api_threads = 4;
  // Overrides of the issuance manager's options (workers and renewal_interval come from
  // the config).
  issuance::IssuanceManagerOptions issuance;
};

class App {
 public:
  explicit App(ServerConfig config, AppOptions options = AppOptions());
  // Shuts down (with a zero drain) when still running.
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Opens the database, starts the solvers, the issuance manager (resuming unfinished
  // issuances) and the gRPC server. The error names what failed (bind, database, ...).
  absl::Status Start();
  // Stops accepting RPCs, answers waiting ones, gives in-flight RPCs until `drain` to end
  // (then cancels them), stops the workers and closes the database. Idempotent.
  void Shutdown(absl::Duration drain = absl::Seconds(10));
  // Blocks until the gRPC server has shut down.
  void Wait();

  // The bound gRPC port (after Start).
  int port() const { return port_; }
  // host:port actually listened on.
  std::string listen_address() const;
  // Built-in solver ports (0 when off).
  int builtin_tls_alpn_port() const;
  int builtin_http01_port() const;
  // The issuance manager (after Start), for in-process tests.
  issuance::IssuanceManager* manager() { return manager_.get(); }

 private:
  ServerConfig config_;
  AppOptions options_;
  std::unique_ptr<storage::Database> db_;
  std::unique_ptr<issuance::Executor> executor_;
  std::unique_ptr<issuance::AcmeAccounts> accounts_;
  std::unique_ptr<api::ApiAuthenticator> api_auth_;
  std::unique_ptr<agents::AgentRegistry> registry_;
  std::unique_ptr<agents::AgentsService> agents_service_;
  std::unique_ptr<agents::AgentChallengeSolver> agent_solver_;
  std::unique_ptr<issuance::BuiltinSolver> builtin_solver_;
  std::unique_ptr<issuance::CompositeSolver> solver_;
  std::unique_ptr<AgentInstaller> installer_;
  std::unique_ptr<issuance::IssuanceManager> manager_;
  std::unique_ptr<api::CertificatesService> certificates_service_;
  std::unique_ptr<api::AccountsService> accounts_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool started_ = false;
  bool shut_down_ = false;
};

}  // namespace certfleet::server
