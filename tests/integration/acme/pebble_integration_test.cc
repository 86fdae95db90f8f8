// The ACME engine against a real Pebble CA (tests/support/pebble_fixture.h). A local
// ChallengeSolver loads each challenge into a TlsAlpnResponder / Http01Responder whose
// ports Pebble validates against. One Pebble per fixture class.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/crypto/key.h"
#include "common/crypto/x509.h"
#include "common/identifiers/identifier.h"
#include "common/responder/http01_responder.h"
#include "common/responder/tls_alpn_responder.h"
#include "server/acme/account.h"
#include "server/acme/acme_client.h"
#include "server/acme/certificate.h"
#include "server/acme/curl_http_transport.h"
#include "server/acme/order.h"
#include "server/acme/order_driver.h"
#include "server/acme/problem.h"
#include "tests/support/pebble_fixture.h"

namespace certfleet::acme {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;
using certfleet::testing::PebbleFixture;
using certfleet::testing::PebbleOptions;

// Answers challenges with the local responders; counts what the engine asked for.
class LocalSolver : public ChallengeSolver {
 public:
  LocalSolver(responder::TlsAlpnResponder* alpn, responder::Http01Responder* http)
      : alpn_(alpn), http_(http) {}

  absl::Status CanSolve(const identifiers::Identifier& id, const std::string& type) override {
    if (type == kTlsAlpn01 || type == kHttp01) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat("cannot answer ", type, " for ", id.value));
  }
  absl::Status Present(const ChallengeTask& task, absl::Time) override {
    ++presents;
    std::string ka = wrong_key_authorization ? task.token + ".not-the-thumbprint"
                                             : task.key_authorization;
    bool is_ip = task.identifier.type == identifiers::IdentifierType::kIp;
    if (task.type == kTlsAlpn01) return alpn_->AddChallenge(task.identifier.value, is_ip, ka);
    if (task.type == kHttp01) return http_->AddToken(task.token, ka);
    return absl::FailedPreconditionError("unsupported type");
  }
  void CleanUp(const ChallengeTask& task) override {
    ++cleanups;
    bool is_ip = task.identifier.type == identifiers::IdentifierType::kIp;
    if (task.type == kTlsAlpn01) alpn_->RemoveChallenge(task.identifier.value, is_ip);
    if (task.type == kHttp01) http_->RemoveToken(task.token);
  }

  std::atomic<int> presents{0};
  std::atomic<int> cleanups{0};
  bool wrong_key_authorization = false;

 private:
  responder::TlsAlpnResponder* alpn_;
  responder::Http01Responder* http_;
};

class MemorySink : public ProgressSink {
 public:
  absl::Status Save(const OrderProgress& p) override {
    steps.push_back(p.step);
    last = p;
    return absl::OkStatus();
  }
  std::vector<std::string> steps;
  OrderProgress last;
};

// Responders + Pebble + one curl transport, shared by a fixture class.
struct PebbleEnv {
  std::unique_ptr<responder::TlsAlpnResponder> alpn;
  std::unique_ptr<responder::Http01Responder> http;
  std::unique_ptr<PebbleFixture> pebble;
  std::shared_ptr<CurlHttpTransport> transport;

  static std::unique_ptr<PebbleEnv> Start(PebbleOptions options) {
    auto env = std::make_unique<PebbleEnv>();
    auto alpn = responder::TlsAlpnResponder::Start("127.0.0.1:0");
    EXPECT_TRUE(alpn.ok()) << alpn.status();
    if (!alpn.ok()) return nullptr;
    auto http = responder::Http01Responder::Start("127.0.0.1:0");
    EXPECT_TRUE(http.ok()) << http.status();
    if (!http.ok()) return nullptr;
    env->alpn = *std::move(alpn);
    env->http = *std::move(http);
    options.tls_port = env->alpn->port();
    options.http_port = env->http->port();
    auto pebble = PebbleFixture::Start(options);
    EXPECT_TRUE(pebble.ok()) << pebble.status();
    if (!pebble.ok()) return nullptr;
    env->pebble = *std::move(pebble);
    CurlTransportOptions topts;
    topts.ca_bundle_path = env->pebble->ca_bundle_path();
    topts.no_proxy = "*";
    topts.total_timeout = absl::Seconds(30);
    env->transport = std::make_shared<CurlHttpTransport>(topts);
    return env;
  }

