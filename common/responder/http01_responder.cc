#include "common/responder/http01_responder.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/responder/listen_socket.h"
#include "common/status_macros.h"

namespace certfleet::responder {
namespace {

using internal::ScopedFd;
using Clock = std::chrono::steady_clock;

constexpr char kChallengePrefix[] = "/.well-known/acme-challenge/";
// A request must arrive whole within this time and size.
constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr size_t kMaxRequestBytes = 8192;
constexpr size_t kMaxConnections = 256;

bool IsBase64UrlToken(std::string_view token) {
  if (token.empty()) return false;
  return std::all_of(token.begin(), token.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

std::string Response(int status, const std::string& reason, const std::string& body,
                     bool include_body) {
  return absl::StrCat("HTTP/1.1 ", status, " ", reason,
                      "\r\nContent-Type: text/plain\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", include_body ? body : "");
}

class Http01ResponderImpl : public Http01Responder {
 public:
  Http01ResponderImpl(ScopedFd listen_fd, ScopedFd wake_fd, int port)
      : listen_fd_(std::move(listen_fd)), wake_fd_(std::move(wake_fd)), port_(port) {
    thread_ = std::thread([this] { Run(); });
  }

  ~Http01ResponderImpl() override { Stop(); }

  int port() const override { return port_; }

  absl::Status AddToken(std::string_view token, std::string_view key_authorization) override {
    if (!IsBase64UrlToken(token)) {
      return absl::InvalidArgumentError(
          absl::StrCat("http-01 token \"", std::string(token), "\" is not base64url"));
    }
    absl::MutexLock lock(&mu_);
    tokens_[std::string(token)] = std::string(key_authorization);
    return absl::OkStatus();
  }

  void RemoveToken(std::string_view token) override {
    absl::MutexLock lock(&mu_);
    tokens_.erase(std::string(token));
  }

  uint64_t ServedCount(std::string_view token) const override {
    absl::MutexLock lock(&mu_);
    auto it = served_.find(std::string(token));
    return it == served_.end() ? 0 : it->second;
  }

  void Stop() override {
    absl::MutexLock lock(&stop_mu_);
    internal::StopEventLoop(wake_fd_, thread_, listen_fd_);
  }

 private:
  struct Connection {
    ScopedFd fd;
    Clock::time_point deadline;
    std::string in;
    std::string out;
    size_t written = 0;
    bool responding = false;
    bool done = false;
  };

  // The response to one request head (everything before the blank line).
  std::string Answer(absl::string_view head) {
    absl::string_view line = head.substr(0, head.find("\r\n"));
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
      return Response(400, "Bad Request", "bad request\n", true);
    }
    bool head_only = parts[0] == "HEAD";
    if (parts[0] != "GET" && !head_only) {
      return Response(405, "Method Not Allowed", "method not allowed\n", true);
    }
    absl::string_view path = parts[1];
    if (absl::StartsWith(path, kChallengePrefix)) {
      std::string token(path.substr(sizeof(kChallengePrefix) - 1));
      absl::MutexLock lock(&mu_);
      auto it = tokens_.find(token);
      if (it != tokens_.end()) {
        ++served_[token];
        return Response(200, "OK", it->second, !head_only);
      }
    }
    return Response(404, "Not Found", "not found\n", !head_only);
  }

  void Run() {
    std::vector<std::unique_ptr<Connection>> conns;
    std::vector<pollfd> fds;
    while (true) {
      fds.clear();
      fds.push_back({wake_fd_.get(), POLLIN, 0});
      fds.push_back(
          {listen_fd_.get(), static_cast<short>(conns.size() < kMaxConnections ? POLLIN : 0), 0});
      for (const auto& c : conns) {
        fds.push_back({c->fd.get(), static_cast<short>(c->responding ? POLLOUT : POLLIN), 0});
      }
      int n = poll(fds.data(), fds.size(), internal::PollTimeoutMs(conns, Clock::now()));
      if (n < 0 && errno != EINTR) {
        CF_LOG(ERROR) << "http-01 responder: poll failed" << Kv("error", strerror(errno));
        break;
      }
      if (fds[0].revents != 0) break;  // Stop().
      auto now = Clock::now();
      for (size_t i = 0; i < conns.size(); ++i) {
        Connection& c = *conns[i];
        if (fds[i + 2].revents != 0) {
          Step(c);
        } else if (now >= c.deadline) {
          c.done = true;
        }
      }
      conns.erase(std::remove_if(conns.begin(), conns.end(),
                                 [](const std::unique_ptr<Connection>& c) { return c->done; }),
                  conns.end());
      while (fds[1].revents != 0 && conns.size() < kMaxConnections) {
        int fd = accept4(listen_fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        auto conn = std::make_unique<Connection>();
        conn->fd = ScopedFd(fd);
        conn->deadline = Clock::now() + kRequestTimeout;
        conns.push_back(std::move(conn));
      }
    }
  }

  // Reads the request or writes the response, as far as the socket allows.
  void Step(Connection& c) {
    if (!c.responding) {
      char buf[2048];
      while (true) {
        ssize_t n = recv(c.fd.get(), buf, sizeof(buf), 0);
        if (n > 0) {
          c.in.append(buf, static_cast<size_t>(n));
          size_t end = c.in.find("\r\n\r\n");
          if (end != std::string::npos) {
            c.out = Answer(absl::string_view(c.in).substr(0, end));
            c.responding = true;
            break;
          }
          if (c.in.size() > kMaxRequestBytes) {
            c.out = Response(431, "Request Header Fields Too Large", "request too large\n", true);
            c.responding = true;
            break;
          }
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0 && errno == EINTR) continue;
        c.done = true;  // EOF or error before a whole request.
        return;
      }
    }
    while (c.written < c.out.size()) {
      ssize_t n =
          send(c.fd.get(), c.out.data() + c.written, c.out.size() - c.written, MSG_NOSIGNAL);
      if (n > 0) {
        c.written += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      c.done = true;
      return;
    }
    shutdown(c.fd.get(), SHUT_WR);
    c.done = true;
  }

  ScopedFd listen_fd_;
  ScopedFd wake_fd_;
  const int port_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::string> tokens_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> served_ ABSL_GUARDED_BY(mu_);

  absl::Mutex stop_mu_;
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Http01Responder>> Http01Responder::Start(
    std::string_view listen_address) {
  int port = 0;
  ASSIGN_OR_RETURN(ScopedFd listen_fd, internal::BindListener(listen_address, &port));
  ScopedFd wake_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!wake_fd.valid()) {
    return absl::InternalError(absl::StrCat("http-01 responder: eventfd: ", strerror(errno)));
  }
  CF_LOG(INFO) << "http-01 responder listening" << Kv("address", std::string(listen_address))
               << Kv("port", port);
  return std::unique_ptr<Http01Responder>(
      new Http01ResponderImpl(std::move(listen_fd), std::move(wake_fd), port));
}

}  // namespace certfleet::responder
