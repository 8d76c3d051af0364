// ReferenceBuilder: turns footage on disk into reference frames in a
// ReferenceIndex (media -> frames -> signatures -> index).
//
// Production naming (what `celmatch index build/add PATH...` promise):
//   - PATH is a folder: each subfolder is a production named after it (its
//     files, recursively); files directly in PATH belong to a production
//     named after PATH itself.
//   - PATH is a file: its production is named after its parent folder.
//   - `production_override` replaces the name in every case.
// A source is identified in the catalog by its path relative to its
// production folder, and recognised by its content digest: a file whose
// content is already indexed is not added twice, whatever its name.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "media/media_limits.h"
#include "index/reference_index.h"
#include "signatures/embedding.h"

namespace celmatch {

struct ReferenceInput {
  std::string path;         // the file to open
  std::string production;
  std::string source;       // relative to the production folder
  std::string skip_reason;  // set when the walker did not follow it
};

// Expands PATH arguments into files with their production and source names.
std::vector<ReferenceInput> PlanReferenceInputs(const std::vector<std::string>& paths,
                                                const std::optional<std::string>& production_override);

// How far the decoding of one video source has come.
struct SourceProgress {
  const ReferenceInput* input = nullptr;
  double media_s = 0;        // time reached in the video
  double duration_s = 0;     // the container's duration; 0 when it does not say
  int64_t frames_decoded = 0;
  int64_t frames_kept = 0;   // reference frames so far
  double elapsed_s = 0;      // wall time spent on this source
};

struct BuildOptions {
  int jobs = 1;             // files decoded in parallel, and workers describing their kept frames
  MediaLimits limits;
  int save_every_sources = 50;  // rewrite the FAISS file this often (crash recovery needs no more)
  // The learned embedding of every reference frame, with this model (the one
  // the index records: ReferenceIndex::SetEmbeddingModel). Null: none.
  std::shared_ptr<EmbeddingModelPool> embedding;
  // Called while a video source is decoded, from the thread decoding it:
  // at its first frame and then at most once a second (SourceProgress).
  // Null: never.
  std::function<void(const SourceProgress&)> progress;
  // Asked between sources (e.g. core/interrupt.h's StopRequested): once true,
  // no new source is started; those in flight are committed, and the index
  // is saved. Null: never.
  std::function<bool()> stop;
};

struct BuildFileReport {
  enum class Outcome { kAdded, kAlreadyPresent, kSkipped, kError };
  ReferenceInput input;
  Outcome outcome = Outcome::kError;
  std::string message;      // the error or skip reason
  int64_t frames_kept = 0;
  int64_t frames_decoded = 0;
  double seconds = 0;       // wall time spent on this file
};

const char* OutcomeName(BuildFileReport::Outcome o);

// The embedding model to add footage to `index` with, recorded in it
// (ReferenceIndex::SetEmbeddingModel):
//   - `explicit_onnx` given (manifest `explicit_manifest`, default beside
//     it): that model; kNotFound when missing, kIncompatible when the index
//     records another model or was built without one;
//   - else the model the index records, found on the search path
//     (EmbeddingModelSearchPath); an index built without one stays without;
//   - else (a new index) kDefaultEmbeddingModel on the search path.
// Null with `*warning` set when the recorded or default model is not found:
// the footage is indexed without embeddings (PDQ and local features only).
Result<std::shared_ptr<EmbeddingModelPool>> ChooseBuildEmbeddingModel(ReferenceIndex& index,
                                                                      const std::string& explicit_onnx,
                                                                      const std::string& explicit_manifest,
                                                                      std::string* warning);

// Adds every input to `index`, `options.jobs` files at a time, calling
// `on_file` (from one thread at a time) as each finishes. Per-file failures
// are reported and skipped; the returned Status is an error only when the
// index itself could not be written.
Status AddReferences(ReferenceIndex& index, const std::vector<ReferenceInput>& inputs,
                     const BuildOptions& options,
                     const std::function<void(const BuildFileReport&)>& on_file);

}  // namespace celmatch