  std::unique_ptr<AcmeClient> NewClient(int nonce_attempts = 10) {
    AcmeClientOptions options;
    options.directory_url = pebble->directory_url();
    options.max_nonce_attempts = nonce_attempts;
    return std::make_unique<AcmeClient>(transport, options);
  }

  // A client with a fresh P-256 key and a registered account.
  std::unique_ptr<AcmeClient> NewAccount(int nonce_attempts = 10) {
    auto client = NewClient(nonce_attempts);
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
    EXPECT_TRUE(key.ok()) << key.status();
    client->SetAccountKey(*std::move(key));
    AccountOptions account;
    account.contact = {"mailto:ops@example.com"};
    account.terms_of_service_agreed = true;
    auto registered = RegisterAccount(*client, account);
    EXPECT_TRUE(registered.ok()) << registered.status();
    return client;
  }

  LocalSolver MakeSolver() { return LocalSolver(alpn.get(), http.get()); }

  absl::StatusOr<crypto::Certificate> Root(int index) {
    auto pem = pebble->ManagementGet(absl::StrCat("/roots/", index));
    if (!pem.ok()) return pem.status();
    return crypto::Certificate::FromPem(*pem);
  }
};

std::vector<identifiers::Identifier> Ids(const std::vector<std::string>& names) {
  auto ids = identifiers::NormalizeIdentifiers(names);
  EXPECT_TRUE(ids.ok()) << ids.status();
  return ids.ok() ? *ids : std::vector<identifiers::Identifier>{};
}

absl::StatusOr<IssuedCertificate> Issue(AcmeClient& client, ChallengeSolver& solver,
                                        const std::vector<std::string>& names,
                                        std::vector<std::string> preference = {},
                                        std::string preferred_chain = "",
                                        crypto::PrivateKey* key_out = nullptr) {
  auto cert_key = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256);
  if (!cert_key.ok()) return cert_key.status();
  OrderRequest request;
  request.identifiers = Ids(names);
  request.challenge_preference = std::move(preference);
  request.preferred_chain = std::move(preferred_chain);
  request.issuance_id = "test";
  request.deadline = absl::Now() + absl::Seconds(90);
  OrderDriverOptions options;
  options.initial_poll_interval = absl::Milliseconds(50);
  options.max_poll_interval = absl::Milliseconds(500);
  OrderDriver driver(&client, options);
  OrderProgress progress;
  MemorySink sink;
  auto issued = driver.Run(request, *cert_key, &progress, &sink, &solver);
  if (issued.ok()) {
    EXPECT_EQ(progress.step, kStepDone);
    EXPECT_TRUE(progress.finalize_sent);
  }
  if (key_out != nullptr) *key_out = *std::move(cert_key);
  return issued;
}

// Chain verifies to `root` and the leaf's SANs are exactly `names`.
void ExpectGoodChain(const IssuedCertificate& issued, const crypto::Certificate& root,
                     const std::vector<std::string>& names) {
  auto chain = crypto::ParsePemChain(issued.chain_pem);
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_TRUE(crypto::VerifyChain(*chain, root).ok()) << crypto::VerifyChain(*chain, root);
  std::vector<std::string> sans = chain->front().DnsNames();
  for (const auto& ip : chain->front().IpAddresses()) sans.push_back(ip);
  EXPECT_THAT(sans, UnorderedElementsAreArray(names));
  EXPECT_EQ(issued.leaf_serial_hex, chain->front().SerialHex());
  EXPECT_LT(issued.not_before, issued.not_after);
}

// ---------------------------------------------------------------------------------------
// Default Pebble (plus two alternate roots and a blocklisted name).

class AcmePebbleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    PebbleOptions options;
    options.env["PEBBLE_ALTERNATE_ROOTS"] = "2";
    options.domain_blocklist = {"blocked.example.net"};
    env_ = PebbleEnv::Start(options).release();
  }
  static void TearDownTestSuite() {
    delete env_;
    env_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(env_, nullptr) << "Pebble did not start"; }

  static PebbleEnv* env_;
};
PebbleEnv* AcmePebbleTest::env_ = nullptr;

