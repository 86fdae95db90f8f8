#include "server/agents/agents_service.h"

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/log.h"
#include "google/protobuf/util/time_util.h"

namespace certfleet::agents {

namespace {

grpc::Status ToGrpc(const absl::Status& status) {
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

// Printable, bounded rendering of untrusted text for messages and logs.
std::string Printable(std::string_view text) {
  text = text.substr(0, 64);
  return absl::CHexEscape(absl::string_view(text.data(), text.size()));
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  return google::protobuf::util::TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(t));
}

// The bearer token from "authorization: Bearer TOKEN", or empty.
std::string BearerToken(const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return "";
  absl::string_view value(it->second.data(), it->second.size());
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return "";
  }
  return std::string(absl::StripAsciiWhitespace(value.substr(kScheme.size())));
}

}  // namespace

// One agent stream. Owned by AgentsService::streams_ from Connect until OnDone; the registry
// and solvers may hold extra references, which only ever see a closed stream after OnDone.
//
// Concurrency: reactions run on gRPC threads; Send and Close also run on solver and sweeper
// threads. mu_ guards the write side and the close state. At most one read (request_, touched
// only by reactions) and one write (writing_) are in flight. Finish is called exactly once,
// never while a write is in flight (deferred to OnWriteDone). Nothing here blocks.
class AgentStream final : public grpc::ServerBidiReactor<v1::AgentMessage, v1::ServerMessage>,
                          public AgentConnection,
                          public std::enable_shared_from_this<AgentStream> {
 public:
  AgentStream(AgentsService* service, grpc::CallbackServerContext* context, uint64_t connection_id)
      : service_(service),
        options_(service->options_),
        token_(BearerToken(*context)),
        peer_(context->peer()),
        connection_id_(connection_id),
        connect_time_(options_.clock->Now()),
        last_seen_nanos_(absl::ToUnixNanos(connect_time_)) {}

  // Starts the first read. Called once the service owns the stream.
  void Start() {
    absl::MutexLock lock(&mu_);
    StartRead(&request_);
  }

  // AgentConnection.
  const AgentDescription& description() const override { return description_; }
  absl::Time last_seen() const override { return absl::FromUnixNanos(last_seen_nanos_.load()); }
  bool IsOpen() const override { return open_.load(); }
  bool hello_done() const { return hello_done_.load(); }
  absl::Time connect_time() const { return connect_time_; }
  std::string Name() const {
    return hello_done() ? description_.agent_id : absl::StrCat("(no Hello yet, ", peer_, ")");
  }

  std::shared_ptr<AckWaiter> Send(v1::ServerMessage message, std::string what,
                                  absl::Time deadline) override {
    std::vector<std::shared_ptr<AckWaiter>> expired;
    std::shared_ptr<AckWaiter> waiter;
    bool refused_full = false;
    {
      absl::MutexLock lock(&mu_);
      std::string id = absl::StrCat("m-", next_message_id_++);
      waiter = std::make_shared<AckWaiter>(description_.agent_id, id, std::move(what), deadline);
      if (!finish_requested_) {
        // Forget waiters whose deadline passed: their senders have given up.
        absl::Time now = options_.clock->Now();
        for (auto it = pending_.begin(); it != pending_.end();) {
          if (it->second->deadline() < now) {
            expired.push_back(std::move(it->second));
            pending_.erase(it++);
          } else {
            ++it;
          }
        }
        if (static_cast<int>(pending_.size() + queue_.size()) >= options_.max_queued_messages) {
          refused_full = true;
        } else {
          message.set_message_id(id);
          pending_.emplace(id, waiter);
          EnqueueLocked(std::move(message));
          return waiter;
        }
      }
    }
    for (auto& w : expired) w->ResolveDeadlineExceeded();
    if (refused_full) {
      waiter->Resolve(absl::ResourceExhaustedError(
          absl::StrCat("too many messages queued for agent ", description_.agent_id)));
    } else {
      waiter->ResolveWentAway();
    }
    return waiter;
  }

  void Close(const absl::Status& status) override {
    std::map<std::string, std::shared_ptr<AckWaiter>> pending;
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return;
      finish_requested_ = true;
      open_ = false;
      finish_status_ = status;
      pending.swap(pending_);
      queue_.clear();
      if (!write_in_flight_) FinishLocked();
    }
    // Outside mu_: the registry may be waiting on nothing of ours, but keep the lock order
    // stream → registry one-way and short.
    if (hello_done()) service_->registry_->Unregister(this);
    LogClose(status);
    for (auto& [id, waiter] : pending) waiter->ResolveWentAway();
  }

  // gRPC reactions.
  void OnReadDone(bool ok) override {
    if (!ok) {
      // The agent half-closed or the stream broke.
      Close(absl::OkStatus());
      return;
    }
    absl::Time now = options_.clock->Now();
    last_seen_nanos_ = absl::ToUnixNanos(now);
    absl::Status status = CountMessage(now);
    if (status.ok()) status = Handle(request_);
    if (!status.ok()) {
      Close(status);
      return;
    }
    absl::MutexLock lock(&mu_);
    if (!finish_requested_) StartRead(&request_);
  }

  void OnWriteDone(bool ok) override {
    bool broken = false;
    {
      absl::MutexLock lock(&mu_);
      write_in_flight_ = false;
      if (finish_requested_) {
        FinishLocked();
        return;
      }
      if (!ok) {
        broken = true;
      } else if (!queue_.empty()) {
        v1::ServerMessage next = std::move(queue_.front());
        queue_.pop_front();
        WriteLocked(std::move(next));
      }
    }
    if (broken) Close(absl::UnavailableError("write to agent failed (stream broken)"));
  }

  void OnCancel() override { Close(absl::CancelledError("agent stream cancelled")); }

  void OnDone() override {
    // Finish has run (gRPC calls OnDone only after it), so Close already failed the waiters;
    // unregistering again is harmless and covers every path.
    if (hello_done()) service_->registry_->Unregister(this);
    std::shared_ptr<AgentStream> self = service_->RemoveStream(this);
    // `self` may be the last reference: nothing touches members after this line.
  }

 private:
  absl::Status CountMessage(absl::Time now) {
    if (now - window_start_ >= absl::Seconds(1)) {
      window_start_ = now;
      window_count_ = 0;
    }
    if (++window_count_ > options_.max_messages_per_second) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "agent sent more than ", options_.max_messages_per_second, " messages in one second"));
    }
    return absl::OkStatus();
  }

  absl::Status Handle(const v1::AgentMessage& message) {
    if (message.body_case() == v1::AgentMessage::kHello) return HandleHello(message.hello());
    if (!hello_done()) return absl::InvalidArgumentError("first message must be Hello");
    switch (message.body_case()) {
      case v1::AgentMessage::kHeartbeat:
        return absl::OkStatus();
      case v1::AgentMessage::kAck:
        HandleAck(message.ack());
        return absl::OkStatus();
      default:
        CF_LOG(WARNING) << "ignoring agent message with no known body"
                        << Kv("agent", description_.agent_id);
        return absl::OkStatus();
    }
  }

  absl::Status HandleHello(const v1::Hello& hello) {
    if (hello_done()) return absl::InvalidArgumentError("second Hello on one stream");
    if (!IsValidAgentId(hello.agent_id())) {
      return absl::InvalidArgumentError(
          absl::StrCat("agent_id \"", Printable(hello.agent_id()),
                       "\" must be 1 to 128 characters of [A-Za-z0-9._-]"));
    }
    if (hello.names_size() > kMaxHelloNames) {
      return absl::InvalidArgumentError(
          absl::StrCat("Hello lists ", hello.names_size(), " names; at most ", kMaxHelloNames));
    }
    if (hello.version().size() > 128) {
      return absl::InvalidArgumentError("Hello.version is longer than 128 characters");
    }
    if (absl::Status auth = options_.policy.Authenticate(hello.agent_id(), token_); !auth.ok()) {
      CF_LOG(WARNING) << "agent refused" << Kv("agent", Printable(hello.agent_id()))
                      << Kv("peer", peer_) << Kv("reason", auth.message());
      return auth;
    }

    AgentDescription desc;
    desc.agent_id = hello.agent_id();
    desc.version = hello.version();
    desc.peer = peer_;
    desc.connect_time = connect_time_;
    desc.connection_id = connection_id_;
    desc.installs_certificates = hello.installs_certificates();
    std::vector<std::string> refused;
    std::set<identifiers::Identifier> seen;
    for (const std::string& name : hello.names()) {
      auto id = identifiers::NormalizeIdentifier(name);
      absl::Status why = id.status();
      if (why.ok()) why = options_.policy.CheckName(desc.agent_id, *id);
      if (!why.ok()) {
        CF_LOG(WARNING) << "agent name refused" << Kv("agent", desc.agent_id)
                        << Kv("name", Printable(name)) << Kv("reason", why.message());
        refused.push_back(name);
        continue;
      }
      if (seen.insert(*id).second) desc.names.push_back(*std::move(id));
    }
    for (int cap : hello.capabilities()) {
      auto type = static_cast<v1::ChallengeType>(cap);
      if (type == v1::CHALLENGE_TYPE_UNSPECIFIED || !v1::ChallengeType_IsValid(cap)) continue;
      if (std::find(desc.capabilities.begin(), desc.capabilities.end(), type) ==
          desc.capabilities.end()) {
        desc.capabilities.push_back(type);
      }
    }

    v1::ServerMessage welcome_message;
    v1::Welcome* welcome = welcome_message.mutable_welcome();
    welcome->set_agent_id(desc.agent_id);
    for (const auto& id : desc.names) welcome->add_accepted_names(id.value);
    for (const auto& name : refused) welcome->add_refused_names(name);
    welcome->set_heartbeat_interval_seconds(
        static_cast<int32_t>(absl::ToInt64Seconds(options_.heartbeat_interval)));

    std::shared_ptr<AgentConnection> replaced;
    {
      absl::MutexLock lock(&mu_);
      if (finish_requested_) return absl::OkStatus();
      description_ = std::move(desc);
      hello_done_ = true;
      // Register before queueing Welcome so an agent that saw Welcome is findable, and hold
      // mu_ so no Send can queue ahead of Welcome.
      replaced = service_->registry_->Register(shared_from_this());
      EnqueueLocked(std::move(welcome_message));
    }
    std::vector<std::string> caps;
    for (auto c : description_.capabilities) caps.push_back(ChallengeTypeName(c));
    std::vector<std::string> names;
    for (const auto& id : description_.names) names.push_back(id.value);
    CF_LOG(INFO) << "agent connected" << Kv("agent", description_.agent_id) << Kv("peer", peer_)
                 << Kv("version", Printable(description_.version))
                 << Kv("names", absl::StrJoin(names, ",")) << Kv("refused", refused.size())
                 << Kv("capabilities", absl::StrJoin(caps, ","))
                 << Kv("connection", connection_id_);
    if (replaced != nullptr) {
      replaced->Close(absl::AbortedError("replaced by a new connection"));
    }
    return absl::OkStatus();
  }

  void HandleAck(const v1::Ack& ack) {
    std::shared_ptr<AckWaiter> waiter;
    {
      absl::MutexLock lock(&mu_);
      auto it = pending_.find(ack.message_id());
      if (it != pending_.end()) {
        waiter = std::move(it->second);
        pending_.erase(it);
      }
    }
    if (waiter == nullptr) {
      CF_LOG(WARNING) << "ignoring Ack for a message this stream never sent (or already answered)"
                      << Kv("agent", description_.agent_id)
                      << Kv("message_id", Printable(ack.message_id()));
      return;
    }
    AckResult result;
    result.success = ack.success();
    result.reason = ack.reason();
    result.reload_exit_status = ack.reload_exit_status();
    result.install_path = ack.install_path();
    CF_LOG(DEBUG) << "agent acknowledged" << Kv("agent", description_.agent_id)
                  << Kv("message_id", ack.message_id()) << Kv("what", waiter->what())
                  << Kv("success", ack.success());
    waiter->Resolve(std::move(result));
  }

  void EnqueueLocked(v1::ServerMessage message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (write_in_flight_) {
      queue_.push_back(std::move(message));
    } else {
      WriteLocked(std::move(message));
    }
  }

  void WriteLocked(v1::ServerMessage message) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    writing_ = std::move(message);
    write_in_flight_ = true;
    StartWrite(&writing_);
  }

  void FinishLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(ToGrpc(finish_status_));
  }

  void LogClose(const absl::Status& status) {
    if (status.ok() || status.code() == absl::StatusCode::kCancelled) {
      CF_LOG(INFO) << "agent stream closed" << Kv("agent", Name()) << Kv("peer", peer_)
                   << Kv("status", status.ToString());
    } else {
      CF_LOG(WARNING) << "agent stream ended by server" << Kv("agent", Name()) << Kv("peer", peer_)
                      << Kv("status", status.ToString());
    }
  }

  AgentsService* const service_;
  const AgentsServiceOptions& options_;
  const std::string token_;  // never logged
  const std::string peer_;
  const uint64_t connection_id_;
  const absl::Time connect_time_;
  std::atomic<int64_t> last_seen_nanos_;
  std::atomic<bool> open_{true};
  std::atomic<bool> hello_done_{false};
  // Written once under mu_ before hello_done_ is set; read-only afterwards.
  AgentDescription description_;

  // Touched only by OnReadDone (one read in flight at a time).
  v1::AgentMessage request_;
  absl::Time window_start_ = absl::InfinitePast();
  int window_count_ = 0;

  absl::Mutex mu_;
  v1::ServerMessage writing_ ABSL_GUARDED_BY(mu_);
  std::deque<v1::ServerMessage> queue_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::shared_ptr<AckWaiter>> pending_ ABSL_GUARDED_BY(mu_);
  uint64_t next_message_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  bool finish_requested_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status finish_status_ ABSL_GUARDED_BY(mu_);
};

