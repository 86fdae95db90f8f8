// issuance_bench: issues N single-name certificates through certfleet-server + one
// certfleet-agent (tls-alpn-01), and N with `lego --tls`, sequentially and with concurrency,
// against one Pebble in one run; prints median, p95, total and the certfleet/lego ratio.
//
//   issuance_bench [--n 20] [--concurrency 10] [--workers W] [--timeout-seconds 120]
//                  [--build-dir DIR] [--lego /usr/bin/lego] [--keep]

#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_process.h"
#include "bench/latency_stats.h"
#include "certfleet/v1/agents.grpc.pb.h"
#include "certfleet/v1/certificates.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/pebble_fixture.h"
#include "tests/support/poll.h"

namespace certfleet::bench {
namespace {

using json = nlohmann::json;
using testing::PebbleFixture;
using testing::PebbleOptions;
using testing::PollUntil;

constexpr char kDomain[] = "certfleet.test";
constexpr char kAgentId[] = "bench-agent";
constexpr char kLegoEmail[] = "bench@example.com";
// How often the bench polls for a server or agent to come up.
constexpr absl::Duration kPollInterval = absl::Milliseconds(20);
// Pebble's fairness settings, set explicitly (the fixture's defaults too).
const std::map<std::string, std::string> kPebbleEnv = {
    {"PEBBLE_VA_NOSLEEP", "1"}, {"PEBBLE_AUTHZREUSE", "0"}, {"PEBBLE_WFE_NONCEREJECT", "0"}};

struct BenchFlags {
  int n = 20;
  int concurrency = 10;
  int workers = 0;  // 0: = concurrency.
  int timeout_seconds = 120;
  std::string build_dir;
  std::string lego = "/usr/bin/lego";
  bool keep = false;
  bool help = false;
};

constexpr char kUsage[] =
    "usage: issuance_bench [--n N] [--concurrency C] [--workers W] [--timeout-seconds S]\n"
    "                      [--build-dir DIR] [--lego PATH] [--keep]\n"
    "  --n N               certificates per tool and mode (default 20)\n"
    "  --concurrency C     client threads in the concurrent mode (default 10)\n"
    "  --workers W         certfleet-server issuance workers (default: C)\n"
    "  --timeout-seconds S per-certificate timeout (default 120)\n"
    "  --build-dir DIR     where server/certfleet-server and client/agent/certfleet-agent\n"
    "                      are (default: the build folder holding this binary)\n"
    "  --lego PATH         the lego binary (default /usr/bin/lego)\n"
    "  --keep              keep the work folder (logs, database, certificates)\n";

absl::StatusOr<BenchFlags> ParseFlags(int argc, char** argv) {
  BenchFlags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    auto next = [&]() -> absl::StatusOr<std::string> {
      if (has_value) return value;
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(arg, ": needs a value"));
      return std::string(argv[++i]);
    };
    auto next_int = [&](int lo, int* out) -> absl::Status {
      absl::StatusOr<std::string> v = next();
      if (!v.ok()) return v.status();
      if (!absl::SimpleAtoi(*v, out) || *out < lo) {
        return absl::InvalidArgumentError(
            absl::StrCat(arg, ": \"", *v, "\" is not an integer >= ", lo));
      }
      return absl::OkStatus();
    };
    absl::Status status;
    if (arg == "--help" || arg == "-h") {
      flags.help = true;
    } else if (arg == "--keep") {
      flags.keep = true;
    } else if (arg == "--n") {
      status = next_int(1, &flags.n);
    } else if (arg == "--concurrency") {
      status = next_int(1, &flags.concurrency);
    } else if (arg == "--workers") {
      status = next_int(1, &flags.workers);
    } else if (arg == "--timeout-seconds") {
      status = next_int(1, &flags.timeout_seconds);
    } else if (arg == "--build-dir" || arg == "--lego") {
      absl::StatusOr<std::string> v = next();
      if (!v.ok()) return v.status();
      (arg == "--lego" ? flags.lego : flags.build_dir) = *v;
    } else {
      return absl::InvalidArgumentError(absl::StrCat(arg, ": unknown flag"));
    }
    if (!status.ok()) return status;
  }
  if (flags.workers == 0) flags.workers = flags.concurrency;
  if (flags.build_dir.empty()) {
    // <build>/bench/issuance_bench -> <build>
    char buf[4096];
    ssize_t len = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (len > 0) {
      std::string exe(buf, static_cast<size_t>(len));
      std::string dir = exe.substr(0, exe.rfind('/'));
      flags.build_dir = dir.substr(0, dir.rfind('/'));
    }
  }
  return flags;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

std::string Tail(const std::string& text, size_t max = 2000) {
  return text.size() <= max ? text : "..." + text.substr(text.size() - max);
}

// Runs `one(index, worker)` for indexes 0..count-1 on `concurrency` threads, each taking the
// next index when free. Fills the series' latencies, failures and wall time.
void RunSeries(int count, int concurrency,
               const std::function<absl::StatusOr<double>(int index, int worker)>& one,
               SeriesResult* series) {
  std::atomic<int> next{0};
  std::mutex mu;
  auto start = std::chrono::steady_clock::now();
  auto worker = [&](int w) {
    for (int i = next++; i < count; i = next++) {
      absl::StatusOr<double> seconds = one(i, w);
      std::lock_guard<std::mutex> lock(mu);
      if (seconds.ok()) {
        series->seconds.push_back(*seconds);
      } else {
        series->failures.push_back(std::string(seconds.status().message()));
      }
    }
  };
  std::vector<std::thread> threads;
  for (int w = 0; w < concurrency; ++w) threads.emplace_back(worker, w);
  for (std::thread& t : threads) t.join();
  series->wall_seconds = SecondsSince(start);
}

// certfleet-server and its one agent, started against the fixture's Pebble.
class CertfleetSide {
 public:
  CertfleetSide(const BenchFlags& flags, const PebbleFixture& pebble, std::string work_dir)
      : flags_(flags), pebble_(pebble), work_dir_(std::move(work_dir)) {}

