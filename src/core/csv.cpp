#include "core/csv.h"

namespace celmatch {

namespace {

bool StartsLikeFormula(std::string_view v) {
  if (v.empty()) return false;
  switch (v.front()) {
    case '=': case '+': case '-': case '@': case '\t': case '\r': case '\'':
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string CsvField(std::string_view value, bool guard_formula) {
  std::string v;
  if (guard_formula && StartsLikeFormula(value)) v.push_back('\'');
  v.append(value);
  if (v.find_first_of(",\"\r\n") == std::string::npos) return v;
  std::string q = "\"";
  for (char c : v) {
    if (c == '"') q += "\"\"";
    else q.push_back(c);
  }
  q.push_back('"');
  return q;
}

std::string CsvRow(const std::vector<std::string>& fields, bool guard_formula) {
  std::string row;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i) row.push_back(',');
    row += CsvField(fields[i], guard_formula);
  }
  row.push_back('\n');
  return row;
}

std::string UnguardCsvField(std::string_view value) {
  if (!value.empty() && value.front() == '\'') value.remove_prefix(1);
  return std::string(value);
}

Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  std::string field;
  bool in_quotes = false, field_started = false;
  size_t record_start_line = 1, line = 1;
  auto end_field = [&] {
    record.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  auto end_record = [&] {
    end_field();
    // A blank line is no record.
    if (!(record.size() == 1 && record[0].empty())) records.push_back(std::move(record));
    record.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_quotes) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field.push_back('"');
          ++i;
        } else {
          in_quotes = false;
        }
      } else {
        if (c == '\n') ++line;
        field.push_back(c);
      }
      continue;
    }
    if (c == '"' && !field_started) {
      in_quotes = true;
      field_started = true;
    } else if (c == ',') {
      end_field();
    } else if (c == '\n' || (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n')) {
      if (c == '\r') ++i;
      end_record();
      record_start_line = ++line;
    } else {
      field.push_back(c);
      field_started = true;
    }
  }
  if (in_quotes)
    return Status::Corrupt("record at line " + std::to_string(record_start_line) +
                                   ": quoted field never closed");
  if (field_started || !record.empty()) end_record();
  return records;
}

}  // namespace celmatch
