#include "index/reference_builder.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <optional>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/file_digest.h"
#include "core/input_walker.h"
#include "core/thread_pool.h"
#include "frames/keyframe_sampler.h"
#include "media/image_decoder.h"
#include "media/media_probe.h"
#include "media/video_decoder.h"
#include "signatures/local_features.h"
#include "signatures/pdq_hash.h"

namespace fs = std::filesystem;

namespace celmatch {

const char* OutcomeName(BuildFileReport::Outcome o) {
  switch (o) {
    case BuildFileReport::Outcome::kAdded: return "added";
    case BuildFileReport::Outcome::kAlreadyPresent: return "already_present";
    case BuildFileReport::Outcome::kSkipped: return "skipped";
    case BuildFileReport::Outcome::kError: return "error";
  }
  return "error";
}

namespace {

std::string FolderName(const fs::path& p) {
  fs::path abs = fs::absolute(p).lexically_normal();
  if (abs.filename().empty()) abs = abs.parent_path();  // trailing slash
  return abs.filename().string();
}

}  // namespace

std::vector<ReferenceInput> PlanReferenceInputs(const std::vector<std::string>& paths,
                                                const std::optional<std::string>& production_override) {
  std::vector<ReferenceInput> out;
  for (const std::string& arg : paths) {
    std::error_code ec;
    const bool is_dir = fs::is_directory(arg, ec);
    for (InputFile& f : WalkInputs({arg})) {
      ReferenceInput in;
      in.path = f.path;
      in.skip_reason = !f.error.empty() ? f.error : f.skip_reason;
      if (!is_dir) {
        in.production = FolderName(fs::path(arg).parent_path().empty() ? fs::path(".") : fs::path(arg).parent_path());
        in.source = f.relative;
      } else {
        fs::path rel(f.relative);
        auto first = rel.begin();
        if (std::next(first) == rel.end()) {  // directly in PATH
          in.production = FolderName(arg);
          in.source = rel.string();
        } else {
          in.production = first->string();
          in.source = rel.lexically_relative(*first).string();
        }
      }
      if (production_override) in.production = *production_override;
      out.push_back(std::move(in));
    }
  }
  return out;
}

namespace {

std::vector<uint8_t> Thumbnail(const cv::Mat& bgr, int max_side) {
  std::vector<uint8_t> jpeg;
  if (bgr.empty()) return jpeg;
  cv::imencode(".jpg", LimitSize(bgr, max_side), jpeg, {cv::IMWRITE_JPEG_QUALITY, 80});
  return jpeg;
}

// Both layers of local features of reference frame `frame_index`, appended
// to `out`.
void AddFrameFeatures(const cv::Mat& bgr, const IndexParams& params, int64_t frame_index,
                      std::vector<FrameFeaturesRecord>* out) {
  LocalFeatureOptions o;
  o.work_max_side = params.feature_max_side;
  o.max_features = params.feature_max_per_frame;
  const LocalFeatureExtractor extractor(o);
  for (int l = 0; l < kFeatureLayers; ++l) {
    const LocalFeatures f =
        extractor.Extract(FeatureLayer(l) == FeatureLayer::kLine ? LineRepresentation(bgr) : bgr);
    if (f.size() == 0) continue;
    FrameFeaturesRecord r;
    r.frame_id = frame_index;
    r.layer = l;
    r.xy.reserve(f.size() * 2);
    for (const cv::Point2f& p : f.points) {
      r.xy.push_back(p.x);
      r.xy.push_back(p.y);
    }
    r.descriptors.assign(f.descriptors.data, f.descriptors.data + f.size() * kFeatureBytes);
    out->push_back(std::move(r));
  }
}

// The embedding of one reference frame (empty when the model fails on it:
// the frame is still found by PDQ and local features).
std::vector<float> FrameEmbedding(const cv::Mat& bgr, EmbeddingModel* model) {
  if (!model) return {};
  Result<cv::Mat> e = model->Embed({bgr});
  if (!e.ok() || e->rows != 1) return {};
  const float* row = e->ptr<float>(0);
  return std::vector<float>(row, row + e->cols);
}

// Region embeddings (EmbeddingIndex::Kind::kRegions) cost kRegionsPerFrame
// runs of the network, 9 times the frame's own. A frame gets them when its
// own embedding is less similar than kRegionNovelty (cosine of the model's
// vectors) to that of the last frame of its source that got them: the
// frames of a shot share their regions' pictures. Measured on the leak
// benchmark's index (bench/RESULTS.md): a third of the kept frames get
// regions, for a third of the network runs every frame's regions cost, and
// the generalisation dump's crop families lose 0-4 points against those.
constexpr float kRegionNovelty = 0.9f;
// They are cut from the frame reduced to this width (area averaging twice
// is the average over the same pixels, give or take rounding): reducing a
// 1080p frame costs more than the network, and the reduced picture is what
// waits for the decision.
constexpr int kRegionSourceWidth = 4 * 128;

cv::Mat ReducedForRegions(const cv::Mat& bgr) {
  if (bgr.cols <= kRegionSourceWidth) return bgr.clone();
  cv::Mat reduced;
  const double f = double(kRegionSourceWidth) / bgr.cols;
  cv::resize(bgr, reduced, cv::Size(), f, f, cv::INTER_AREA);
  return reduced;
}

// kRegionsPerFrame vectors one after the other; empty when the model fails.
std::vector<float> RegionEmbeddings(const cv::Mat& reduced, EmbeddingModel* model) {
  if (!model || reduced.empty()) return {};
  std::vector<cv::Mat> windows;
  for (int r = 0; r < kRegionsPerFrame; ++r) windows.push_back(reduced(RegionWindow(reduced.size(), r)));
  Result<cv::Mat> e = model->Embed(windows);
  if (!e.ok() || e->rows != kRegionsPerFrame || !e->isContinuous()) return {};
  const float* rows = e->ptr<float>(0);
  return std::vector<float>(rows, rows + size_t(e->rows) * size_t(e->cols));
}

bool NewToRegions(const std::vector<float>& embedding, const std::vector<float>& last_with_regions) {
  if (last_with_regions.size() != embedding.size()) return true;
  float dot = 0;
  for (size_t i = 0; i < embedding.size(); ++i) dot += embedding[i] * last_with_regions[i];
  return dot < kRegionNovelty;
}

// The signatures of one kept reference frame beyond its PDQ hash: local
// features and the embedding, the bulk of a build's work. A video's kept
// frames are described on the build's frame pool while its decoder goes on
// (so one long source uses every core), and gathered in frame order: the
// index is the same whatever the number of threads.
struct FrameSignatures {
  std::vector<FrameFeaturesRecord> features;
  std::vector<float> embedding;
  cv::Mat reduced;                       // for the regions, until they are decided
  std::vector<float> region_embeddings;  // kRegionsPerFrame vectors, or none
  Status status;
};

void DescribeFrame(const cv::Mat& bgr, const IndexParams& params, int64_t frame_index,
                   EmbeddingModelPool* embedding, FrameSignatures* out) {
  AddFrameFeatures(bgr, params, frame_index, &out->features);
  if (!embedding) return;
  Result<EmbeddingModelPool::Lease> lease = embedding->Acquire();
  if (!lease.ok()) {
    out->status = lease.status();
    return;
  }
  // The frame's own embedding from the reduced picture too: one pass over
  // the whole frame instead of two.
  cv::Mat reduced = ReducedForRegions(bgr);
  out->embedding = FrameEmbedding(reduced, &lease->model());
  if (!out->embedding.empty()) out->reduced = std::move(reduced);
}

// Decides, in frame order, which of `frames` from `*decided` on get region
// embeddings (NewToRegions, against `*last_with_regions`), and makes theirs
// on `group`; the others' reduced pictures are released at once. Those
// frames' descriptions must be finished. In frame order whatever the
// threads, so the index is the same.
void DecideRegions(std::deque<FrameSignatures>* frames, size_t* decided, std::vector<float>* last_with_regions,
                   EmbeddingModelPool* embedding, TaskGroup* group) {
  for (; *decided < frames->size(); ++*decided) {
    FrameSignatures* f = &(*frames)[*decided];
    if (f->reduced.empty()) continue;
    if (!NewToRegions(f->embedding, *last_with_regions)) {
      f->reduced.release();
      continue;
    }
    *last_with_regions = f->embedding;
    group->Submit([embedding, f] {
      Result<EmbeddingModelPool::Lease> lease = embedding->Acquire();
      if (!lease.ok()) {
        f->status = lease.status();
        return;
      }
      f->region_embeddings = RegionEmbeddings(f->reduced, &lease->model());
      f->reduced.release();
    });
  }
}

// Moves the signatures into `item`, frame i's features and embedding as
// frame i. The first failure (a model that could not be loaded) fails the
// source.
Status GatherSignatures(std::deque<FrameSignatures>* frames, bool with_embedding, SourceToAdd* item) {
  if (with_embedding) {
    item->embeddings.resize(frames->size());
    item->region_embeddings.resize(frames->size());
  }
  for (size_t i = 0; i < frames->size(); ++i) {
    FrameSignatures& f = (*frames)[i];
    if (!f.status.ok()) return f.status;
    for (FrameFeaturesRecord& r : f.features) item->features.push_back(std::move(r));
    if (with_embedding) {
      item->embeddings[i] = std::move(f.embedding);
      item->region_embeddings[i] = std::move(f.region_embeddings);
    }
  }
  return Status::Ok();
}

// Decodes and hashes one file into a SourceToAdd. Runs on a worker thread.
Status PrepareSource(const ReferenceInput& in, const IndexParams& params, const MediaLimits& limits,
                     const PdqHasher& hasher, EmbeddingModelPool* embedding, ThreadPool* frame_pool,
                     const std::function<void(const SourceProgress&)>& progress, SourceToAdd* item,
                     BuildFileReport* report) {
  Result<MediaProbe> probe = ProbeMedia(in.path);
  if (!probe.ok()) return probe.status();
  if (probe->kind == MediaKind::kOther || probe->kind == MediaKind::kDocument) {
    report->outcome = BuildFileReport::Outcome::kSkipped;
    report->message = probe->kind == MediaKind::kDocument ? "a PDF document (references are images and videos)"
                                                          : "not an image or video";
    return Status::Ok();
  }
  std::error_code ec;
  item->production = in.production;
  item->source.path = in.source;
  item->source.size_bytes = int64_t(fs::file_size(in.path, ec));
  if (probe->kind == MediaKind::kImage) {
    Result<cv::Mat> img = DecodeImage(in.path, limits);
    if (!img.ok()) return img.status();
    FrameRecord fr;
    fr.time_s = 0;
    fr.span_end_s = 0;
    PdqResult pdq = hasher.Compute(*img);
    fr.pdq = pdq.hash;
    fr.quality = pdq.quality;
    item->source.is_still = true;
    item->source.width = img->cols;
    item->source.height = img->rows;
    item->frames.push_back(fr);
    item->thumbnails.push_back(Thumbnail(*img, params.thumbnail_max_side));
    std::deque<FrameSignatures> signatures(1);
    DescribeFrame(*img, params, 0, embedding, &signatures[0]);
    TaskGroup here(nullptr, 1);
    size_t decided = 0;
    std::vector<float> none;
    DecideRegions(&signatures, &decided, &none, embedding, &here);
    CELMATCH_RETURN_IF_ERROR(GatherSignatures(&signatures, embedding != nullptr, item));
    report->frames_decoded = 1;
  } else {
    Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(in.path, limits);
    if (!dec.ok()) return dec.status();
    KeyframeSamplerOptions so;
    so.change_distance = params.sampler_change_distance;
    so.max_interval_s = params.sampler_max_interval_s;
    so.span_hash_distance = params.sampler_span_hash_distance;
    // Progress at the first frame, then at most once a second.
    const auto start = std::chrono::steady_clock::now();
    auto last_report = start - std::chrono::hours(1);
    auto on_decoded = [&](double time_s, int64_t decoded, size_t kept) {
      if (!progress) return;
      const auto now = std::chrono::steady_clock::now();
      if (now - last_report < std::chrono::seconds(1)) return;
      last_report = now;
      SourceProgress p;
      p.input = &in;
      p.media_s = time_s;
      p.duration_s = (*dec)->info().duration_s;
      p.frames_decoded = decoded;
      p.frames_kept = int64_t(kept);
      p.elapsed_s = std::chrono::duration<double>(now - start).count();
      progress(p);
    };
    // A deque: a slot stays where it is while later ones are appended and
    // workers fill earlier ones. Two frames a worker in flight: enough to
    // keep the pool busy, few enough decoded pictures held.
    std::deque<FrameSignatures> signatures;
    TaskGroup describe(frame_pool, frame_pool ? 2 * frame_pool->size() : 1);
    // Regions are decided every kRegionChunk kept frames (the reduced
    // pictures waiting for the decision are held until then).
    constexpr size_t kRegionChunk = 32;
    size_t regions_decided = 0;
    std::vector<float> last_with_regions;
    Result<std::vector<SampledFrame>> frames = SampleReferenceFrames(
        **dec, hasher, so, params.thumbnail_max_side,
        [&](size_t kept, const cv::Mat& bgr) {
          FrameSignatures* slot = &signatures.emplace_back();
          // The decoder reuses its picture for the next frame.
          describe.Submit([&params, embedding, kept, slot, picture = frame_pool ? bgr.clone() : bgr] {
            DescribeFrame(picture, params, int64_t(kept), embedding, slot);
          });
          if (embedding && signatures.size() - regions_decided >= kRegionChunk) {
            describe.Wait();
            DecideRegions(&signatures, &regions_decided, &last_with_regions, embedding, &describe);
          }
        },
        on_decoded);
    describe.Wait();
    if (embedding) {
      DecideRegions(&signatures, &regions_decided, &last_with_regions, embedding, &describe);
      describe.Wait();
    }
    if (!frames.ok()) return frames.status().WithPrefix(in.path);
    CELMATCH_RETURN_IF_ERROR(GatherSignatures(&signatures, embedding != nullptr, item));
    const VideoInfo& info = (*dec)->info();
    item->source.is_still = false;
    item->source.width = info.width;
    item->source.height = info.height;
    item->source.duration_s = frames->empty() ? 0 : frames->back().span_end_s;
    for (SampledFrame& s : *frames) {
      FrameRecord fr;
      fr.time_s = s.time_s;
      fr.span_end_s = s.span_end_s;
      fr.frame_number = s.frame_number;
      fr.pdq = s.pdq.hash;
      fr.quality = s.pdq.quality;
      fr.span_hashes = std::move(s.span_hashes);
      item->frames.push_back(std::move(fr));
      item->thumbnails.push_back(Thumbnail(s.bgr, params.thumbnail_max_side));
    }
    report->frames_decoded = frames->empty() ? 0 : frames->back().frame_number + 1;
  }
  report->frames_kept = int64_t(item->frames.size());
  report->outcome = BuildFileReport::Outcome::kAdded;
  return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<EmbeddingModelPool>> ChooseBuildEmbeddingModel(ReferenceIndex& index,
                                                                      const std::string& explicit_onnx,
                                                                      const std::string& explicit_manifest,
                                                                      std::string* warning) {
  std::string onnx = explicit_onnx;
  if (onnx.empty()) {
    const EmbeddingIndex* recorded = index.embedding();
    if (!recorded && index.frame_count() > 0) return std::shared_ptr<EmbeddingModelPool>();  // built without
    const std::string name = recorded ? recorded->model().name : std::string(kDefaultEmbeddingModel);
    std::optional<std::string> found = FindEmbeddingModel(name);
    if (!found) {
      std::string where;
      for (const std::string& d : EmbeddingModelSearchPath()) where += (where.empty() ? "" : ", ") + d;
      *warning = "embedding model " + name + ".onnx not found (looked in " + where +
                 "): indexing with hashes and local features only";
      return std::shared_ptr<EmbeddingModelPool>();
    }
    onnx = *found;
  }
  const std::string manifest = explicit_manifest.empty() ? EmbeddingManifestPathFor(onnx) : explicit_manifest;
  Result<std::shared_ptr<EmbeddingModelPool>> pool = EmbeddingModelPool::Create(onnx, manifest);
  if (!pool.ok()) return pool.status();
  Result<EmbeddingModelIdentity> identity = IdentifyEmbeddingModel(onnx, (*pool)->manifest());
  if (!identity.ok()) return identity.status();
  CELMATCH_RETURN_IF_ERROR(index.SetEmbeddingModel(*identity));
  return pool;
}

Status AddReferences(ReferenceIndex& index, const std::vector<ReferenceInput>& inputs,
                     const BuildOptions& options,
                     const std::function<void(const BuildFileReport&)>& on_file) {
  PdqHasher hasher;
  std::mutex mu;  // guards index writes, report callback, fatal and next_in_turn
  Status fatal;
  // Sources join the catalog in input order, whatever order their workers
  // finish in: frame ids, and so the index and every figure measured on it,
  // are the same for any number of jobs. A worker done before the sources
  // ahead of it waits with its source prepared (at most jobs - 1 do, while
  // the frame pool keeps the cores busy with the source they wait for).
  size_t next_in_turn = 0;
  std::condition_variable turn;
  int added_since_save = 0;
  const IndexParams params = index.params();
  // Sources are decoded `jobs` at a time; their kept frames are described on
  // a second pool of `jobs` workers, so that one long source (a feature
  // film) uses every core too. One job: all of it on the caller's thread.
  std::optional<ThreadPool> frame_pool;
  if (options.jobs > 1) frame_pool.emplace(size_t(options.jobs));
  {
    ThreadPool pool(size_t(std::max(1, options.jobs)));
    for (size_t position = 0; position < inputs.size(); ++position) {
      pool.Submit([&, position, in = inputs[position]] {
        // Waits, holding `lock`, for this input's turn to change the index.
        auto wait_turn = [&](std::unique_lock<std::mutex>& lock) {
          turn.wait(lock, [&] { return next_in_turn == position; });
        };
        auto pass_turn = [&] {
          ++next_in_turn;
          turn.notify_all();
        };
        if (options.stop && options.stop()) {  // not started: a later `index add` takes it
          std::unique_lock<std::mutex> lock(mu);
          wait_turn(lock);
          pass_turn();
          return;
        }
        auto start = std::chrono::steady_clock::now();
        BuildFileReport report;
        report.input = in;
        SourceToAdd item;
        Status st;
        if (!in.skip_reason.empty()) {
          report.outcome = BuildFileReport::Outcome::kSkipped;
          report.message = in.skip_reason;
        } else {
          Result<std::string> digest = Sha256File(in.path);
          if (!digest.ok()) {
            st = digest.status();
          } else {
            item.source.content_sha256 = *digest;
            Result<bool> present(false);
            {
              std::lock_guard<std::mutex> lock(mu);
              present = index.HasSource(*digest);
            }
            if (!present.ok()) {
              st = present.status();
            } else if (*present) {
              report.outcome = BuildFileReport::Outcome::kAlreadyPresent;
              report.message = "content already indexed";
            } else {
              st = PrepareSource(in, params, options.limits, hasher, options.embedding.get(),
                                 frame_pool ? &*frame_pool : nullptr, options.progress, &item, &report);
            }
          }
        }
        const auto prepared = std::chrono::steady_clock::now();
        std::unique_lock<std::mutex> lock(mu);
        wait_turn(lock);
        const auto committing = std::chrono::steady_clock::now();  // the wait is not this source's time
        if (!st.ok()) {
          report.outcome = BuildFileReport::Outcome::kError;
          report.message = st.message();
        } else if (report.outcome == BuildFileReport::Outcome::kAdded) {
          // Another worker may have added identical content meanwhile.
          Result<bool> present = index.HasSource(item.source.content_sha256);
          if (present.ok() && *present) {
            report.outcome = BuildFileReport::Outcome::kAlreadyPresent;
            report.message = "content already indexed";
          } else {
            Status add = index.AddSource(std::move(item));
            if (!add.ok()) {
              fatal = add;
              report.outcome = BuildFileReport::Outcome::kError;
              report.message = add.message();
            } else if (++added_since_save >= options.save_every_sources) {
              Status save = index.Checkpoint();
              if (!save.ok()) fatal = save;
              added_since_save = 0;
            }
          }
        }
        report.seconds = std::chrono::duration<double>(prepared - start).count() +
                         std::chrono::duration<double>(std::chrono::steady_clock::now() - committing).count();
        if (on_file) on_file(report);
        pass_turn();
      });
    }
    pool.Wait();
  }
  Status save = index.Save();
  if (!fatal.ok()) return fatal;
  return save;
}

}  // namespace celmatch