  ~CertfleetSide() { Stop(); }

  // Starts the server (temp SQLite, CA "pebble", any agent allowed) and one agent serving
  // `names` with tls-alpn-01 on 127.0.0.1:<Pebble's tlsPort>; waits until it is connected.
  absl::Status Start(const std::vector<std::string>& names) {
    std::string config_path = work_dir_ + "/server.json";
    json config = {
        {"listen", "127.0.0.1:0"},
        {"database", work_dir_ + "/certfleet.db"},
        {"cas",
         {{"pebble",
           {{"directory_url", pebble_.directory_url()},
            {"ca_bundle", pebble_.ca_bundle_path()},
            {"contact", {"mailto:bench@example.com"}},
            {"terms_of_service_agreed", true}}}}},
        {"default_ca", "pebble"},
        {"defaults",
         {{"workers", flags_.workers},
          {"key_type", "ecdsa-p256"},
          {"challenge_preference", {"tls-alpn-01"}}}},
        {"agents", {{"allow_any", true}}},
    };
    std::ofstream(config_path) << config.dump(2);
    std::string port_file = work_dir_ + "/server.port";
    absl::StatusOr<std::unique_ptr<BenchProcess>> server = BenchProcess::Spawn(
        {flags_.build_dir + "/server/certfleet-server", "--config", config_path, "--port-file",
         port_file},
        {}, work_dir_ + "/server");
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    int port = 0;
    if (!PollUntil(
            [&] {
              std::string text(absl::StripAsciiWhitespace(ReadFileOrEmpty(port_file)));
              return absl::SimpleAtoi(text, &port) && port > 0;
            },
            absl::Seconds(30), kPollInterval) ||
        !server_->Running()) {
      return absl::UnavailableError(
          absl::StrCat("certfleet-server did not start:\n", Tail(server_->Stderr())));
    }
    address_ = absl::StrCat("127.0.0.1:", port);
    channel_ = grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());

