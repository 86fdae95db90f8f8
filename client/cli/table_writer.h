#pragma once

// Aligned plain-text tables for the CLI's human-readable output.

#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace certfleet::cli {

// Collects rows and writes them as left-aligned columns separated by two spaces, with the
// headers first. Empty cells are shown as "-". Widths count UTF-8 code points.
class TableWriter {
 public:
  // Creates a table with these column headers (usually upper case).
  explicit TableWriter(std::vector<std::string> headers);

  // Appends a row; missing cells are empty, extra cells are dropped.
  void AddRow(std::vector<std::string> cells);

  // Writes the header line and every row, each ending in '\n', without trailing spaces.
  void Write(std::ostream& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Writes "Key:  value" lines with the values aligned, for a single object. Empty values are
// shown as "-".
void WriteKeyValues(const std::vector<std::pair<std::string, std::string>>& fields,
                    std::ostream& out);

}  // namespace certfleet::cli
