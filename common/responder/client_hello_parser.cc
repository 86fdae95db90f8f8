#include "common/responder/client_hello_parser.h"

#include <algorithm>
#include <cstdint>

#include "absl/strings/str_cat.h"

namespace certfleet::responder {
namespace {

constexpr uint8_t kRecordHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr size_t kRecordHeader = 5;
// RFC 8446 5.1: a plaintext record carries at most 2^14 bytes.
constexpr size_t kMaxRecordPayload = 1 << 14;
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;

// Reads big-endian fields from a byte range; every read checks the remaining length.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}

  size_t remaining() const { return data_.size() - pos_; }
  bool U8(size_t* out) { return Int(1, out); }
  bool U16(size_t* out) { return Int(2, out); }
  bool U24(size_t* out) { return Int(3, out); }
  bool Bytes(size_t n, std::string_view* out) {
    if (n > remaining()) return false;
    *out = data_.substr(pos_, n);
    pos_ += n;
    return true;
  }
  bool Skip(size_t n) {
    std::string_view ignored;
    return Bytes(n, &ignored);
  }

 private:
  bool Int(size_t n, size_t* out) {
    if (n > remaining()) return false;
    size_t v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += n;
    *out = v;
    return true;
  }

  std::string_view data_;
  size_t pos_ = 0;
};

ClientHelloResult Invalid(std::string why) {
  ClientHelloResult r;
  r.state = ClientHelloState::kInvalid;
  r.error = std::move(why);
  return r;
}

}  // namespace

bool ParseServerName(std::string_view body, std::string* name) {
  Reader r(body);
  size_t list_len = 0;
  if (!r.U16(&list_len) || list_len != r.remaining() || list_len == 0) return false;
  while (r.remaining() > 0) {
    size_t type = 0, len = 0;
    std::string_view value;
    if (!r.U8(&type) || !r.U16(&len) || !r.Bytes(len, &value)) return false;
    if (type == 0) {
      if (value.empty() || !name->empty()) return false;  // One host_name at most.
      name->assign(value);
    }
  }
  return !name->empty();
}

bool ParseAlpn(std::string_view body, std::vector<std::string>* protos) {
  Reader r(body);
  size_t list_len = 0;
  if (!r.U16(&list_len) || list_len != r.remaining() || list_len == 0) return false;
  while (r.remaining() > 0) {
    size_t len = 0;
    std::string_view value;
    if (!r.U8(&len) || len == 0 || !r.Bytes(len, &value)) return false;
    protos->emplace_back(value);
  }
  return true;
}

namespace {

// The ClientHello body (after the 4-byte handshake header).
ClientHelloResult ParseBody(std::string_view body) {
  Reader r(body);
  size_t version = 0, session_len = 0, suites_len = 0, compression_len = 0;
  if (!r.U16(&version) || !r.Skip(32)) return Invalid("ClientHello truncated before random");
  if ((version >> 8) != 3) return Invalid(absl::StrCat("ClientHello version ", version));
  if (!r.U8(&session_len) || session_len > 32 || !r.Skip(session_len)) {
    return Invalid("bad ClientHello session id");
  }
  if (!r.U16(&suites_len) || suites_len < 2 || suites_len % 2 != 0 || !r.Skip(suites_len)) {
    return Invalid("bad ClientHello cipher suites");
  }
  if (!r.U8(&compression_len) || compression_len < 1 || !r.Skip(compression_len)) {
    return Invalid("bad ClientHello compression methods");
  }
  ClientHelloResult result;
  result.state = ClientHelloState::kComplete;
  if (r.remaining() == 0) return result;  // No extensions at all (old clients).
  size_t ext_len = 0;
  if (!r.U16(&ext_len) || ext_len != r.remaining()) {
    return Invalid("bad ClientHello extensions length");
  }
  while (r.remaining() > 0) {
    size_t type = 0, len = 0;
    std::string_view ext;
    if (!r.U16(&type) || !r.U16(&len) || !r.Bytes(len, &ext)) {
      return Invalid("truncated ClientHello extension");
    }
    if (type == kExtServerName) {
      if (result.has_sni) return Invalid("duplicate server_name extension");
      result.has_sni = true;
      if (!ParseServerName(ext, &result.sni)) return Invalid("bad server_name extension");
    } else if (type == kExtAlpn) {
      if (result.has_alpn) return Invalid("duplicate ALPN extension");
      result.has_alpn = true;
      if (!ParseAlpn(ext, &result.alpn)) return Invalid("bad ALPN extension");
    }
  }
  return result;
}

}  // namespace