AgentsService::AgentsService(AgentRegistry* registry, AgentsServiceOptions options)
    : registry_(registry), options_(std::move(options)) {
  if (options_.idle_timeout > absl::ZeroDuration() ||
      options_.hello_timeout > absl::ZeroDuration()) {
    sweeper_ = std::thread([this] {
      for (;;) {
        {
          absl::MutexLock lock(&mu_);
          auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
          if (mu_.AwaitWithTimeout(absl::Condition(&stop), options_.sweep_interval)) return;
        }
        SweepIdle();
      }
    });
  }
}

AgentsService::~AgentsService() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (sweeper_.joinable()) sweeper_.join();
}

grpc::ServerBidiReactor<v1::AgentMessage, v1::ServerMessage>* AgentsService::Connect(
    grpc::CallbackServerContext* context) {
  std::shared_ptr<AgentStream> stream;
  {
    absl::MutexLock lock(&mu_);
    stream = std::make_shared<AgentStream>(this, context, next_connection_id_++);
    streams_.emplace(stream.get(), stream);
  }
  stream->Start();
  return stream.get();
}

std::shared_ptr<AgentStream> AgentsService::RemoveStream(AgentStream* stream) {
  absl::MutexLock lock(&mu_);
  auto it = streams_.find(stream);
  if (it == streams_.end()) return nullptr;
  std::shared_ptr<AgentStream> owned = std::move(it->second);
  streams_.erase(it);
  return owned;
}

