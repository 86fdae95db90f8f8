#include "client/agent/agent.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/log.h"

namespace certfleet::agent {
namespace {

absl::Status ListenError(const std::string& address, absl::string_view what,
                         const absl::Status& cause, absl::string_view flag) {
  std::string hint;
  std::string host;
  int port = 0;
  if (SplitHostPort(address, &host, &port).ok() && port > 0 && port < 1024 &&
      absl::StrContains(cause.message(), "ermission")) {
    hint = absl::StrCat(" (run as root or give CAP_NET_BIND_SERVICE, or set --", flag, ")");
  } else {
    hint = absl::StrCat(" (set --", flag, ")");
  }
  // The responder's message may already start with "cannot listen on <address>: ".
  absl::string_view reason = cause.message();
  absl::ConsumePrefix(&reason, absl::StrCat("cannot listen on ", address, ": "));
  return absl::UnavailableError(
      absl::StrCat("cannot listen on ", address, " for ", what, ": ", reason, hint));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Agent>> Agent::Create(const AgentConfig& config) {
  std::unique_ptr<Agent> agent(new Agent());
  agent->status_ = std::make_unique<AgentStatus>(config.agent_id, config.status_file);

  responder::TlsAlpnResponderOptions tls_options;
  tls_options.passthrough_backend = config.tls_alpn_passthrough;
  tls_options.proxy_protocol_v2 = config.tls_alpn_proxy_protocol;
  if (!config.tls_alpn_passthrough.empty()) {
    // In front of a web server: room for its traffic, not only for validations.
    tls_options.max_connections = 1024;
  }
  absl::StatusOr<std::unique_ptr<responder::TlsAlpnResponder>> tls =
      responder::TlsAlpnResponder::Start(config.tls_alpn_listen, tls_options);
  if (!tls.ok() && tls.status().code() == absl::StatusCode::kInvalidArgument &&
      !config.tls_alpn_passthrough.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls-alpn-passthrough: ", tls.status().message()));
  }
  if (!tls.ok()) {
    return ListenError(config.tls_alpn_listen, "tls-alpn-01", tls.status(), "tls-alpn-listen");
  }
  agent->tls_alpn_ = std::move(tls).value();
  if (!config.http01_listen.empty()) {
    absl::StatusOr<std::unique_ptr<responder::Http01Responder>> http =
        responder::Http01Responder::Start(config.http01_listen);
    if (!http.ok()) {
      return ListenError(config.http01_listen, "http-01", http.status(), "http01-listen");
    }
    agent->http01_ = std::move(http).value();
  }
  agent->status_->SetListenPorts(agent->tls_alpn_port(), agent->http01_port());

  ChallengeHandler::Options handler_options;
  handler_options.names = config.names;
  handler_options.tls_alpn = agent->tls_alpn_.get();
  handler_options.http01 = agent->http01_.get();
  handler_options.http01_webroot = config.http01_webroot;
  agent->handler_ =
      std::make_unique<ChallengeHandler>(std::move(handler_options), agent->status_.get());

  CertificateInstaller::Options installer_options;
  installer_options.cert_dir = config.cert_dir;
  installer_options.reload_command = config.reload_command;
  installer_options.reload_timeout = config.reload_timeout;
  agent->installer_ = std::make_unique<CertificateInstaller>(std::move(installer_options));

  AgentStream::Options stream_options;
  stream_options.server = config.server;
  if (config.insecure_plaintext) {
    stream_options.credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = config.server_ca_pem;  // empty: gRPC's default roots
    stream_options.credentials = grpc::SslCredentials(ssl);
  }
  stream_options.agent_id = config.agent_id;
  stream_options.names = config.names;
  stream_options.token = config.token;
  stream_options.heartbeat_interval = absl::Seconds(config.heartbeat_seconds);
  stream_options.backoff_initial = config.reconnect_backoff_initial;
  stream_options.backoff_max = config.reconnect_backoff_max;
  agent->stream_ = std::make_unique<AgentStream>(
      std::move(stream_options), agent->handler_.get(), agent->installer_.get(),
      agent->status_.get());

  CF_LOG(INFO) << "agent started" << Kv("agent_id", config.agent_id)
               << Kv("server", config.server) << Kv("tls_alpn_port", agent->tls_alpn_port())
               << Kv("http01_port", agent->http01_port())
               << Kv("tls_alpn_passthrough", config.tls_alpn_passthrough)
               << Kv("tls_alpn_proxy_protocol", config.tls_alpn_proxy_protocol)
               << Kv("http01_webroot", config.http01_webroot)
               << Kv("cert_dir", config.cert_dir)
               << Kv("transport", config.insecure_plaintext ? "plaintext" : "tls");
  return agent;
}

Agent::~Agent() {
  Shutdown();
  stream_.reset();
  handler_.reset();
  if (http01_ != nullptr) http01_->Stop();
  if (tls_alpn_ != nullptr) tls_alpn_->Stop();
}

void Agent::Run() { stream_->Run(); }

void Agent::Shutdown() {
  if (stream_ != nullptr) stream_->Shutdown();
}

int Agent::tls_alpn_port() const { return tls_alpn_ != nullptr ? tls_alpn_->port() : 0; }
int Agent::http01_port() const { return http01_ != nullptr ? http01_->port() : 0; }

}  // namespace certfleet::agent