ClientHelloResult ParseClientHello(std::string_view data) {
  // Reassemble the handshake bytes carried by the leading handshake records.
  std::string handshake;
  size_t pos = 0;
  size_t need = 0;  // Total handshake bytes wanted (header + body); 0 until known.
  while (true) {
    if (need != 0 && handshake.size() >= need) break;
    if (data.size() - pos < kRecordHeader) {
      if (data.size() >= kMaxClientHelloBytes) {
        return Invalid(absl::StrCat("no ClientHello within ", kMaxClientHelloBytes, " bytes"));
      }
      // Check what there is of the header, so that garbage is refused at once.
      if (pos < data.size() && static_cast<uint8_t>(data[pos]) != kRecordHandshake) {
        return Invalid("not a TLS handshake record");
      }
      if (pos + 1 < data.size() && static_cast<uint8_t>(data[pos + 1]) != 3) {
        return Invalid("not a TLS record version");
      }
      ClientHelloResult more;
      more.state = ClientHelloState::kNeedMore;
      return more;
    }
    Reader header(data.substr(pos, kRecordHeader));
    size_t type = 0, version = 0, length = 0;
    header.U8(&type);
    header.U16(&version);
    header.U16(&length);
    if (type != kRecordHandshake) return Invalid("not a TLS handshake record");
    if ((version >> 8) != 3) return Invalid("not a TLS record version");
    if (length == 0 || length > kMaxRecordPayload) {
      return Invalid(absl::StrCat("bad TLS record length ", length));
    }
    pos += kRecordHeader;
    size_t available = std::min(length, data.size() - pos);
    handshake.append(data.substr(pos, available));
    if (need == 0 && handshake.size() >= 4) {
      if (static_cast<uint8_t>(handshake[0]) != kHandshakeClientHello) {
        return Invalid("first handshake message is not a ClientHello");
      }
      size_t body_len = 0;
      Reader(std::string_view(handshake).substr(1, 3)).U24(&body_len);
      need = 4 + body_len;
      // Record headers come on top of the handshake bytes; bound the raw total.
      if (need + kRecordHeader > kMaxClientHelloBytes) {
        return Invalid(absl::StrCat("ClientHello of ", need, " bytes exceeds the ",
                                    kMaxClientHelloBytes, "-byte limit"));
      }
    }
    if (available < length) {
      if (need != 0 && handshake.size() >= need) break;  // Rest of record is not needed.
      if (data.size() >= kMaxClientHelloBytes) {
        return Invalid(absl::StrCat("no ClientHello within ", kMaxClientHelloBytes, " bytes"));
      }
      ClientHelloResult more;
      more.state = ClientHelloState::kNeedMore;
      return more;
    }
    pos += length;
  }
  if (handshake.size() > need) {
    // TLS forbids other handshake messages before the server's first flight.
    return Invalid("data after the ClientHello in its record");
  }
  return ParseBody(std::string_view(handshake).substr(4, need - 4));
}

bool OffersAlpn(const ClientHelloResult& hello, std::string_view proto) {
  return std::find(hello.alpn.begin(), hello.alpn.end(), proto) != hello.alpn.end();
}

}  // namespace certfleet::responder
