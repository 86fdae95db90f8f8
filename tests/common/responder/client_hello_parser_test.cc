#include "common/responder/client_hello_parser.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <random>
#include <string>
#include <vector>

#include "common/crypto/openssl_ptr.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace certfleet::responder {
namespace {

using crypto::UniquePtr;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Options for the OpenSSL client whose first flight is recorded.
struct HelloOptions {
  std::string sni;
  std::vector<std::string> alpn;
  int max_version = 0;
  size_t max_fragment = 0;  // 0: OpenSSL's default (16384).
};

// The bytes a real OpenSSL client sends first (its ClientHello records), captured through
// memory BIOs.
std::string RecordClientHello(const HelloOptions& o) {
  UniquePtr<SSL_CTX> ctx(SSL_CTX_new(TLS_client_method()));
  if (o.max_version != 0) SSL_CTX_set_max_proto_version(ctx.get(), o.max_version);
  if (o.max_fragment != 0) SSL_CTX_set_max_send_fragment(ctx.get(), o.max_fragment);
  UniquePtr<SSL> ssl(SSL_new(ctx.get()));
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl.get(), rbio, wbio);
  if (!o.sni.empty()) SSL_set_tlsext_host_name(ssl.get(), o.sni.c_str());
  if (!o.alpn.empty()) {
    std::string wire;
    for (const auto& p : o.alpn) wire += static_cast<char>(p.size()) + p;
    SSL_set_alpn_protos(ssl.get(), reinterpret_cast<const unsigned char*>(wire.data()),
                        wire.size());
  }
  EXPECT_EQ(SSL_connect(ssl.get()), -1);
  ERR_clear_error();
  char* data = nullptr;
  long len = BIO_get_mem_data(wbio, &data);
  return std::string(data, static_cast<size_t>(len));
}

// Parses `bytes` from an exactly-sized heap copy, so that ASan catches any over-read.
ClientHelloResult ParseExact(const std::string& bytes) {
  std::vector<char> copy(bytes.begin(), bytes.end());
  return ParseClientHello(std::string_view(copy.data(), copy.size()));
}

// Re-frames the handshake bytes inside `records` into records of at most `size` bytes.
std::string Refragment(const std::string& records, size_t size) {
  std::string handshake;
  size_t pos = 0;
  while (pos + 5 <= records.size()) {
    size_t len = (static_cast<uint8_t>(records[pos + 3]) << 8) | static_cast<uint8_t>(records[pos + 4]);
    handshake += records.substr(pos + 5, len);
    pos += 5 + len;
  }
  std::string out;
  for (size_t i = 0; i < handshake.size(); i += size) {
    std::string chunk = handshake.substr(i, size);
    out += std::string("\x16\x03\x01", 3);
    out.push_back(static_cast<char>(chunk.size() >> 8));
    out.push_back(static_cast<char>(chunk.size() & 0xff));
    out += chunk;
  }
  return out;
}

TEST(ClientHelloParserTest, ParsesARealOpenSslClientHello) {
  std::string hello = RecordClientHello({"www.Example.com", {"acme-tls/1"}});
  ClientHelloResult r = ParseExact(hello);
  ASSERT_EQ(r.state, ClientHelloState::kComplete) << r.error;
  EXPECT_TRUE(r.has_sni);
  EXPECT_EQ(r.sni, "www.Example.com");
  EXPECT_TRUE(r.has_alpn);
  EXPECT_THAT(r.alpn, ElementsAre("acme-tls/1"));
  EXPECT_TRUE(OffersAlpn(r, "acme-tls/1"));
  EXPECT_FALSE(OffersAlpn(r, "acme-tls"));
  // Every strict prefix is a valid beginning: read more.
  for (size_t n = 0; n < hello.size(); ++n) {
    ASSERT_EQ(ParseExact(hello.substr(0, n)).state, ClientHelloState::kNeedMore) << n;
  }
}

