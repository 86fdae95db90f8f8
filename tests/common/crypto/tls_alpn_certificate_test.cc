#include "common/crypto/tls_alpn_certificate.h"

#include <openssl/objects.h>
#include <openssl/x509.h>

#include <cctype>
#include <string>

#include "common/crypto/key_authorization.h"
#include "common/crypto/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/crypto/test_util.h"

namespace certfleet::crypto {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::HexEncode;
using ::testing::IsEmpty;

std::string TestDigest() { return KeyAuthorizationDigest("token-abc.thumbprint-xyz"); }

// The bytes of the hex dump that `openssl x509 -text -certopt ext_dump` prints under the
// acmeIdentifier extension, as lower-case hex without separators.
std::string DumpedExtensionHex(const std::string& text) {
  size_t pos = text.find("1.3.6.1.5.5.7.1.31: critical");
  if (pos == std::string::npos) return "";
  std::string hex;
  size_t line_start = text.find('\n', pos) + 1;
  while (line_start < text.size()) {
    size_t line_end = text.find('\n', line_start);
    std::string line = text.substr(line_start, line_end - line_start);
    size_t dash = line.find(" - ");
    if (dash == std::string::npos) break;  // End of the dump.
    // "0000 - 04 20 ab cd ...-.. ..   ascii": bytes run until a double space.
    std::string bytes = line.substr(dash + 3);
    size_t ascii = bytes.find("  ");
    if (ascii != std::string::npos) bytes = bytes.substr(0, ascii);
    for (char c : bytes) {
      if (std::isxdigit(static_cast<unsigned char>(c))) {
        hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      }
    }
    line_start = line_end + 1;
  }
  return hex;
}

TEST(TlsAlpnCertificateTest, DnsCertificateCarriesCriticalAcmeIdentifier) {
  const std::string digest = TestDigest();
  absl::StatusOr<ChallengeCertificate> challenge =
      CreateTlsAlpnCertificate("www.example.com", /*is_ip=*/false, digest);
  ASSERT_TRUE(challenge.ok()) << challenge.status();

  testing::TempDir dir;
  std::string path = dir.Write("cert.pem", challenge->cert_pem);
  testing::CommandResult text =
      testing::RunCommand("openssl x509 -text -noout -certopt ext_dump -in " + path);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  EXPECT_THAT(text.output, HasSubstr("1.3.6.1.5.5.7.1.31: critical"));
  EXPECT_EQ(DumpedExtensionHex(text.output), "0420" + HexEncode(digest)) << text.output;
  EXPECT_THAT(text.output, HasSubstr("DNS:www.example.com"));

  // Parsed back with the library: critical, value 04 20 <digest>.
  X509* cert = challenge->cert.get();
  UniquePtr<ASN1_OBJECT> oid(OBJ_txt2obj(kAcmeIdentifierOid, 1));
  int index = X509_get_ext_by_OBJ(cert, oid.get(), -1);
  ASSERT_GE(index, 0);
  X509_EXTENSION* ext = X509_get_ext(cert, index);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  const ASN1_OCTET_STRING* value = X509_EXTENSION_get_data(ext);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                        static_cast<size_t>(ASN1_STRING_length(value))),
            std::string("\x04\x20", 2) + digest);
  EXPECT_EQ(X509_get_ext_by_OBJ(cert, oid.get(), index), -1);  // Exactly one.
}

TEST(TlsAlpnCertificateTest, DnsCertificateIsSelfSignedWithOneSan) {
  absl::StatusOr<ChallengeCertificate> challenge =
      CreateTlsAlpnCertificate("www.example.com", false, TestDigest());
  ASSERT_TRUE(challenge.ok()) << challenge.status();
  absl::StatusOr<Certificate> cert = Certificate::FromPem(challenge->cert_pem);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_THAT(cert->DnsNames(), ElementsAre("www.example.com"));
  EXPECT_THAT(cert->IpAddresses(), IsEmpty());
  EXPECT_TRUE(cert->MatchesKey(challenge->key));
  EXPECT_TRUE(cert->IsIssuedBy(*cert));
  EXPECT_EQ(challenge->key.type(), KeyType::kEcdsaP256);
  const absl::Time now = absl::Now();
  EXPECT_LT(cert->NotBefore(), now - absl::Hours(23));
  EXPECT_GT(cert->NotAfter(), now + absl::Hours(24 * 5));
  EXPECT_EQ(cert->NotAfter() - cert->NotBefore(), absl::Hours(24 * 7));
  EXPECT_EQ(X509_get_version(challenge->cert.get()), 2);  // v3.
}

TEST(TlsAlpnCertificateTest, IpCertificateHasOneIpSan) {
  const std::string digest = TestDigest();
  for (const std::string ip : {"192.0.2.5", "2001:db8::5"}) {
    absl::StatusOr<ChallengeCertificate> challenge = CreateTlsAlpnCertificate(ip, true, digest);
    ASSERT_TRUE(challenge.ok()) << challenge.status();
    absl::StatusOr<Certificate> cert = Certificate::FromPem(challenge->cert_pem);
    ASSERT_TRUE(cert.ok()) << cert.status();
    EXPECT_THAT(cert->IpAddresses(), ElementsAre(ip));
    EXPECT_THAT(cert->DnsNames(), IsEmpty());

    testing::TempDir dir;
    std::string path = dir.Write("cert.pem", challenge->cert_pem);
    testing::CommandResult text =
        testing::RunCommand("openssl x509 -text -noout -certopt ext_dump -in " + path);
    ASSERT_EQ(text.exit_code, 0) << text.output;
    EXPECT_THAT(text.output, HasSubstr("1.3.6.1.5.5.7.1.31: critical"));
    EXPECT_EQ(DumpedExtensionHex(text.output), "0420" + HexEncode(digest));
    EXPECT_THAT(text.output, HasSubstr("IP Address:"));
  }
}

TEST(TlsAlpnCertificateTest, EachCertificateHasAFreshKey) {
  absl::StatusOr<ChallengeCertificate> a = CreateTlsAlpnCertificate("a.test", false, TestDigest());
  absl::StatusOr<ChallengeCertificate> b = CreateTlsAlpnCertificate("a.test", false, TestDigest());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->key.PublicKeyPem(), b->key.PublicKeyPem());
}

TEST(TlsAlpnCertificateTest, RejectsWrongDigestLength) {
  absl::StatusOr<ChallengeCertificate> challenge =
      CreateTlsAlpnCertificate("www.example.com", false, std::string(31, 'x'));
  EXPECT_EQ(challenge.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(challenge.status().message()),
              HasSubstr("must be 32 bytes (SHA-256), got 31"));
}

TEST(TlsAlpnCertificateTest, RejectsBadIp) {
  absl::StatusOr<ChallengeCertificate> challenge =
      CreateTlsAlpnCertificate("www.example.com", /*is_ip=*/true, TestDigest());
  EXPECT_EQ(challenge.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(challenge.status().message()),
              HasSubstr("not an IP address: \"www.example.com\""));
}

}  // namespace
}  // namespace certfleet::crypto
