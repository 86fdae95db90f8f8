#include "client/cli/connection.h"

#include <sys/stat.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/cli/command.h"

namespace certfleet::cli {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& flag) {
  struct stat st;
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read ", flag, " file ", path, ": not a regular file"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", flag, " file ", path));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Splits "HOST:PORT" / "[V6]:PORT" and returns the host; kInvalidArgument when malformed.
absl::StatusOr<std::string> HostOf(const std::string& server) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --server \"", server, "\": want HOST:PORT ([V6ADDR]:PORT for IPv6)"));
  };
  std::string host;
  std::string port;
  if (absl::StartsWith(server, "[")) {
    size_t close = server.find("]:");
    if (close == std::string::npos) return bad();
    host = server.substr(1, close - 1);
    port = server.substr(close + 2);
  } else {
    size_t colon = server.find(':');
    if (colon == std::string::npos || server.find(':', colon + 1) != std::string::npos) {
      return bad();
    }
    host = server.substr(0, colon);
    port = server.substr(colon + 1);
  }
  int port_number = 0;
  if (host.empty() || port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
      !absl::SimpleAtoi(port, &port_number) || port_number < 1 || port_number > 65535) {
    return bad();
  }
  return host;
}

bool IsLoopback(const std::string& host) {
  if (absl::EqualsIgnoreCase(host, "localhost") || host == "::1") return true;
  std::vector<std::string> octets = absl::StrSplit(host, '.');
  if (octets.size() != 4 || octets[0] != "127") return false;
  for (const std::string& octet : octets) {
    int value = 0;
    if (!absl::SimpleAtoi(octet, &value) || value < 0 || value > 255) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const GlobalOptions& options) {
  auto host = HostOf(options.server);
  if (!host.ok()) return host.status();
  if (!options.server_ca_file.empty() && options.insecure) {
    return absl::InvalidArgumentError("--server-ca and --insecure cannot be used together");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (!options.server_ca_file.empty()) {
    auto pem = ReadFile(options.server_ca_file, "--server-ca");
    if (!pem.ok()) return pem.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *std::move(pem);
    credentials = grpc::SslCredentials(ssl);
  } else if (options.insecure || IsLoopback(*host)) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing plaintext to non-loopback server ", options.server,
                     ": pass --server-ca PEM for TLS, or --insecure for plaintext"));
  }
  std::string token;
  if (!options.token_file.empty()) {
    auto contents = ReadFile(options.token_file, "--token-file");
    if (!contents.ok()) return contents.status();
    token = std::string(absl::StripAsciiWhitespace(*contents));
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-file ", options.token_file, " is empty"));
    }
    if (token.find_first_of("\r\n") != std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token-file ", options.token_file, " holds more than one line"));
    }
    // gRPC aborts the process on a header value with other bytes (and prints the value,
    // the secret, while doing so): refuse them here, without echoing the token.
    for (char c : token) {
      if (c < 0x21 || c > 0x7e) {
        return absl::InvalidArgumentError(absl::StrCat(
            "--token-file ", options.token_file, ": the token must be printable ASCII"));
      }
    }
  }
  return std::unique_ptr<Connection>(
      new Connection(grpc::CreateChannel(options.server, credentials), std::move(token)));
}

Connection::Connection(std::shared_ptr<grpc::Channel> channel, std::string token)
    : channel_(std::move(channel)), token_(std::move(token)) {}

void Connection::Configure(grpc::ClientContext& context,
                           std::optional<absl::Duration> timeout) const {
  if (timeout.has_value()) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + *timeout));
  }
  if (!token_.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token_));
}

bool Connection::IsConnected() const {
  return channel_->GetState(/*try_to_connect=*/false) == GRPC_CHANNEL_READY;
}

}  // namespace certfleet::cli
