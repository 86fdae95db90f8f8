#pragma once

// Reading back what was written to a memory BIO. Internal to common/crypto.

#include <openssl/bio.h>

#include <string>

namespace certfleet::crypto::internal {

// A copy of the bytes held by the memory BIO `bio` (not consumed); "" when it is empty or
// not a memory BIO. `bio` stays owned by the caller.
inline std::string BioContents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);  // NOLINT(runtime/int): the library's type.
  if (len <= 0 || data == nullptr) return "";
  return std::string(data, static_cast<size_t>(len));
}

}  // namespace certfleet::crypto::internal
