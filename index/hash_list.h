// Hash lists: the PDQ hashes of an index's reference frames as CSV, so that a
// studio can share what it can recognise without sharing its footage (as the
// industry shares PDQ hashes through Meta's ThreatExchange and HMA).
//
//   hash,quality,production,source,time,span_end,kind
//   d05228edd2b5ef4a...,93,Sintel,sintel.mp4,5.52,5.6,frame
//   9c1a28edd0b5ef4b...,,Sintel,sintel.mp4,5.56,,span
//
// `hash` is the 64-digit lowercase hex of PDQ as Meta's reference tools and
// ThreatExchange write it; `quality` 0..100; `time` and `span_end` seconds
// from the start of the source (the footage the frame stands for), both empty
// for stills. `kind` "span" marks a span hash (FrameRecord::span_hashes) of
// the frame before it in time: its time, no quality or span_end; "frame" or
// empty (lists written before span hashes have no such column) a frame. Fields are RFC 4180 CSV (core/csv.h), names guarded against
// formula injection (the guard is removed on import).
//
// Importing adds one source per (production, source) of the list, without
// footage: no thumbnails, no size or resolution. Matches against such
// sources carry PDQ evidence only. A source's content digest is the SHA-256
// of its canonical rows (names, hashes, qualities, times), so importing the
// same list again is a no-op, as re-adding the same footage is.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "index/reference_index.h"

namespace celmatch {

// Writes every reference frame, in frame id order. `path` "-" or empty writes
// to standard output; a file is written to a temporary name and renamed.
Status ExportHashList(const ReferenceIndex& index, const std::string& path);

struct HashListImportReport {
  int64_t sources_added = 0;
  int64_t sources_present = 0;  // already in the index (same digest)
  int64_t frames_added = 0;
};

// Reads `csv_path` whole (a row that does not parse fails the import before
// anything is added, naming the line) and adds its sources, then saves the
// index. Needs `index` opened for writing.
Result<HashListImportReport> ImportHashList(ReferenceIndex& index, const std::string& csv_path);

}  // namespace celmatch
