#include "common/crypto/jws.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <string>

#include "common/crypto/base64url.h"
#include "common/crypto/jwk.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/crypto/test_util.h"

namespace certfleet::crypto {
namespace {

using ::testing::HasSubstr;
using testing::TestKey;

std::string Decode(const nlohmann::json& value) {
  absl::StatusOr<std::string> decoded = Base64UrlDecode(value.get<std::string>());
  EXPECT_TRUE(decoded.ok()) << decoded.status();
  return decoded.ok() ? *decoded : "";
}

// Verifies `signature` over `input` with OpenSSL directly, independent of jws.cc: the public
// key comes from its PEM, and a raw ECDSA r||s signature is converted back to DER.
bool OpenSslVerifies(const PrivateKey& key, const std::string& input,
                     const std::string& signature) {
  std::string pem = key.PublicKeyPem();
  UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  UniquePtr<EVP_PKEY> pub(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  EXPECT_NE(pub, nullptr);
  if (pub == nullptr) return false;
  std::string sig = signature;
  const EVP_MD* md = EVP_sha256();
  if (EVP_PKEY_id(pub.get()) == EVP_PKEY_EC) {
    if (key.type() == KeyType::kEcdsaP384) md = EVP_sha384();
    const size_t half = sig.size() / 2;
    const auto* raw = reinterpret_cast<const uint8_t*>(sig.data());
    UniquePtr<ECDSA_SIG> ecdsa(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(raw, static_cast<int>(half), nullptr);
    BIGNUM* s = BN_bin2bn(raw + half, static_cast<int>(half), nullptr);
    EXPECT_EQ(ECDSA_SIG_set0(ecdsa.get(), r, s), 1);
    uint8_t* der = nullptr;
    int der_len = i2d_ECDSA_SIG(ecdsa.get(), &der);
    EXPECT_GT(der_len, 0);
    sig.assign(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
    OPENSSL_free(der);
  }
  UniquePtr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  EXPECT_EQ(EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pub.get()), 1);
  int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const uint8_t*>(sig.data()), sig.size(),
                            reinterpret_cast<const uint8_t*>(input.data()), input.size());
  ERR_clear_error();
  return rc == 1;
}

TEST(JwsAlgorithmTest, NamesPerKeyType) {
  EXPECT_EQ(JwsAlgorithm(KeyType::kEcdsaP256), "ES256");
  EXPECT_EQ(JwsAlgorithm(KeyType::kEcdsaP384), "ES384");
  EXPECT_EQ(JwsAlgorithm(KeyType::kRsa2048), "RS256");
  EXPECT_EQ(JwsAlgorithm(KeyType::kRsa3072), "RS256");
  EXPECT_EQ(JwsAlgorithm(KeyType::kRsa4096), "RS256");
}

class JwsTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(JwsTest, JwkSignedJwsVerifiesWithOpenSsl) {
  const PrivateKey& key = TestKey(GetParam());
  const std::string payload = R"({"termsOfServiceAgreed":true})";
  absl::StatusOr<nlohmann::json> jws =
      SignJws(key, {"https://ca.test/acme/new-account", "nonce-123", ""}, payload);
  ASSERT_TRUE(jws.ok()) << jws.status();

  ASSERT_EQ(jws->size(), 3u) << jws->dump();
  nlohmann::json header = nlohmann::json::parse(Decode((*jws)["protected"]));
  EXPECT_EQ(header.size(), 4u) << header.dump();
  EXPECT_EQ(header["alg"], JwsAlgorithm(GetParam()));
  EXPECT_EQ(header["nonce"], "nonce-123");
  EXPECT_EQ(header["url"], "https://ca.test/acme/new-account");
  EXPECT_EQ(header["jwk"], PublicJwk(key));
  EXPECT_FALSE(header.contains("kid"));
  EXPECT_EQ(Decode((*jws)["payload"]), payload);

  std::string signature = Decode((*jws)["signature"]);
  switch (GetParam()) {
    case KeyType::kEcdsaP256:
      EXPECT_EQ(signature.size(), 64u);
      break;
    case KeyType::kEcdsaP384:
      EXPECT_EQ(signature.size(), 96u);
      break;
    default:  // RSA: the modulus size.
      EXPECT_EQ(static_cast<int>(signature.size() * 8), EVP_PKEY_bits(key.get()));
  }
  const std::string input =
      (*jws)["protected"].get<std::string>() + "." + (*jws)["payload"].get<std::string>();
  EXPECT_TRUE(OpenSslVerifies(key, input, signature));
  EXPECT_FALSE(OpenSslVerifies(key, input + "x", signature));
}

TEST_P(JwsTest, KidSignedPostAsGet) {
  const PrivateKey& key = TestKey(GetParam());
  absl::StatusOr<nlohmann::json> jws =
      SignJws(key, {"https://ca.test/acme/order/1", "n2", "https://ca.test/acme/acct/7"}, "");
  ASSERT_TRUE(jws.ok()) << jws.status();
  EXPECT_EQ((*jws)["payload"], "");
  nlohmann::json header = nlohmann::json::parse(Decode((*jws)["protected"]));
  EXPECT_EQ(header["kid"], "https://ca.test/acme/acct/7");
  EXPECT_FALSE(header.contains("jwk"));
  EXPECT_TRUE(OpenSslVerifies(key, (*jws)["protected"].get<std::string>() + ".",
                              Decode((*jws)["signature"])));

  absl::StatusOr<nlohmann::json> verified = VerifyJws(key, *jws);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(*verified, header);
}

TEST_P(JwsTest, VerifyJwsRejectsTamperedPayload) {
  const PrivateKey& key = TestKey(GetParam());
  absl::StatusOr<nlohmann::json> jws = SignJws(key, {"https://ca.test/x", "n", ""}, "{}");
  ASSERT_TRUE(jws.ok()) << jws.status();
  (*jws)["payload"] = Base64UrlEncode("{\"evil\":1}");
  absl::StatusOr<nlohmann::json> verified = VerifyJws(key, *jws);
  EXPECT_EQ(verified.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(verified.status().message()), HasSubstr("signature does not verify"));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, JwsTest, ::testing::ValuesIn(testing::kAllKeyTypes));

TEST(JwsTest, OmitsEmptyNonce) {
  absl::StatusOr<nlohmann::json> jws =
      SignJws(TestKey(KeyType::kEcdsaP256), {"https://ca.test/key-change", "", ""}, "{}");
  ASSERT_TRUE(jws.ok()) << jws.status();
  nlohmann::json header = nlohmann::json::parse(Decode((*jws)["protected"]));
  EXPECT_FALSE(header.contains("nonce"));
}

TEST(JwsTest, RequiresUrl) {
  absl::StatusOr<nlohmann::json> jws = SignJws(TestKey(KeyType::kEcdsaP256), {"", "n", ""}, "");
  EXPECT_EQ(jws.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(jws.status().message()), HasSubstr("needs a url"));
}

TEST(JwsTest, VerifyJwsRejectsOtherKey) {
  const PrivateKey& key = TestKey(KeyType::kEcdsaP256);
  absl::StatusOr<PrivateKey> other = PrivateKey::Generate(KeyType::kEcdsaP256);
  ASSERT_TRUE(other.ok());
  absl::StatusOr<nlohmann::json> jws = SignJws(key, {"https://ca.test/x", "n", ""}, "{}");
  ASSERT_TRUE(jws.ok());
  absl::StatusOr<nlohmann::json> verified = VerifyJws(*other, *jws);
  EXPECT_EQ(verified.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(verified.status().message()), HasSubstr("signature does not verify"));
}

TEST(JwsTest, VerifyJwsRejectsAlgorithmMismatch) {
  absl::StatusOr<nlohmann::json> jws =
      SignJws(TestKey(KeyType::kEcdsaP256), {"https://ca.test/x", "n", ""}, "{}");
  ASSERT_TRUE(jws.ok());
  absl::StatusOr<nlohmann::json> verified = VerifyJws(TestKey(KeyType::kRsa2048), *jws);
  EXPECT_EQ(verified.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(verified.status().message()), HasSubstr("JWS alg is not RS256"));
}

TEST(JwsTest, VerifyJwsRejectsMalformedJws) {
  absl::StatusOr<nlohmann::json> verified =
      VerifyJws(TestKey(KeyType::kEcdsaP256), nlohmann::json{{"protected", "e30"}});
  EXPECT_EQ(verified.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(verified.status().message()),
              HasSubstr("lacks string member \"payload\""));
}

// RFC 8555 7.3.4 external account binding.
class ExternalAccountBindingTest : public ::testing::Test {
 protected:
  static std::string HmacSha256(const std::string& key, const std::string& data) {
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EXPECT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                   reinterpret_cast<const uint8_t*>(data.data()), data.size(), mac, &len),
              nullptr);
    return std::string(reinterpret_cast<char*>(mac), len);
  }

