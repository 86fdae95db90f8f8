#pragma once

// PROXY protocol version 2 (haproxy.org/download/2.9/doc/proxy-protocol.txt) headers that the
// tls-alpn-01 responder's passthrough mode puts in front of forwarded connections so that the
// backend (Apache mod_remoteip `RemoteIPProxyProtocol On`) sees the real client address.

#include <sys/socket.h>

#include <string>

namespace certfleet::responder {

// The 12-byte signature every v2 header starts with.
inline constexpr char kProxyV2Signature[] = "\r\n\r\n\0\r\nQUIT\n";
inline constexpr size_t kProxyV2SignatureSize = 12;

// A PROXY v2 "PROXY" command header for a TCP connection from `source` to `destination`
// (the address the client connected to). IPv4-mapped IPv6 addresses are sent as TCP4. When
// the families differ or are neither IPv4 nor IPv6, a "LOCAL" header (no address) instead.
std::string ProxyV2Header(const sockaddr_storage& source, const sockaddr_storage& destination);

}  // namespace certfleet::responder