TEST(ClientHelloParserTest, AlpnOrderNoAlpnNoSniAndTls12) {
  ClientHelloResult r = ParseExact(RecordClientHello({"a.test", {"h2", "http/1.1"}}));
  ASSERT_EQ(r.state, ClientHelloState::kComplete) << r.error;
  EXPECT_THAT(r.alpn, ElementsAre("h2", "http/1.1"));
  EXPECT_FALSE(OffersAlpn(r, "acme-tls/1"));

  r = ParseExact(RecordClientHello({}));
  ASSERT_EQ(r.state, ClientHelloState::kComplete) << r.error;
  EXPECT_FALSE(r.has_sni);
  EXPECT_FALSE(r.has_alpn);
  EXPECT_THAT(r.sni, IsEmpty());
  EXPECT_THAT(r.alpn, IsEmpty());

  r = ParseExact(RecordClientHello({"old.test", {"acme-tls/1"}, TLS1_2_VERSION}));
  ASSERT_EQ(r.state, ClientHelloState::kComplete) << r.error;
  EXPECT_EQ(r.sni, "old.test");
  EXPECT_TRUE(OffersAlpn(r, "acme-tls/1"));
}

TEST(ClientHelloParserTest, ClientHelloSplitAcrossRecords) {
  // OpenSSL itself fragments a large ClientHello when its fragment size is small.
  std::vector<std::string> many;
  for (int i = 0; i < 200; ++i) many.push_back("proto-" + std::to_string(i));
  many.push_back("acme-tls/1");
  std::string big = RecordClientHello({"split.test", many, 0, 512});
  ASSERT_GT(big.size(), 2000u);
  ClientHelloResult r = ParseExact(big);
  ASSERT_EQ(r.state, ClientHelloState::kComplete) << r.error;
  EXPECT_EQ(r.sni, "split.test");
  EXPECT_EQ(r.alpn.size(), 201u);
  EXPECT_TRUE(OffersAlpn(r, "acme-tls/1"));

  // Tiny records, fed a byte at a time.
  std::string tiny = Refragment(RecordClientHello({"tiny.test", {"h2"}}), 7);
  for (size_t n = 0; n < tiny.size(); ++n) {
    ASSERT_EQ(ParseExact(tiny.substr(0, n)).state, ClientHelloState::kNeedMore) << n;
  }
  r = ParseExact(tiny);
  ASSERT_EQ(r.state, ClientHelloState::kComplete) << r.error;
  EXPECT_EQ(r.sni, "tiny.test");
  EXPECT_THAT(r.alpn, ElementsAre("h2"));
}

TEST(ClientHelloParserTest, RefusesNonTlsAndBadRecords) {
  ClientHelloResult r = ParseExact("GET / HTTP/1.1\r\n");
  EXPECT_EQ(r.state, ClientHelloState::kInvalid);
  EXPECT_THAT(r.error, HasSubstr("not a TLS handshake record"));
  // A single byte is enough to tell.
  EXPECT_EQ(ParseExact("G").state, ClientHelloState::kInvalid);
  EXPECT_THAT(ParseExact(std::string("\x16\x02", 2)).error, HasSubstr("not a TLS record version"));
  EXPECT_THAT(ParseExact(std::string("\x15\x03\x03\x00\x02\x02\x28", 7)).error,
              HasSubstr("not a TLS handshake record"));
  EXPECT_THAT(ParseExact(std::string("\x16\x03\x01\x00\x00", 5)).error,
              HasSubstr("bad TLS record length 0"));
  EXPECT_THAT(ParseExact(std::string("\x16\x03\x01\x40\x01", 5)).error,
              HasSubstr("bad TLS record length 16385"));
  // A ServerHello (type 2) is not a ClientHello.
  EXPECT_THAT(ParseExact(std::string("\x16\x03\x01\x00\x04\x02\x00\x00\x00", 9)).error,
              HasSubstr("not a ClientHello"));
  // A declared ClientHello larger than the limit is refused at once.
  r = ParseExact(std::string("\x16\x03\x01\x00\x04\x01\x00\x40\x00", 9));
  EXPECT_EQ(r.state, ClientHelloState::kInvalid);
  EXPECT_THAT(r.error, HasSubstr("exceeds the 16384-byte limit"));
  // A trickle of 1-byte records never gets past the limit.
  std::string trickle = std::string("\x16\x03\x01\x00\x04\x01\x00\x20\x00", 9);
  while (trickle.size() < kMaxClientHelloBytes) trickle += std::string("\x16\x03\x01\x00\x01\x00", 6);
  r = ParseExact(trickle);
  EXPECT_EQ(r.state, ClientHelloState::kInvalid);
  EXPECT_THAT(r.error, HasSubstr("no ClientHello within 16384 bytes"));
}