  const std::string hmac_key_ = "a secret HMAC key shared with the CA, 32+ bytes";
};

TEST_F(ExternalAccountBindingTest, VerifiesWithHmacKeyOnly) {
  const PrivateKey& account_key = TestKey(KeyType::kEcdsaP256);
  absl::StatusOr<nlohmann::json> eab = SignExternalAccountBinding(
      account_key, "kid-1", Base64UrlEncode(hmac_key_), "https://ca.test/acme/new-account");
  ASSERT_TRUE(eab.ok()) << eab.status();

  nlohmann::json header = nlohmann::json::parse(Decode((*eab)["protected"]));
  EXPECT_EQ(header,
            (nlohmann::json{
                {"alg", "HS256"}, {"kid", "kid-1"}, {"url", "https://ca.test/acme/new-account"}}));
  EXPECT_EQ(nlohmann::json::parse(Decode((*eab)["payload"])), PublicJwk(account_key));

  const std::string input =
      (*eab)["protected"].get<std::string>() + "." + (*eab)["payload"].get<std::string>();
  const std::string signature = Decode((*eab)["signature"]);
  EXPECT_EQ(signature.size(), 32u);
  EXPECT_EQ(signature, HmacSha256(hmac_key_, input));
  EXPECT_NE(signature, HmacSha256("another key", input));
}

TEST_F(ExternalAccountBindingTest, RejectsKeyThatIsNotBase64Url) {
  absl::StatusOr<nlohmann::json> eab = SignExternalAccountBinding(
      TestKey(KeyType::kEcdsaP256), "kid-1", "not+base64/url", "https://ca.test/acme/new-account");
  EXPECT_EQ(eab.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(eab.status().message()), HasSubstr("EAB HMAC key is not base64url"));
}

TEST_F(ExternalAccountBindingTest, RejectsEmptyKey) {
  absl::StatusOr<nlohmann::json> eab = SignExternalAccountBinding(
      TestKey(KeyType::kEcdsaP256), "kid-1", "", "https://ca.test/acme/new-account");
  EXPECT_EQ(eab.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(eab.status().message()), HasSubstr("EAB HMAC key is empty"));
}

}  // namespace
}  // namespace certfleet::crypto