TEST_F(AcmePebbleTest, TlsAlpnOneName) {
  auto client = env_->NewAccount();
  LocalSolver solver = env_->MakeSolver();
  auto issued = Issue(*client, solver, {"one.example.com"});
  ASSERT_TRUE(issued.ok()) << issued.status();
  ExpectGoodChain(*issued, *env_->Root(0), {"one.example.com"});
  EXPECT_EQ(solver.presents, 1);
  EXPECT_EQ(solver.cleanups, 1);
  EXPECT_GE(env_->alpn->ServedCount("one.example.com", false), 1u);
}

TEST_F(AcmePebbleTest, TlsAlpnFiveNames) {
  auto client = env_->NewAccount();
  LocalSolver solver = env_->MakeSolver();
  std::vector<std::string> names = {"a.five.example.com", "b.five.example.com",
                                    "c.five.example.com", "d.five.example.com",
                                    "e.five.example.com"};
  auto issued = Issue(*client, solver, names);
  ASSERT_TRUE(issued.ok()) << issued.status();
  ExpectGoodChain(*issued, *env_->Root(0), names);
  EXPECT_EQ(solver.presents, 5);
  EXPECT_EQ(solver.cleanups, 5);
}

TEST_F(AcmePebbleTest, TlsAlpnIpv4Identifier) {
  auto client = env_->NewAccount();
  LocalSolver solver = env_->MakeSolver();
  auto issued = Issue(*client, solver, {"127.0.0.1"});
  ASSERT_TRUE(issued.ok()) << issued.status();
  ExpectGoodChain(*issued, *env_->Root(0), {"127.0.0.1"});
  EXPECT_GE(env_->alpn->ServedCount("127.0.0.1", true), 1u);
}

TEST_F(AcmePebbleTest, Http01) {
  auto client = env_->NewAccount();
  LocalSolver solver = env_->MakeSolver();
  auto issued = Issue(*client, solver, {"http.example.com"}, {"http-01"});
  ASSERT_TRUE(issued.ok()) << issued.status();
  ExpectGoodChain(*issued, *env_->Root(0), {"http.example.com"});
  EXPECT_EQ(solver.presents, 1);
  EXPECT_EQ(env_->alpn->ServedCount("http.example.com", false), 0u);
}

TEST_F(AcmePebbleTest, RevokedCertificateShowsRevoked) {
  auto client = env_->NewAccount();
  LocalSolver solver = env_->MakeSolver();
  auto issued = Issue(*client, solver, {"revoke.example.com"});
  ASSERT_TRUE(issued.ok()) << issued.status();
  auto leaf = crypto::Certificate::FromPem(issued->chain_pem);
  ASSERT_TRUE(leaf.ok());
  ASSERT_TRUE(RevokeCertificate(*client, leaf->ToDer(), /*keyCompromise=*/1).ok());
  auto status = env_->pebble->ManagementGet("/cert-status-by-serial/" + leaf->SerialHex());
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_THAT(*status, HasSubstr("Revoked"));
  // Revoking again: the CA says alreadyRevoked.
  absl::Status again = RevokeCertificate(*client, leaf->ToDer(), 1);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_THAT(std::string(again.message()), HasSubstr("alreadyRevoked"));
}

TEST_F(AcmePebbleTest, PreferredChainIsTheOneReturned) {
  auto root2 = env_->Root(2);
  ASSERT_TRUE(root2.ok()) << root2.status();
  std::string preferred = root2->SubjectCommonName();
  auto root0 = env_->Root(0);
  ASSERT_TRUE(root0.ok());
  ASSERT_NE(preferred, root0->SubjectCommonName());
  auto client = env_->NewAccount();
  LocalSolver solver = env_->MakeSolver();
  auto issued = Issue(*client, solver, {"chain.example.com"}, {}, preferred);
  ASSERT_TRUE(issued.ok()) << issued.status();
  auto chain = crypto::ParsePemChain(issued->chain_pem);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ(chain->back().IssuerCommonName(), preferred);
  ExpectGoodChain(*issued, *root2, {"chain.example.com"});
  // Without a preference the default chain (root 0) comes back.
  auto plain = Issue(*client, solver, {"chain2.example.com"});
  ASSERT_TRUE(plain.ok()) << plain.status();
  ExpectGoodChain(*plain, *root0, {"chain2.example.com"});
}