    std::vector<std::string> argv = {flags_.build_dir + "/client/agent/certfleet-agent",
                                     "--server",
                                     address_,
                                     "--insecure-plaintext",
                                     "--agent-id",
                                     kAgentId,
                                     "--tls-alpn-listen",
                                     absl::StrCat("127.0.0.1:", pebble_.options().tls_port),
                                     "--cert-dir",
                                     work_dir_ + "/agent-live",
                                     "--reload-command=",
                                     "--status-file",
                                     work_dir_ + "/agent-status.json"};
    for (const std::string& name : names) {
      argv.push_back("--name");
      argv.push_back(name);
    }
    absl::StatusOr<std::unique_ptr<BenchProcess>> agent =
        BenchProcess::Spawn(argv, {}, work_dir_ + "/agent");
    if (!agent.ok()) return agent.status();
    agent_ = *std::move(agent);
    std::unique_ptr<v1::Agents::Stub> agents = v1::Agents::NewStub(channel_);
    bool connected = PollUntil(
        [&] {
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
          v1::ListAgentsResponse response;
          if (!agents->ListAgents(&context, v1::ListAgentsRequest(), &response).ok()) {
            return false;
          }
          for (const v1::AgentInfo& info : response.agents()) {
            if (info.agent_id() == kAgentId) return true;
          }
          return false;
        },
        absl::Seconds(30), kPollInterval);
    if (!connected || !agent_->Running()) {
      return absl::UnavailableError(
          absl::StrCat("certfleet-agent did not connect:\n", Tail(agent_->Stderr())));
    }
    stub_ = v1::Certificates::NewStub(channel_);
    return absl::OkStatus();
  }

  // Issues one certificate for `name` with IssueCertificate(wait=true); returns the call's
  // latency in seconds, or an error naming the name and the cause.
  absl::StatusOr<double> Issue(const std::string& name) {
    v1::IssueCertificateRequest request;
    request.add_names(name);
    request.set_ca("pebble");
    request.add_challenge_preference(v1::CHALLENGE_TYPE_TLS_ALPN_01);
    request.set_key_type(v1::KEY_TYPE_ECDSA_P256);
    request.set_wait(true);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(flags_.timeout_seconds));
    v1::Issuance response;
    auto start = std::chrono::steady_clock::now();
    grpc::Status status = stub_->IssueCertificate(&context, request, &response);
    double seconds = SecondsSince(start);
    if (!status.ok()) {
      return absl::UnknownError(absl::StrCat("certfleet ", name, ": rpc failed (code ",
                                             status.error_code(), "): ", status.error_message()));
    }
    if (response.state() != v1::Issuance::STATE_VALID) {
      return absl::UnknownError(absl::StrCat("certfleet ", name, ": issuance ", response.id(),
                                             " ended in state ", response.state(), " step ",
                                             response.step(), ": ", response.error_message()));
    }
    return seconds;
  }

  // Stops the agent, then the server (SIGTERM, then SIGKILL after 10 s).
  void Stop() {
    if (agent_ != nullptr) {
      agent_->Signal(SIGTERM);
      agent_->Wait(absl::Seconds(10));
      agent_.reset();
    }
    if (server_ != nullptr) {
      server_->Signal(SIGTERM);
      server_->Wait(absl::Seconds(10));
      server_.reset();
    }
  }

 private:
  const BenchFlags& flags_;
  const PebbleFixture& pebble_;
  std::string work_dir_;
  std::string address_;
  std::unique_ptr<BenchProcess> server_;
  std::unique_ptr<BenchProcess> agent_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Certificates::Stub> stub_;
};