size_t AgentsService::stream_count() const {
  absl::MutexLock lock(&mu_);
  return streams_.size();
}

bool AgentsService::WaitForStreamCount(size_t count, absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return streams_.size() == count; };
  return mu_.AwaitWithDeadline(absl::Condition(&reached), deadline);
}

int AgentsService::SweepIdle() {
  std::vector<std::shared_ptr<AgentStream>> streams;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [ptr, stream] : streams_) streams.push_back(stream);
  }
  absl::Time now = options_.clock->Now();
  int closed = 0;
  for (const auto& stream : streams) {
    if (!stream->IsOpen()) continue;
    if (!stream->hello_done()) {
      if (options_.hello_timeout > absl::ZeroDuration() &&
          now - stream->connect_time() > options_.hello_timeout) {
        stream->Close(absl::DeadlineExceededError(
            absl::StrCat("no Hello within ", absl::FormatDuration(options_.hello_timeout))));
        ++closed;
      }
    } else if (options_.idle_timeout > absl::ZeroDuration() &&
               now - stream->last_seen() > options_.idle_timeout) {
      stream->Close(absl::UnavailableError(absl::StrCat(
          "no message from agent for ", absl::FormatDuration(now - stream->last_seen()))));
      ++closed;
    }
  }
  return closed;
}

grpc::ServerUnaryReactor* AgentsService::ListAgents(grpc::CallbackServerContext* context,
                                                    const v1::ListAgentsRequest* /*request*/,
                                                    v1::ListAgentsResponse* response) {
  if (auto* rejected = api::RejectUnauthorized(options_.api_auth, context, "Agents.ListAgents")) {
    return rejected;
  }
  for (const auto& connection : registry_->All()) {
    const AgentDescription& desc = connection->description();
    v1::AgentInfo* info = response->add_agents();
    info->set_agent_id(desc.agent_id);
    for (const auto& id : desc.names) info->add_names(id.value);
    for (auto cap : desc.capabilities) info->add_capabilities(cap);
    info->set_version(desc.version);
    *info->mutable_connect_time() = ToTimestamp(desc.connect_time);
    *info->mutable_last_seen_time() = ToTimestamp(connection->last_seen());
    info->set_peer(desc.peer);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace certfleet::agents
