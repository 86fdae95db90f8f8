# Warnings applied to certfleet's own targets only (not generated code).
function(certfleet_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-unused-parameter)
endfunction()

# certfleet_library(NAME SOURCES ... DEPS ...)
# A static library of our own code with our warnings and the repository root
# on the include path, so headers are included as "common/crypto/jws.h".
function(certfleet_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  certfleet_warnings(${name})
endfunction()

# certfleet_test(NAME SOURCES ... DEPS ... [LABELS ...] [TIMEOUT s])
# Builds one GoogleTest binary and registers it with CTest. Integration and
# end-to-end tests carry the label "integration" so they can be run apart.
function(certfleet_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest GTest::gtest_main)
  certfleet_warnings(${name})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "CERTFLEET_BUILD_DIR=${PROJECT_BINARY_DIR};CERTFLEET_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(CERTFLEET_SANITIZE)
    # Third-party-only leak suppressions (see the file); spawned binaries inherit them.
    set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT
      "LSAN_OPTIONS=suppressions=${PROJECT_SOURCE_DIR}/tests/lsan_suppressions.txt:print_suppressions=0")
  endif()
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
endfunction()
