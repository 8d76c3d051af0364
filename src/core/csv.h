// CSV as spreadsheets and ThreatExchange-style hash lists read it (RFC 4180):
// fields separated by commas, quoted when they hold a comma, a quote or a line
// break, quotes doubled inside quotes.
//
// Values that come from a dump or a catalog (file names, production names) may
// start with '=', '+', '-' or '@', which spreadsheets run as formulas ("CSV
// injection"). CsvField with `guard_formula` prefixes such a value with a
// single quote, the mark spreadsheets read as "this is text"; so that the
// prefix can be told apart on reading, a value already starting with a single
// quote is prefixed too, and UnguardCsvField removes exactly one.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace celmatch {

// One field, quoted when needed.
std::string CsvField(std::string_view value, bool guard_formula);
// Fields joined by commas, with a trailing "\n".
std::string CsvRow(const std::vector<std::string>& fields, bool guard_formula);

// Undoes CsvField's formula guard.
std::string UnguardCsvField(std::string_view value);

// Reads CSV records from `text`, one vector of fields per record; quoted
// fields may span lines. A trailing "\r" before a line break is dropped.
// Fails on a quote that is never closed, naming the record.
Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text);

}  // namespace celmatch
