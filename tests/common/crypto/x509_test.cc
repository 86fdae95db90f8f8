#include "common/crypto/x509.h"

#include <ctime>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/crypto/test_util.h"

namespace certfleet::crypto {
namespace {

using testing::CertSpec;
using testing::CertToPem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeCert;

PrivateKey NewKey() {
  absl::StatusOr<PrivateKey> key = PrivateKey::Generate(KeyType::kEcdsaP256);
  EXPECT_TRUE(key.ok()) << key.status();
  return *std::move(key);
}

Certificate Parse(X509* x509) {
  absl::StatusOr<Certificate> cert = Certificate::FromPem(CertToPem(x509));
  EXPECT_TRUE(cert.ok()) << cert.status();
  return *std::move(cert);
}

// root -> intermediate -> leaf, built in-test with OpenSSL APIs.
class X509ChainTest : public ::testing::Test {
 protected:
  X509ChainTest()
      : root_key_(NewKey()),
        intermediate_key_(NewKey()),
        leaf_key_(NewKey()),
        now_(std::time(nullptr)) {
    CertSpec root_spec;
    root_spec.common_name = "Test Root";
    root_spec.is_ca = true;
    root_ = MakeCert(root_spec, root_key_, nullptr, root_key_);
    CertSpec intermediate_spec;
    intermediate_spec.common_name = "Test Intermediate";
    intermediate_spec.is_ca = true;
    intermediate_spec.serial = 2;
    intermediate_ = MakeCert(intermediate_spec, intermediate_key_, root_.get(), root_key_);
    leaf_spec_.common_name = "www.example.com";
    leaf_spec_.serial = 0x0123AB;
    leaf_spec_.not_before = now_ - 3600;
    leaf_spec_.not_after = now_ + 90 * 86400;
    leaf_spec_.san = "DNS:www.example.com,DNS:example.com,IP:192.0.2.7,IP:2001:db8::1";
    leaf_ = MakeCert(leaf_spec_, leaf_key_, intermediate_.get(), intermediate_key_);
  }

  std::string ChainPem() const { return CertToPem(leaf_.get()) + CertToPem(intermediate_.get()); }

  PrivateKey root_key_, intermediate_key_, leaf_key_;
  time_t now_;
  CertSpec leaf_spec_;
  UniquePtr<X509> root_, intermediate_, leaf_;
};

TEST_F(X509ChainTest, ReadsLeafFields) {
  Certificate leaf = Parse(leaf_.get());
  EXPECT_EQ(leaf.SerialHex(), "0123AB");
  EXPECT_EQ(leaf.Subject(), "CN=www.example.com,O=Certfleet Test");
  EXPECT_EQ(leaf.Issuer(), "CN=Test Intermediate,O=Certfleet Test");
  EXPECT_EQ(leaf.SubjectCommonName(), "www.example.com");
  EXPECT_EQ(leaf.IssuerCommonName(), "Test Intermediate");
  EXPECT_THAT(leaf.DnsNames(), ElementsAre("www.example.com", "example.com"));
  EXPECT_THAT(leaf.IpAddresses(), ElementsAre("192.0.2.7", "2001:db8::1"));
  EXPECT_EQ(leaf.NotBefore(), absl::FromUnixSeconds(now_ - 3600));
  EXPECT_EQ(leaf.NotAfter(), absl::FromUnixSeconds(now_ + 90 * 86400));
}

TEST_F(X509ChainTest, SerialHexKeepsWholeBytes) {
  CertSpec spec;
  spec.common_name = "small serial";
  spec.serial = 5;
  EXPECT_EQ(Parse(MakeCert(spec, leaf_key_, nullptr, leaf_key_).get()).SerialHex(), "05");
  spec.serial = 0x80;  // DER adds a 00 sign byte; it is not shown.
  EXPECT_EQ(Parse(MakeCert(spec, leaf_key_, nullptr, leaf_key_).get()).SerialHex(), "80");
}

TEST_F(X509ChainTest, MatchesOnlyItsOwnKey) {
  Certificate leaf = Parse(leaf_.get());
  EXPECT_TRUE(leaf.MatchesKey(leaf_key_));
  EXPECT_FALSE(leaf.MatchesKey(intermediate_key_));
  EXPECT_FALSE(leaf.MatchesKey(testing::TestKey(KeyType::kRsa2048)));
}

TEST_F(X509ChainTest, PemAndDerRoundTrip) {
  Certificate leaf = Parse(leaf_.get());
  EXPECT_EQ(leaf.ToPem(), CertToPem(leaf_.get()));
  absl::StatusOr<Certificate> from_der = Certificate::FromDer(leaf.ToDer());
  ASSERT_TRUE(from_der.ok()) << from_der.status();
  EXPECT_EQ(from_der->ToPem(), leaf.ToPem());
}

TEST_F(X509ChainTest, FromDerRejectsTrailingData) {
  absl::StatusOr<Certificate> cert = Certificate::FromDer(Parse(leaf_.get()).ToDer() + "x");
  EXPECT_EQ(cert.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cert.status().message()), HasSubstr("trailing data"));
}

TEST_F(X509ChainTest, FromPemRejectsGarbage) {
  absl::StatusOr<Certificate> cert = Certificate::FromPem("hello");
  EXPECT_EQ(cert.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cert.status().message()), HasSubstr("certificate PEM does not parse"));
}

