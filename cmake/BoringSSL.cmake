# Debian's android-libboringssl-dev: headers under /usr/include/android, the
# libraries under /usr/lib/<triplet>/android. Defines OpenSSL::Crypto and
# OpenSSL::SSL imported targets so the crypto module links the same way.
find_path(BORINGSSL_INCLUDE_DIR openssl/is_boringssl.h PATHS /usr/include/android NO_DEFAULT_PATH REQUIRED)
find_library(BORINGSSL_CRYPTO_LIBRARY crypto PATH_SUFFIXES android
  PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH REQUIRED)
find_library(BORINGSSL_SSL_LIBRARY ssl PATH_SUFFIXES android
  PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE} NO_DEFAULT_PATH REQUIRED)
add_library(OpenSSL::Crypto UNKNOWN IMPORTED)
set_target_properties(OpenSSL::Crypto PROPERTIES IMPORTED_LOCATION ${BORINGSSL_CRYPTO_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${BORINGSSL_INCLUDE_DIR})
add_library(OpenSSL::SSL UNKNOWN IMPORTED)
set_target_properties(OpenSSL::SSL PROPERTIES IMPORTED_LOCATION ${BORINGSSL_SSL_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${BORINGSSL_INCLUDE_DIR} INTERFACE_LINK_LIBRARIES OpenSSL::Crypto)
get_filename_component(BORINGSSL_LIB_DIR ${BORINGSSL_CRYPTO_LIBRARY} DIRECTORY)
set(CMAKE_BUILD_RPATH ${BORINGSSL_LIB_DIR})
message(STATUS "common/crypto against BoringSSL: ${BORINGSSL_CRYPTO_LIBRARY}")