TEST(ClientHelloParserTest, RefusesBadExtensions) {
  std::string hello = RecordClientHello({"x.test", {"acme-tls/1"}});
  // Locate the ALPN protocol length byte (just before "acme-tls/1") and corrupt it.
  size_t at = hello.find("acme-tls/1");
  ASSERT_NE(at, std::string::npos);
  std::string bad = hello;
  bad[at - 1] = 0;  // Empty protocol name.
  ClientHelloResult r = ParseExact(bad);
  EXPECT_EQ(r.state, ClientHelloState::kInvalid);
  EXPECT_THAT(r.error, HasSubstr("bad ALPN extension"));
  bad = hello;
  bad[at - 1] = 100;  // Runs past the extension.
  EXPECT_THAT(ParseExact(bad).error, HasSubstr("bad ALPN extension"));
  // Empty SNI host_name.
  at = hello.find("x.test");
  ASSERT_NE(at, std::string::npos);
  bad = hello;
  bad[at - 1] = 0;
  EXPECT_THAT(ParseExact(bad).error, HasSubstr("server_name"));
}

TEST(ClientHelloParserTest, RandomTruncationsAndBitFlipsNeverCrash) {
  std::vector<std::string> seeds = {
      RecordClientHello({"fuzz.test", {"acme-tls/1"}}),
      RecordClientHello({"fuzz.test", {"h2", "http/1.1"}, TLS1_2_VERSION}),
      Refragment(RecordClientHello({"frag.test", {"acme-tls/1"}}), 50),
      RecordClientHello({}),
  };
  std::mt19937 rng(8737);
  int complete = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string input = seeds[i % seeds.size()];
    int flips = static_cast<int>(rng() % 4);
    for (int f = 0; f < flips; ++f) {
      size_t pos = rng() % input.size();
      input[pos] = static_cast<char>(input[pos] ^ (1u << (rng() % 8)));
    }
    if (rng() % 2 == 0) input.resize(rng() % (input.size() + 1));
    ClientHelloResult r = ParseExact(input);
    if (r.state == ClientHelloState::kComplete) {
      ++complete;
      EXPECT_LE(r.sni.size(), input.size());
      for (const auto& p : r.alpn) EXPECT_FALSE(p.empty());
    } else if (r.state == ClientHelloState::kInvalid) {
      EXPECT_FALSE(r.error.empty());
    }
  }
  EXPECT_GT(complete, 0);
  // Pure noise behind a valid-looking record header.
  for (int i = 0; i < 5000; ++i) {
    std::string input("\x16\x03\x01", 3);
    size_t len = rng() % 600;
    input.push_back(static_cast<char>(len >> 8));
    input.push_back(static_cast<char>(len & 0xff));
    input += std::string("\x01\x00", 2);
    while (input.size() < len + 5) input.push_back(static_cast<char>(rng()));
    ParseExact(input);
  }
}

TEST(ExtensionBodyTest, ParsesServerName) {
  std::string name;
  EXPECT_TRUE(ParseServerName(std::string("\x00\x06\x00\x00\x03" "a.b", 8), &name));
  EXPECT_EQ(name, "a.b");
  name.clear();
  EXPECT_FALSE(ParseServerName(std::string("\x00\x06\x00\x00\x04" "a.b", 8), &name));
  name.clear();
  EXPECT_FALSE(ParseServerName(std::string("\x00\x00", 2), &name));
  name.clear();
  EXPECT_FALSE(ParseServerName(std::string("\x00", 1), &name));
}

TEST(ExtensionBodyTest, ParsesAlpn) {
  std::vector<std::string> protos;
  EXPECT_TRUE(ParseAlpn(std::string("\x00\x06\x02h2\x02h3", 8), &protos));
  EXPECT_THAT(protos, ElementsAre("h2", "h3"));
  protos.clear();
  EXPECT_FALSE(ParseAlpn(std::string("\x00\x06\x02h2\x03h3", 8), &protos));
  protos.clear();
  EXPECT_FALSE(ParseAlpn(std::string("\x00\x03\x00h2", 5), &protos));
  protos.clear();
  EXPECT_FALSE(ParseAlpn(std::string("\x00\x00", 2), &protos));
}

}  // namespace
}  // namespace certfleet::responder
