// The HTML report's helpers shared by `match --report` and `report`.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

#include <opencv2/imgcodecs.hpp>

#include "cli_common.h"
#include "frames/keyframe_sampler.h"
#include "index/embedding_index.h"
#include "match/matcher.h"
#include "media/pdf_document.h"

#include "output/run_record.h"

namespace celmatch::cli {

Status CheckWritable(const std::string& path) {
  // A file beside it, removed again: an existing report stays until the new
  // one replaces it.
  const std::string probe = path + ".celmatch-probe";
  std::FILE* f = std::fopen(probe.c_str(), "wx");
  if (!f) {
    if (errno == EEXIST) return Status::Ok();
    return Status::IoError(path + ": cannot write the report there: " + std::strerror(errno));
  }
  std::fclose(f);
  std::remove(probe.c_str());
  return Status::Ok();
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

void AddQueryThumbnail(FileResult* r, int max_side) {
  const bool still = r->kind == MediaKind::kImage || r->kind == MediaKind::kDocument;
  if (max_side <= 0 || !r->query_thumbnail_jpeg.empty() || !still ||
      (r->status != FileStatus::kMatch && r->status != FileStatus::kNoMatch) || r->file.find("!/") != std::string::npos)
    return;
  cv::Mat bgr;
  if (r->kind == MediaKind::kDocument) {  // the page of the best match
    if (r->matches.empty() || r->matches.front().page <= 0) return;
    Result<std::unique_ptr<PdfDocument>> doc = PdfDocument::Open(r->file, r->file);
    if (!doc.ok()) return;
    Result<cv::Mat> page = (*doc)->RenderPage(r->matches.front().page - 1, MediaLimits());
    if (page.ok()) bgr = std::move(*page);
  } else {
    bgr = cv::imread(r->file, cv::IMREAD_REDUCED_COLOR_2);
  }
  if (!bgr.empty()) cv::imencode(".jpg", LimitSize(bgr, max_side), r->query_thumbnail_jpeg, {cv::IMWRITE_JPEG_QUALITY, 75});
}

ReferencePictureFn ReferencePicturesOf(const ReferenceIndex& ix) {
  return [&ix](int64_t frame_id) {
    ReferencePicture pic;
    if (frame_id < 0 || frame_id >= ix.frame_count()) return pic;
    Result<std::vector<uint8_t>> jpeg = ix.Thumbnail(frame_id);
    if (jpeg.ok()) pic.jpeg = std::move(*jpeg);
    const SourceRecord& src = ix.source(ix.frame(frame_id).source_id);
    pic.source_width = src.width;
    pic.source_height = src.height;
    return pic;
  };
}

void DescribeRunForReport(ReportRunInfo* info, const ReferenceIndex& ix, const nlohmann::json* run_record) {
  if (run_record && IsRunRecord(*run_record)) {
    info->settings = RunSettings(*run_record);
  } else {
    // JSON Lines written before run records (schema 1).
    info->settings.emplace_back("match options", "not recorded in the JSON Lines");
    const EmbeddingIndex* embedding = ix.embedding();
    info->settings.emplace_back("embedding model", embedding ? embedding->model().ToString()
                                                              : std::string("none (index built without embeddings)"));
  }
  // Records read back from JSON Lines carry no source id: the source is the
  // matched frame's, when its path is the one recorded.
  info->source_duration = [&ix](const Match& m) {
    const int64_t id = m.source_id >= 0 ? m.source_id : ix.frame(m.evidence.frame_id).source_id;
    const SourceRecord& src = ix.source(id);
    return src.is_still || src.path != m.source ? 0.0 : src.duration_s;
  };
}

std::string ReportWrittenLine(const std::vector<std::string>& pages) {
  if (pages.empty()) return "report: none written";
  std::string line = "report: " + pages.front();
  if (pages.size() > 1)
    line += " (" + std::to_string(pages.size()) + " pages of " + std::to_string(HtmlReport::kRowsPerPage) +
            " files: " + pages[1] + (pages.size() > 2 ? " ... " + pages.back() : "") + ")";
  return line;
}

}  // namespace celmatch::cli