TEST_F(AcmePebbleTest, BlocklistedNameIsRejected) {
  auto client = env_->NewAccount();
  LocalSolver solver = env_->MakeSolver();
  auto issued = Issue(*client, solver, {"ok.example.com", "blocked.example.net"});
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kInvalidArgument) << issued.status();
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("blocked.example.net"));
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("rejectedIdentifier"));
  EXPECT_EQ(solver.presents, 0);
}

TEST_F(AcmePebbleTest, WrongChallengeAnswerFailsWithTheCasDetail) {
  auto client = env_->NewAccount();
  LocalSolver solver = env_->MakeSolver();
  solver.wrong_key_authorization = true;
  auto issued = Issue(*client, solver, {"wrong.example.com"});
  EXPECT_EQ(issued.status().code(), absl::StatusCode::kAborted) << issued.status();
  EXPECT_THAT(std::string(issued.status().message()),
              HasSubstr("authorization for wrong.example.com is invalid: tls-alpn-01: "
                        "unauthorized:"));
  EXPECT_THAT(std::string(issued.status().message()), HasSubstr("Incorrect validation certificate"));
  EXPECT_EQ(solver.presents, 1);
  EXPECT_EQ(solver.cleanups, 1);
}

TEST_F(AcmePebbleTest, KeyRolloverAndDeactivation) {
  auto client = env_->NewAccount();
  std::string account_url = client->account_url();
  auto old_key_pem = client->account_key()->ToPem();
  auto new_key = crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP384);
  ASSERT_TRUE(new_key.ok());
  std::string new_key_pem = new_key->ToPem();
  ASSERT_TRUE(ChangeAccountKey(*client, *std::move(new_key)).ok());
  ASSERT_TRUE(FetchAccount(*client).ok());

  // The old key no longer finds the account...
  auto old_client = env_->NewClient();
  old_client->SetAccountKey(*crypto::PrivateKey::FromPem(old_key_pem));
  auto old_lookup = LookUpAccount(*old_client);
  EXPECT_EQ(old_lookup.status().code(), absl::StatusCode::kNotFound) << old_lookup.status();
  EXPECT_THAT(std::string(old_lookup.status().message()), HasSubstr("accountDoesNotExist"));
  // ...the new one does.
  auto new_client = env_->NewClient();
  new_client->SetAccountKey(*crypto::PrivateKey::FromPem(new_key_pem));
  auto new_lookup = LookUpAccount(*new_client);
  ASSERT_TRUE(new_lookup.ok()) << new_lookup.status();
  EXPECT_EQ(new_lookup->url, account_url);

  // The rolled-over account still issues.
  LocalSolver solver = env_->MakeSolver();
  ASSERT_TRUE(Issue(*new_client, solver, {"rolled.example.com"}).ok());

  auto deactivated = DeactivateAccount(*new_client);
  ASSERT_TRUE(deactivated.ok()) << deactivated.status();
  EXPECT_EQ(deactivated->status, "deactivated");
  auto refused = NewOrder(*new_client, Ids({"after.example.com"}), "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_THAT(std::string(refused.status().message()), HasSubstr("unauthorized"));
}

// ---------------------------------------------------------------------------------------

class AcmePebbleNonceRejectTest : public AcmePebbleTest {
 protected:
  static void SetUpTestSuite() {
    PebbleOptions options;
    options.env["PEBBLE_WFE_NONCEREJECT"] = "50";
    env_ = PebbleEnv::Start(options).release();
  }
};

