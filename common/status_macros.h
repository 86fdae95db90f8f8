#pragma once

// RETURN_IF_ERROR / ASSIGN_OR_RETURN: Debian's abseil (20220623) ships neither.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define CERTFLEET_CONCAT_INNER_(a, b) a##b
#define CERTFLEET_CONCAT_(a, b) CERTFLEET_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing function
// when it is not OK.
#define RETURN_IF_ERROR(expr)                                   \
  do {                                                          \
    ::absl::Status certfleet_status_ = (expr);                  \
    if (!certfleet_status_.ok()) return certfleet_status_;      \
  } while (0)

// ASSIGN_OR_RETURN(lhs, expr): evaluates `expr` (an absl::StatusOr<T>); on error
// returns its status, otherwise moves the value into `lhs` (which may declare a
// variable, e.g. `auto key`).
#define ASSIGN_OR_RETURN(lhs, expr) \
  CERTFLEET_ASSIGN_OR_RETURN_IMPL_(CERTFLEET_CONCAT_(certfleet_statusor_, __LINE__), lhs, expr)

#define CERTFLEET_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                     \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = std::move(statusor).value()