// lego runs against the same Pebble; every run reuses one pre-registered account.
class LegoSide {
 public:
  LegoSide(const BenchFlags& flags, const PebbleFixture& pebble, std::string work_dir)
      : flags_(flags), pebble_(pebble), work_dir_(std::move(work_dir)) {}

  // The loopback address lego worker `worker` listens on: 127.0.0.(10+worker). The agent
  // holds 127.0.0.1:<tlsPort>, so each lego process gets its own address on the same port.
  static std::string WorkerAddress(int worker) { return absl::StrCat("127.0.0.", 10 + worker); }

  // Maps `name` to the worker's address in challtestsrv (untimed), then times one
  // `lego run` for it. The error carries the tail of lego's output.
  absl::StatusOr<double> Issue(const std::string& name, int worker) {
    std::string ip = WorkerAddress(worker);
    absl::Status mapped = pebble_.AddARecord(name, ip);
    if (!mapped.ok()) {
      return absl::UnknownError(absl::StrCat("lego ", name, ": add-a: ", mapped.message()));
    }
    std::vector<std::string> argv = {flags_.lego,
                                     "--server",
                                     pebble_.directory_url(),
                                     "--email",
                                     kLegoEmail,
                                     "--accept-tos",
                                     "--key-type",
                                     "ec256",
                                     "--tls",
                                     "--tls.port",
                                     absl::StrCat(ip, ":", pebble_.options().tls_port),
                                     "--domains",
                                     name,
                                     "--path",
                                     work_dir_ + "/lego",
                                     "run"};
    std::string log_prefix = absl::StrCat(work_dir_, "/lego-", name);
    auto start = std::chrono::steady_clock::now();
    int exit_code = RunToCompletion(argv, {{"LEGO_CA_CERTIFICATES", pebble_.ca_bundle_path()}},
                                    log_prefix, absl::Seconds(flags_.timeout_seconds));
    double seconds = SecondsSince(start);
    std::string crt = absl::StrCat(work_dir_, "/lego/certificates/", name, ".crt");
    if (exit_code != 0 || ReadFileOrEmpty(crt).empty()) {
      return absl::UnknownError(absl::StrCat("lego ", name, ": exit code ", exit_code, ":\n",
                                             Tail(ReadFileOrEmpty(log_prefix + ".err"), 600)));
    }
    return seconds;
  }

 private:
  const BenchFlags& flags_;
  const PebbleFixture& pebble_;
  std::string work_dir_;
};

std::string Fmt(double v) { return absl::StrFormat("%.3f", v); }

// The ratio a/b, or "n/a" when b is zero.
std::string Ratio(double a, double b) {
  return b > 0 ? absl::StrFormat("%.2f", a / b) : std::string("n/a");
}

json SeriesJson(const SeriesResult& s) {
  return {{"tool", s.tool},
          {"mode", s.mode},
          {"concurrency", s.concurrency},
          {"n", s.requested},
          {"ok", s.seconds.size()},
          {"failed", s.failures.size()},
          {"median_s", Median(s.seconds)},
          {"p95_s", Percentile(s.seconds, 95)},
          {"total_s", s.wall_seconds},
          {"sum_latency_s", [&] {
             double sum = 0;
             for (double v : s.seconds) sum += v;
             return sum;
           }()},
          {"throughput_per_s", Throughput(s)}};
}