TEST_F(X509ChainTest, ParsesPemChainInOrder) {
  absl::StatusOr<std::vector<Certificate>> chain = ParsePemChain(ChainPem());
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[0].SubjectCommonName(), "www.example.com");
  EXPECT_EQ((*chain)[1].SubjectCommonName(), "Test Intermediate");
  EXPECT_TRUE((*chain)[0].IsIssuedBy((*chain)[1]));
  EXPECT_FALSE((*chain)[1].IsIssuedBy((*chain)[0]));
}

TEST_F(X509ChainTest, ParsePemChainRejectsEmptyText) {
  absl::StatusOr<std::vector<Certificate>> chain = ParsePemChain("no certificates here\n");
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(chain.status().message()), HasSubstr("no certificate"));
}

TEST_F(X509ChainTest, ParsePemChainRejectsCorruptBlock) {
  std::string pem =
      CertToPem(leaf_.get()) + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  absl::StatusOr<std::vector<Certificate>> chain = ParsePemChain(pem);
  EXPECT_EQ(chain.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(chain.status().message()), HasSubstr("certificate 1 in the PEM chain"));
}

TEST_F(X509ChainTest, CheckChainOrderAcceptsLeafFirst) {
  std::vector<Certificate> chain;
  chain.push_back(Parse(leaf_.get()));
  chain.push_back(Parse(intermediate_.get()));
  chain.push_back(Parse(root_.get()));
  EXPECT_TRUE(CheckChainOrder(chain).ok()) << CheckChainOrder(chain);
}

TEST_F(X509ChainTest, CheckChainOrderNamesBrokenLink) {
  std::vector<Certificate> chain;
  chain.push_back(Parse(leaf_.get()));
  chain.push_back(Parse(root_.get()));
  absl::Status status = CheckChainOrder(chain);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("certificate 0 (CN=www.example.com,O=Certfleet Test) "
                        "is not issued by certificate 1 (CN=Test Root"));
}

TEST_F(X509ChainTest, IsIssuedByChecksSignatureNotJustName) {
  // Same subject name as the intermediate, different key.
  PrivateKey impostor_key = NewKey();
  CertSpec spec;
  spec.common_name = "Test Intermediate";
  spec.is_ca = true;
  UniquePtr<X509> impostor = MakeCert(spec, impostor_key, root_.get(), root_key_);
  EXPECT_FALSE(Parse(leaf_.get()).IsIssuedBy(Parse(impostor.get())));
}

TEST_F(X509ChainTest, VerifyChainAcceptsValidChain) {
  absl::StatusOr<std::vector<Certificate>> chain = ParsePemChain(ChainPem());
  ASSERT_TRUE(chain.ok());
  absl::Status status = VerifyChain(*chain, Parse(root_.get()));
  EXPECT_TRUE(status.ok()) << status;
}

TEST_F(X509ChainTest, VerifyChainRejectsMissingIntermediate) {
  std::vector<Certificate> chain;
  chain.push_back(Parse(leaf_.get()));
  absl::Status status = VerifyChain(chain, Parse(root_.get()));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("unable to get local issuer certificate"));
}

TEST_F(X509ChainTest, VerifyChainRejectsOtherRoot) {
  PrivateKey other_key = NewKey();
  CertSpec spec;
  spec.common_name = "Other Root";
  spec.is_ca = true;
  UniquePtr<X509> other_root = MakeCert(spec, other_key, nullptr, other_key);
  absl::StatusOr<std::vector<Certificate>> chain = ParsePemChain(ChainPem());
  ASSERT_TRUE(chain.ok());
  absl::Status status = VerifyChain(*chain, Parse(other_root.get()));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("certificate chain does not verify: unable to get local "
                        "issuer certificate"));
}

TEST_F(X509ChainTest, VerifyChainRejectsExpiredLeaf) {
  CertSpec spec = leaf_spec_;
  spec.not_before = now_ - 10 * 86400;
  spec.not_after = now_ - 86400;
  UniquePtr<X509> expired = MakeCert(spec, leaf_key_, intermediate_.get(), intermediate_key_);
  std::vector<Certificate> chain;
  chain.push_back(Parse(expired.get()));
  chain.push_back(Parse(intermediate_.get()));
  absl::Status status = VerifyChain(chain, Parse(root_.get()));
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(status.message()), HasSubstr("certificate has expired"));
}

TEST(X509Test, EmptyChainIsInvalid) {
  EXPECT_EQ(CheckChainOrder({}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(CheckChainOrder({}).message()), HasSubstr("empty certificate chain"));
}

}  // namespace
}  // namespace certfleet::crypto
