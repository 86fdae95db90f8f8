#pragma once

// Crash-safe file replacement: write a temp file in the target's directory, fsync it,
// rename it over the target, fsync the directory.

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace certfleet::agent {

// Replaces `path` with `content` and permission bits `mode` (umask not applied).
// Readers see the old or the new file, never a partial one. Internal (with errno's
// reason and the path) on any I/O failure; the temp file is removed then.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content,
                                 mode_t mode);

// Reads a whole file. NotFound when it does not exist, Internal on other errors.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Reads `path` when it exists: nullopt when absent, an error for anything else.
absl::StatusOr<std::optional<std::string>> ReadFileIfExists(const std::string& path);

// Removes `path` when present (absent is OK) and fsyncs its directory.
absl::Status RemoveFileDurably(const std::string& path);

// Creates `path` and any missing parents with `mode` (like mkdir -p). OK when it exists
// as a directory; FailedPrecondition when it exists as something else.
absl::Status MakeDirectories(const std::string& path, mode_t mode);

// fsyncs a directory so renames and unlinks in it are durable.
absl::Status SyncDirectory(const std::string& dir);

}  // namespace certfleet::agent
