#include "common/responder/proxy_protocol.h"

#include <netinet/in.h>

#include <cstring>

namespace certfleet::responder {
namespace {

constexpr unsigned char kVersion2Proxy = 0x21;  // version 2, command PROXY
constexpr unsigned char kVersion2Local = 0x20;  // version 2, command LOCAL
constexpr unsigned char kTcp4 = 0x11;
constexpr unsigned char kTcp6 = 0x21;

// An address in the form the header carries: IPv4 (4 bytes) or IPv6 (16 bytes), and a port.
struct Endpoint {
  int family = AF_UNSPEC;
  unsigned char addr[16] = {};
  uint16_t port_be = 0;  // network order
};

Endpoint ToEndpoint(const sockaddr_storage& ss) {
  Endpoint e;
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    e.family = AF_INET;
    std::memcpy(e.addr, &a->sin_addr, 4);
    e.port_be = a->sin_port;
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    e.port_be = a->sin6_port;
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      e.family = AF_INET;
      std::memcpy(e.addr, reinterpret_cast<const unsigned char*>(&a->sin6_addr) + 12, 4);
    } else {
      e.family = AF_INET6;
      std::memcpy(e.addr, &a->sin6_addr, 16);
    }
  }
  return e;
}

}  // namespace

std::string ProxyV2Header(const sockaddr_storage& source, const sockaddr_storage& destination) {
  std::string out(kProxyV2Signature, kProxyV2SignatureSize);
  Endpoint src = ToEndpoint(source);
  Endpoint dst = ToEndpoint(destination);
  if (src.family == AF_UNSPEC || src.family != dst.family) {
    out.push_back(static_cast<char>(kVersion2Local));
    out.push_back(0);  // AF_UNSPEC, UNSPEC
    out.push_back(0);
    out.push_back(0);
    return out;
  }
  const size_t addr_len = src.family == AF_INET ? 4 : 16;
  const size_t body_len = 2 * addr_len + 4;
  out.push_back(static_cast<char>(kVersion2Proxy));
  out.push_back(static_cast<char>(src.family == AF_INET ? kTcp4 : kTcp6));
  out.push_back(static_cast<char>(body_len >> 8));
  out.push_back(static_cast<char>(body_len & 0xff));
  out.append(reinterpret_cast<const char*>(src.addr), addr_len);
  out.append(reinterpret_cast<const char*>(dst.addr), addr_len);
  out.append(reinterpret_cast<const char*>(&src.port_be), 2);
  out.append(reinterpret_cast<const char*>(&dst.port_be), 2);
  return out;
}

}  // namespace certfleet::responder