TEST_F(AcmePebbleNonceRejectTest, TwentyIssuancesInARow) {
  // Half the nonces are refused: at 30 attempts per request a request fails with
  // probability 2^-30, so the run is deterministic in practice.
  auto client = env_->NewAccount(/*nonce_attempts=*/30);
  auto root = env_->Root(0);
  ASSERT_TRUE(root.ok());
  for (int i = 0; i < 20; ++i) {
    LocalSolver solver = env_->MakeSolver();
    std::string name = absl::StrCat("n", i, ".nonce.example.com");
    auto issued = Issue(*client, solver, {name});
    ASSERT_TRUE(issued.ok()) << i << ": " << issued.status();
    ExpectGoodChain(*issued, *root, {name});
  }
}

class AcmePebbleAuthzReuseTest : public AcmePebbleTest {
 protected:
  static void SetUpTestSuite() {
    PebbleOptions options;
    options.env["PEBBLE_AUTHZREUSE"] = "100";
    env_ = PebbleEnv::Start(options).release();
  }
};

TEST_F(AcmePebbleAuthzReuseTest, SecondOrderPresentsNoChallenge) {
  auto client = env_->NewAccount();
  LocalSolver first = env_->MakeSolver();
  ASSERT_TRUE(Issue(*client, first, {"reuse.example.com"}).ok());
  EXPECT_EQ(first.presents, 1);
  LocalSolver second = env_->MakeSolver();
  auto issued = Issue(*client, second, {"reuse.example.com"});
  ASSERT_TRUE(issued.ok()) << issued.status();
  EXPECT_EQ(second.presents, 0);
  ExpectGoodChain(*issued, *env_->Root(0), {"reuse.example.com"});
}

class AcmePebbleEabTest : public AcmePebbleTest {
 protected:
  static void SetUpTestSuite() {
    PebbleOptions options;
    options.require_eab = true;
    env_ = PebbleEnv::Start(options).release();
  }
  std::unique_ptr<AcmeClient> ClientWithKey() {
    auto client = env_->NewClient();
    client->SetAccountKey(*crypto::PrivateKey::Generate(crypto::KeyType::kEcdsaP256));
    return client;
  }
};

TEST_F(AcmePebbleEabTest, DirectorySaysEabRequired) {
  auto client = env_->NewClient();
  auto dir = client->GetDirectory();
  ASSERT_TRUE(dir.ok()) << dir.status();
  EXPECT_TRUE(dir->meta.external_account_required);
}

TEST_F(AcmePebbleEabTest, RightKeyCreatesTheAccount) {
  auto client = ClientWithKey();
  AccountOptions options;
  options.terms_of_service_agreed = true;
  options.eab_kid = PebbleFixture::kEabKid1;
  options.eab_hmac_key = PebbleFixture::kEabHmac1;
  auto account = RegisterAccount(*client, options);
  ASSERT_TRUE(account.ok()) << account.status();
  EXPECT_EQ(account->status, "valid");
  EXPECT_EQ(client->account_url(), account->url);
}

TEST_F(AcmePebbleEabTest, WrongKeyFailsClearly) {
  auto client = ClientWithKey();
  AccountOptions options;
  options.terms_of_service_agreed = true;
  options.eab_kid = PebbleFixture::kEabKid1;
  options.eab_hmac_key = "c29tZS1vdGhlci1obWFjLWtleS10aGF0LWlzLWxvbmctZW5vdWdoLXRvLXBhc3M";
  auto account = RegisterAccount(*client, options);
  EXPECT_EQ(account.status().code(), absl::StatusCode::kPermissionDenied) << account.status();
  EXPECT_THAT(std::string(account.status().message()),
              HasSubstr("newAccount: unauthorized: external account binding"));
  EXPECT_EQ(ProblemTypeOf(account.status()), "urn:ietf:params:acme:error:unauthorized");
  EXPECT_TRUE(client->account_url().empty());
}

TEST_F(AcmePebbleEabTest, MissingEabIsFailedPrecondition) {
  auto client = ClientWithKey();
  AccountOptions options;
  options.terms_of_service_agreed = true;
  auto account = RegisterAccount(*client, options);
  EXPECT_EQ(account.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(account.status().message()),
              HasSubstr("requires external account binding"));
}

}  // namespace
}  // namespace certfleet::acme
