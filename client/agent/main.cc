// certfleet-agent: answers ACME challenges for this host's names and installs the
// certificates certfleet-server sends. See client/agent/agent_config.h for the flags.

#include <signal.h>
#include <pthread.h>

#include <cstdio>
#include <thread>

#include "client/agent/agent.h"
#include "client/agent/agent_config.h"
#include "common/log.h"

int main(int argc, char** argv) {
  using certfleet::agent::Agent;
  absl::StatusOr<certfleet::agent::AgentConfig> config =
      certfleet::agent::ParseAgentConfig(argc, argv);
  if (!config.ok()) {
    std::fprintf(stderr, "certfleet-agent: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }
  if (config->show_help) {
    std::fputs(certfleet::agent::AgentUsage().c_str(), stdout);
    return 0;
  }
  if (config->log_level.has_value()) certfleet::SetLogLevel(*config->log_level);

  // Block the shutdown signals in every thread; one thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::unique_ptr<Agent>> agent = Agent::Create(*config);
  if (!agent.ok()) {
    std::fprintf(stderr, "certfleet-agent: %s\n", std::string(agent.status().message()).c_str());
    return 1;
  }
  std::thread stream([&agent] { (*agent)->Run(); });
  int sig = 0;
  sigwait(&signals, &sig);
  CF_LOG(INFO) << "signal received; shutting down" << certfleet::Kv("signal", sig);
  (*agent)->Shutdown();
  stream.join();
  agent->reset();
  return 0;
}
