#include "common/crypto/key.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/bio_contents.h"
#include "common/crypto/openssl_error.h"

namespace certfleet::crypto {
namespace {

using internal::BioContents;

constexpr KeyType kAllTypes[] = {KeyType::kEcdsaP256, KeyType::kEcdsaP384, KeyType::kRsa2048,
                                 KeyType::kRsa3072, KeyType::kRsa4096};

// The NID of the named curve of an EC key, NID_undef when it has none.
int CurveNid(EVP_PKEY* pkey) {
#if defined(OPENSSL_IS_BORINGSSL)
  const EC_KEY* ec = EVP_PKEY_get0_EC_KEY(pkey);
  if (ec == nullptr) return NID_undef;
  return EC_GROUP_get_curve_name(EC_KEY_get0_group(ec));
#else
  char name[80];
  size_t len = 0;
  if (EVP_PKEY_get_group_name(pkey, name, sizeof(name), &len) != 1) return NID_undef;
  int nid = OBJ_sn2nid(name);
  if (nid == NID_undef) nid = EC_curve_nist2nid(name);
  return nid;
#endif
}

// Classifies a parsed key; InvalidArgument for anything ACME use here does not support.
absl::StatusOr<KeyType> TypeOf(EVP_PKEY* pkey) {
  switch (EVP_PKEY_id(pkey)) {
    case EVP_PKEY_EC: {
      int nid = CurveNid(pkey);
      if (nid == NID_X9_62_prime256v1) return KeyType::kEcdsaP256;
      if (nid == NID_secp384r1) return KeyType::kEcdsaP384;
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported EC curve: ", nid == NID_undef ? "unknown" : OBJ_nid2sn(nid),
                       " (P-256 and P-384 are supported)"));
    }
    case EVP_PKEY_RSA: {
      int bits = EVP_PKEY_bits(pkey);
      if (bits == 2048) return KeyType::kRsa2048;
      if (bits == 3072) return KeyType::kRsa3072;
      if (bits == 4096) return KeyType::kRsa4096;
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported RSA key size ", bits, " (2048, 3072, 4096 are supported)"));
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unsupported key algorithm (id ", EVP_PKEY_id(pkey), ")"));
  }
}

// Never prompt for a passphrase: encrypted keys simply fail to parse.
int NoPassword(char* /*buf*/, int /*size*/, int /*rwflag*/, void* /*userdata*/) { return 0; }

}  // namespace

std::string_view KeyTypeName(KeyType type) {
  switch (type) {
    case KeyType::kEcdsaP256:
      return "ecdsa-p256";
    case KeyType::kEcdsaP384:
      return "ecdsa-p384";
    case KeyType::kRsa2048:
      return "rsa2048";
    case KeyType::kRsa3072:
      return "rsa3072";
    case KeyType::kRsa4096:
      return "rsa4096";
  }
  return "unknown";
}

absl::StatusOr<KeyType> ParseKeyType(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(std::string(name));
  for (KeyType type : kAllTypes) {
    if (lower == KeyTypeName(type)) return type;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown key type \"", std::string(name),
                   "\"; expected one of ecdsa-p256, ecdsa-p384, rsa2048, rsa3072, rsa4096"));
}

absl::StatusOr<PrivateKey> PrivateKey::Generate(KeyType type) {
  const bool is_ec = type == KeyType::kEcdsaP256 || type == KeyType::kEcdsaP384;
  UniquePtr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_id(is_ec ? EVP_PKEY_EC : EVP_PKEY_RSA, nullptr));
  if (ctx == nullptr) return OpenSslInternal("EVP_PKEY_CTX_new_id");
  if (EVP_PKEY_keygen_init(ctx.get()) != 1) return OpenSslInternal("EVP_PKEY_keygen_init");
  switch (type) {
    case KeyType::kEcdsaP256:
    case KeyType::kEcdsaP384:
      if (EVP_PKEY_CTX_set_ec_paramgen_curve_nid(
              ctx.get(), type == KeyType::kEcdsaP256 ? NID_X9_62_prime256v1 : NID_secp384r1) <= 0) {
        return OpenSslInternal("EVP_PKEY_CTX_set_ec_paramgen_curve_nid");
      }
      break;
    case KeyType::kRsa2048:
    case KeyType::kRsa3072:
    case KeyType::kRsa4096: {
      int bits = type == KeyType::kRsa2048 ? 2048 : type == KeyType::kRsa3072 ? 3072 : 4096;
      if (EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) <= 0) {
        return OpenSslInternal("EVP_PKEY_CTX_set_rsa_keygen_bits");
      }
      break;
    }
  }
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) != 1 || raw == nullptr) {
    return OpenSslInternal(absl::StrCat("generating ", std::string(KeyTypeName(type)), " key"));
  }
  return PrivateKey(UniquePtr<EVP_PKEY>(raw), type);
}

absl::StatusOr<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  UniquePtr<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return OpenSslInternal("BIO_new_mem_buf");
  UniquePtr<EVP_PKEY> pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "private key PEM does not parse");
  }
  absl::StatusOr<KeyType> type = TypeOf(pkey.get());
  if (!type.ok()) return type.status();
  return PrivateKey(std::move(pkey), *type);
}

std::string PrivateKey::ToPem() const {
  UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey_.get(), nullptr, nullptr, 0,
                                                      nullptr, nullptr) != 1) {
    ERR_clear_error();
    return "";
  }
  return BioContents(bio.get());
}

std::string PrivateKey::PublicKeyPem() const {
  UniquePtr<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), pkey_.get()) != 1) {
    ERR_clear_error();
    return "";
  }
  return BioContents(bio.get());
}

}  // namespace certfleet::crypto