void PrintReport(const BenchFlags& flags, const std::vector<SeriesResult>& all) {
  std::printf("\n%-10s %-14s %5s %5s %10s %10s %10s %10s\n", "tool", "mode", "N", "ok",
              "median_s", "p95_s", "total_s", "certs/s");
  for (const SeriesResult& s : all) {
    std::string mode =
        s.concurrency == 1 ? s.mode : absl::StrCat(s.mode, "(", s.concurrency, ")");
    std::printf("%-10s %-14s %5d %5zu %10s %10s %10s %10s\n", s.tool.c_str(), mode.c_str(),
                s.requested, s.seconds.size(), Fmt(Median(s.seconds)).c_str(),
                Fmt(Percentile(s.seconds, 95)).c_str(), Fmt(s.wall_seconds).c_str(),
                absl::StrFormat("%.2f", Throughput(s)).c_str());
  }
  json ratios = json::object();
  std::printf("\nratio certfleet/lego (below 1: certfleet faster)\n");
  std::printf("%-14s %10s %10s %10s\n", "mode", "median", "p95", "total");
  for (const char* mode : {"sequential", "concurrent"}) {
    const SeriesResult* cf = nullptr;
    const SeriesResult* lego = nullptr;
    for (const SeriesResult& s : all) {
      if (s.mode != mode) continue;
      (s.tool == "certfleet" ? cf : lego) = &s;
    }
    if (cf == nullptr || lego == nullptr) continue;
    std::string median = Ratio(Median(cf->seconds), Median(lego->seconds));
    std::string p95 = Ratio(Percentile(cf->seconds, 95), Percentile(lego->seconds, 95));
    std::string total = Ratio(cf->wall_seconds, lego->wall_seconds);
    std::printf("%-14s %10s %10s %10s\n", mode, median.c_str(), p95.c_str(), total.c_str());
    ratios[mode] = {{"median", median}, {"p95", p95}, {"total", total}};
  }
  bool failed = false;
  for (const SeriesResult& s : all) {
    for (const std::string& f : s.failures) {
      if (!failed) std::printf("\nFAILURES\n");
      failed = true;
      std::printf("- [%s %s] %s\n", s.tool.c_str(), s.mode.c_str(), f.c_str());
    }
  }
  json out = {{"benchmark", "issuance"},
              {"n", flags.n},
              {"concurrency", flags.concurrency},
              {"server_workers", flags.workers},
              {"challenge", "tls-alpn-01"},
              {"key_type", "ecdsa-p256"},
              {"pebble_env", kPebbleEnv},
              {"series", json::array()},
              {"ratio_certfleet_over_lego", ratios}};
  for (const SeriesResult& s : all) out["series"].push_back(SeriesJson(s));
  std::printf("\n%s\n", out.dump().c_str());
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  absl::StatusOr<BenchFlags> parsed = ParseFlags(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "issuance_bench: %s\n%s", std::string(parsed.status().message()).c_str(),
                 kUsage);
    return 2;
  }
  const BenchFlags& flags = *parsed;
  if (flags.help) {
    std::printf("%s", kUsage);
    return 0;
  }
  for (const std::string& bin : {flags.build_dir + "/server/certfleet-server",
                                 flags.build_dir + "/client/agent/certfleet-agent", flags.lego}) {
    if (access(bin.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "issuance_bench: %s is missing (build it, or see --build-dir/--lego)\n",
                   bin.c_str());
      return 2;
    }
  }
  std::string work_dir = testing::MakeTempDir("certfleet-bench");

  PebbleOptions options;
  options.tls_port = testing::PickFreePort();
  options.http_port = testing::PickFreePort();
  options.env = kPebbleEnv;
  std::fprintf(stderr, "starting Pebble (work dir %s)\n", work_dir.c_str());
  absl::StatusOr<std::unique_ptr<PebbleFixture>> pebble = PebbleFixture::Start(options);
  if (!pebble.ok()) {
    std::fprintf(stderr, "issuance_bench: %s\n", pebble.status().ToString().c_str());
    return 1;
  }

  std::printf(
      "certfleet issuance benchmark: N=%d per tool and mode, concurrency %d, one Pebble "
      "(%s)\n"
      "Pebble env: PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE=0 PEBBLE_WFE_NONCEREJECT=0; "
      "tls-alpn-01 on port %d; ECDSA P-256 keys\n"
      "certfleet: certfleet-server (SQLite, %d workers) + 1 certfleet-agent on 127.0.0.1; "
      "latency = IssueCertificate(wait=true) over gRPC\n"
      "lego: one `lego run` process per certificate (%s), one account pre-registered and "
      "reused; worker k on 127.0.0.(10+k)\n"
      "account creation is excluded for both (one untimed warm-up issuance each)\n"
      "note: Pebble sends no Retry-After; lego then waits 5 s before polling the "
      "authorization, certfleet 1 s (doubling): polling dominates both figures\n",
      flags.n, flags.concurrency, (*pebble)->directory_url().c_str(), options.tls_port,
      flags.workers, flags.lego.c_str());
  std::fflush(stdout);

  auto cf_name = [](int i) { return absl::StrCat("bench-", i, ".", kDomain); };
  auto lego_name = [](int i) { return absl::StrCat("bench-lego-", i, ".", kDomain); };
  std::vector<std::string> agent_names = {absl::StrCat("bench-warmup.", kDomain)};
  for (int i = 0; i < 2 * flags.n; ++i) agent_names.push_back(cf_name(i));

  CertfleetSide certfleet(flags, **pebble, work_dir);
  if (absl::Status started = certfleet.Start(agent_names); !started.ok()) {
    std::fprintf(stderr, "issuance_bench: %s\n(logs in %s)\n", started.ToString().c_str(),
                 work_dir.c_str());
    return 1;
  }
  LegoSide lego(flags, **pebble, work_dir);

  std::fprintf(stderr, "warm-up: one certfleet and one lego issuance (account creation)\n");
  if (absl::StatusOr<double> w = certfleet.Issue(agent_names[0]); !w.ok()) {
    std::fprintf(stderr, "issuance_bench: certfleet warm-up failed: %s\n(logs in %s)\n",
                 std::string(w.status().message()).c_str(), work_dir.c_str());
    return 1;
  }
  if (absl::StatusOr<double> w = lego.Issue(absl::StrCat("bench-lego-warmup.", kDomain), 0);
      !w.ok()) {
    std::fprintf(stderr, "issuance_bench: lego warm-up failed: %s\n(logs in %s)\n",
                 std::string(w.status().message()).c_str(), work_dir.c_str());
    return 1;
  }

  // Interleaved (certfleet, lego, certfleet, lego) so drift in Pebble's state or machine
  // load does not favour one tool.
  std::vector<SeriesResult> all;
  for (int concurrency : {1, flags.concurrency}) {
    int offset = concurrency == 1 ? 0 : flags.n;
    std::string mode = concurrency == 1 ? "sequential" : "concurrent";
    for (const char* tool : {"certfleet", "lego"}) {
      SeriesResult series;
      series.tool = tool;
      series.mode = mode;
      series.concurrency = concurrency;
      series.requested = flags.n;
      std::fprintf(stderr, "%s %s: %d certificates...\n", tool, mode.c_str(), flags.n);
      if (series.tool == "certfleet") {
        RunSeries(
            flags.n, concurrency,
            [&](int i, int) { return certfleet.Issue(cf_name(offset + i)); }, &series);
      } else {
        RunSeries(
            flags.n, concurrency,
            [&](int i, int worker) { return lego.Issue(lego_name(offset + i), worker); },
            &series);
      }
      std::fprintf(stderr, "  done in %.2f s, %zu failed\n", series.wall_seconds,
                   series.failures.size());
      all.push_back(std::move(series));
    }
  }
  certfleet.Stop();
  PrintReport(flags, all);

  bool failed = false;
  for (const SeriesResult& s : all) failed = failed || !s.failures.empty();
  if (flags.keep || failed) {
    std::fprintf(stderr, "logs, database and certificates kept in %s\n", work_dir.c_str());
  } else {
    std::string cmd = absl::StrCat("rm -rf '", work_dir, "'");
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "cannot remove %s\n", work_dir.c_str());
    }
  }
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace certfleet::bench

int main(int argc, char** argv) { return certfleet::bench::Main(argc, argv); }
