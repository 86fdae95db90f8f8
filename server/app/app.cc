#include "server/app/app.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "server/app/config.h"

namespace certfleet::server {

App::App(ServerConfig config, AppOptions options)
    : config_(std::move(config)), options_(std::move(options)) {}

App::~App() { Shutdown(absl::ZeroDuration()); }

absl::Status App::Start() {
  if (started_) return absl::FailedPreconditionError("already started");
  started_ = true;
  storage::DatabaseOptions db_options;
  db_options.clock = options_.clock;
  absl::StatusOr<std::unique_ptr<storage::Database>> db =
      storage::Database::Open(config_.database, db_options);
  if (!db.ok()) {
    return absl::Status(db.status().code(),
                        absl::StrCat("database ", config_.database, ": ", db.status().message()));
  }
  db_ = *std::move(db);
  executor_ = std::make_unique<issuance::Executor>(options_.api_threads);
  accounts_ = std::make_unique<issuance::AcmeAccounts>(db_.get(), config_.cas, options_.clock);

  ASSIGN_OR_RETURN(api::ApiAuthenticator api_auth,
                   api::ApiAuthenticator::FromClients(config_.api_clients));
  api_auth_ = std::make_unique<api::ApiAuthenticator>(std::move(api_auth));
  if (api_auth_->open()) {
    // ValidateConfig allows this on loopback only.
    CF_LOG(WARNING) << "the API is open: no api_clients are configured, so any local "
                       "process may issue, revoke and deactivate (development only)"
                    << Kv("listen", config_.listen);
  }

  registry_ = std::make_unique<agents::AgentRegistry>();
  agents::AgentsServiceOptions agents_options;
  agents_options.clock = options_.clock;
  agents_options.api_auth = api_auth_.get();
  if (config_.agents_allow_any) {
    agents_options.policy = agents::AgentPolicy::AllowAnyAgent();
  } else {
    ASSIGN_OR_RETURN(agents_options.policy, agents::AgentPolicy::FromGrants(config_.agent_grants));
  }
  agents_service_ = std::make_unique<agents::AgentsService>(registry_.get(), agents_options);
  agent_solver_ = std::make_unique<agents::AgentChallengeSolver>(registry_.get());
  if (!config_.builtin_tls_alpn_listen.empty() || !config_.builtin_http01_listen.empty()) {
    absl::StatusOr<std::unique_ptr<issuance::BuiltinSolver>> builtin =
        issuance::BuiltinSolver::Start(config_.builtin_tls_alpn_listen,
                                       config_.builtin_http01_listen);
    if (!builtin.ok()) {
      return absl::Status(builtin.status().code(),
                          absl::StrCat("builtin_solver: ", builtin.status().message()));
    }
    builtin_solver_ = *std::move(builtin);
  }
  solver_ = std::make_unique<issuance::CompositeSolver>(
      std::vector<acme::ChallengeSolver*>{agent_solver_.get(), builtin_solver_.get()});
  installer_ = std::make_unique<AgentInstaller>(agent_solver_.get());

  issuance::IssuanceManagerOptions manager_options = options_.issuance;
  manager_options.workers = config_.defaults.workers;
  manager_options.renewal_interval = config_.defaults.renewal_check_interval;
  manager_options.clock = options_.clock;
  manager_ = std::make_unique<issuance::IssuanceManager>(
      db_.get(), accounts_.get(), config_.cas, config_.defaults, solver_.get(), installer_.get(),
      manager_options);
  certificates_service_ =
      std::make_unique<api::CertificatesService>(manager_.get(), executor_.get(), api_auth_.get());
  accounts_service_ = std::make_unique<api::AccountsService>(accounts_.get(), config_.cas,
                                                             executor_.get(), api_auth_.get());

  std::shared_ptr<grpc::ServerCredentials> credentials;
  if (!config_.tls_cert_file.empty()) {
    ASSIGN_OR_RETURN(std::string cert, ReadFile(config_.tls_cert_file));
    ASSIGN_OR_RETURN(std::string key, ReadFile(config_.tls_key_file));
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({key, cert});
    credentials = grpc::SslServerCredentials(ssl);
  } else {
    credentials = grpc::InsecureServerCredentials();
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.listen, credentials, &port_);
  builder.RegisterService(certificates_service_.get());
  builder.RegisterService(accounts_service_.get());
  builder.RegisterService(agents_service_.get());
  builder.SetMaxReceiveMessageSize(config_.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10 * 1000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("listen: cannot listen on ", config_.listen));
  }
  // Resume unfinished issuances only once the server can answer about them.
  RETURN_IF_ERROR(manager_->Start());
  CF_LOG(INFO) << "server started" << Kv("listen", listen_address())
               << Kv("database", config_.database) << Kv("cas", config_.cas.size())
               << Kv("workers", config_.defaults.workers)
               << Kv("builtin_tls_alpn_port", builtin_tls_alpn_port())
               << Kv("builtin_http01_port", builtin_http01_port());
  return absl::OkStatus();
}

void App::Shutdown(absl::Duration drain) {
  if (shut_down_ || !started_) return;
  shut_down_ = true;
  if (manager_) manager_->ReleaseWaiters();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(drain));
  }
  if (manager_) manager_->Shutdown();
  if (executor_) executor_->Shutdown();
  if (builtin_solver_) builtin_solver_->Stop();
  CF_LOG(INFO) << "server stopped";
}

void App::Wait() {
  if (server_) server_->Wait();
}

std::string App::listen_address() const {
  std::string host = config_.listen.substr(0, config_.listen.rfind(':'));
  return absl::StrCat(host, ":", port_);
}

int App::builtin_tls_alpn_port() const {
  return builtin_solver_ ? builtin_solver_->tls_alpn_port() : 0;
}

int App::builtin_http01_port() const {
  return builtin_solver_ ? builtin_solver_->http01_port() : 0;
}

}  // namespace certfleet::server
