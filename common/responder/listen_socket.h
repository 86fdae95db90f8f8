#pragma once

// Internal to the responders: listen-address parsing, a listening socket, and an owned
// file descriptor. Header-only so the responder target needs no extra source.

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace certfleet::responder::internal {

// Owns one file descriptor; closes it on destruction.
class ScopedFd {
 public:
  ScopedFd() = default;
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(ScopedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ScopedFd& operator=(ScopedFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A parsed listen address: `host` empty means all addresses.
struct ListenAddress {
  std::string host;
  int port = 0;
};

// Parses "host:port", "[v6]:port" or ":port" (port 0..65535). InvalidArgument otherwise.
inline absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("listen address \"", std::string(text),
                                                   "\": ", std::string(why),
                                                   " (want host:port, [v6]:port or :port)"));
  };
  ListenAddress out;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return bad("missing ']'");
    out.host = std::string(text.substr(1, close - 1));
    if (out.host.empty()) return bad("empty IPv6 address");
    if (close + 1 >= text.size() || text[close + 1] != ':') return bad("missing :port");
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return bad("missing :port");
    out.host = std::string(text.substr(0, colon));
    if (out.host.find(':') != std::string::npos) return bad("IPv6 address needs brackets");
    port_text = text.substr(colon + 1);
  }
  int port = -1;
  if (port_text.empty() ||
      !absl::SimpleAtoi(absl::string_view(port_text.data(), port_text.size()), &port) || port < 0 ||
      port > 65535) {
    return bad("bad port");
  }
  out.port = port;
  return out;
}

// A socket address resolved from a host and a port.
struct ResolvedAddress {
  sockaddr_storage storage{};
  socklen_t len = 0;
  int family = AF_UNSPEC;
};

// Resolves `host` (numeric or a name; the first address wins) with `port` for a stream
// socket. InvalidArgument "cannot resolve host: REASON" otherwise.
inline absl::StatusOr<ResolvedAddress> ResolveAddress(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string port_text = std::to_string(port);
  int rc = getaddrinfo(host.c_str(), port_text.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("cannot resolve host: ", gai_strerror(rc)));
  }
  ResolvedAddress resolved;
  std::memcpy(&resolved.storage, res->ai_addr, res->ai_addrlen);
  resolved.len = res->ai_addrlen;
  resolved.family = res->ai_family;
  freeaddrinfo(res);
  return resolved;
}

// The poll(2) timeout of a responder's event loop: milliseconds until the earliest
// `deadline` among `conns` (pointers to connections), rounded up; -1 when there is none.
template <typename Connections, typename TimePoint>
int PollTimeoutMs(const Connections& conns, TimePoint now) {
  int timeout_ms = -1;
  for (const auto& c : conns) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(c->deadline - now);
    int ms = static_cast<int>(std::max<int64_t>(0, left.count()) + 1);
    timeout_ms = timeout_ms < 0 ? ms : std::min(timeout_ms, ms);
  }
  return timeout_ms;
}

// Stops a responder's event loop: wakes it through its eventfd `wake_fd`, joins `thread`
// and closes `listen_fd`. No-op when the thread does not run.
inline void StopEventLoop(const ScopedFd& wake_fd, std::thread& thread, ScopedFd& listen_fd) {
  if (!thread.joinable()) return;
  uint64_t one = 1;
  ssize_t ignored = write(wake_fd.get(), &one, sizeof(one));
  (void)ignored;
  thread.join();
  listen_fd.Reset();
}

// Binds and listens on `listen_address` (see ParseListenAddress; ":port" binds all IPv6 and
// IPv4 addresses, falling back to IPv4 only). The socket is non-blocking and close-on-exec.
// Sets `*port` to the bound port. Unavailable naming the address and errno's reason.
inline absl::StatusOr<ScopedFd> BindListener(std::string_view listen_address, int* port) {
  auto parsed = ParseListenAddress(listen_address);
  if (!parsed.ok()) return parsed.status();
  sockaddr_storage storage{};
  socklen_t addr_len = 0;
  int family = AF_INET6;
  bool dual_stack = false;
  if (parsed->host.empty()) {
    auto* a6 = reinterpret_cast<sockaddr_in6*>(&storage);
    a6->sin6_family = AF_INET6;
    a6->sin6_addr = in6addr_any;
    a6->sin6_port = htons(static_cast<uint16_t>(parsed->port));
    addr_len = sizeof(sockaddr_in6);
    dual_stack = true;
  } else {
    auto resolved = ResolveAddress(parsed->host, parsed->port);
    if (!resolved.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "listen address \"", std::string(listen_address), "\": ", resolved.status().message()));
    }
    storage = resolved->storage;
    addr_len = resolved->len;
    family = resolved->family;
  }

  auto fail = [&](const char* what) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", std::string(listen_address),
                                               ": ", what, ": ", strerror(errno)));
  };
  ScopedFd fd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd.valid() && dual_stack) {
    // No IPv6 on this host: all IPv4 addresses instead.
    auto* a4 = reinterpret_cast<sockaddr_in*>(&storage);
    storage = sockaddr_storage{};
    a4->sin_family = AF_INET;
    a4->sin_addr.s_addr = htonl(INADDR_ANY);
    a4->sin_port = htons(static_cast<uint16_t>(parsed->port));
    addr_len = sizeof(sockaddr_in);
    family = AF_INET;
    dual_stack = false;
    fd = ScopedFd(socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  }
  if (!fd.valid()) return fail("socket");
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (dual_stack) {
    int zero = 0;
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  }
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&storage), addr_len) != 0) return fail("bind");
  if (listen(fd.get(), 128) != 0) return fail("listen");
  sockaddr_storage bound{};
  socklen_t bound_len = sizeof(bound);
  if (getsockname(fd.get(), reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    return fail("getsockname");
  }
  *port = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                      : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return fd;
}

}  // namespace certfleet::responder::internal
