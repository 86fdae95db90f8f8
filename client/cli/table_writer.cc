#include "client/cli/table_writer.h"

#include <algorithm>

namespace certfleet::cli {
namespace {

// Counts UTF-8 code points (every byte that is not a continuation byte).
size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

const std::string& OrDash(const std::string& text) {
  static const std::string* const kDash = new std::string("-");
  return text.empty() ? *kDash : text;
}

}  // namespace

TableWriter::TableWriter(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void TableWriter::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void TableWriter::Write(std::ostream& out) const {
  std::vector<size_t> widths(headers_.size(), 0);
  for (size_t c = 0; c < headers_.size(); ++c) widths[c] = DisplayWidth(headers_[c]);
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(OrDash(row[c])));
    }
  }
  auto write_line = [&](const std::vector<std::string>& cells, bool dash_empty) {
    std::string line;
    for (size_t c = 0; c < cells.size(); ++c) {
      const std::string& cell = dash_empty ? OrDash(cells[c]) : cells[c];
      line += cell;
      if (c + 1 < cells.size()) line.append(widths[c] - DisplayWidth(cell) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  };
  write_line(headers_, false);
  for (const auto& row : rows_) write_line(row, true);
}

void WriteKeyValues(const std::vector<std::pair<std::string, std::string>>& fields,
                    std::ostream& out) {
  size_t width = 0;
  for (const auto& [key, value] : fields) width = std::max(width, DisplayWidth(key) + 1);
  for (const auto& [key, value] : fields) {
    out << key << ':' << std::string(width - DisplayWidth(key) - 1 + 2, ' ') << OrDash(value)
        << '\n';
  }
}

}  // namespace certfleet::cli
