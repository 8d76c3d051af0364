// Documents: a PDF's pages (retake notes, a storyboard, a contact sheet),
// each rendered and matched as a picture.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "match/matcher.h"
#include "match/thumbnails.h"
#include "media/pdf_document.h"

namespace celmatch {

void Matcher::MatchDocument(const std::string& name, const std::string& path, FileResult* result,
                            std::shared_ptr<const std::vector<uint8_t>> bytes) const {
  Result<std::unique_ptr<PdfDocument>> doc = PdfDocument::Open(name, path, std::move(bytes));
  if (!doc.ok()) {
    result->status = FileStatus::kError;
    result->error = doc.status().message();
    return;
  }
  const int pages = (*doc)->pages();
  const int matched_pages = int(std::min<int64_t>(pages, std::max<int64_t>(1, options_.limits.max_pages)));
  std::vector<Answer> answers;  // in page order, then panel order
  std::map<int, std::vector<uint8_t>> thumbnails;  // of the pages with an answer, by page
  std::vector<std::string> unreadable;
  // Rendering cannot be interrupted inside a page; between pages, the time
  // spent rendering counts against max_decode_wall_s as a video's decoding does.
  double render_s = 0;
  int rendered_pages = matched_pages;
  for (int i = 0; i < matched_pages; ++i) {
    if (render_s > options_.limits.max_decode_wall_s) {
      rendered_pages = i;
      break;
    }
    const auto start = std::chrono::steady_clock::now();
    Result<cv::Mat> picture = (*doc)->RenderPage(i, options_.limits);
    render_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!picture.ok()) {
      unreadable.push_back(picture.status().message());
      continue;
    }
    ++result->samples;
    FileResult page;
    std::array<PdqResult, 8> variants;
    const bool decided = SearchPdq(*picture, &variants, &page.matches);
    const size_t before = answers.size();
    if (Status st = MatchPicture(*picture, cv::Mat(), cv::Mat(), variants, decided, &page, &answers); !st.ok()) {
      answers.resize(before);
      unreadable.push_back(name + ": page " + std::to_string(i + 1) + ": " + st.message());
      continue;
    }
    if (answers.size() == before) continue;
    for (size_t k = before; k < answers.size(); ++k)
      for (Match& m : answers[k].matches) m.page = i + 1;
    thumbnails[i + 1] = options_.query_thumbnail_max_side > 0
                            ? QueryThumbnail(*picture, options_.query_thumbnail_max_side)
                            : std::vector<uint8_t>();
  }
  JoinAnswers(std::move(answers), result);
  if (!result->matches.empty()) result->query_thumbnail_jpeg = std::move(thumbnails[result->matches.front().page]);
  std::string note = "a PDF of " + std::to_string(pages) + (pages == 1 ? " page" : " pages") + ", " +
                     std::to_string(thumbnails.size()) + " with a match";
  if (rendered_pages < pages) {
    note += (rendered_pages + 1 == pages ? "; page " + std::to_string(pages)
                                         : "; pages " + std::to_string(rendered_pages + 1) + "-" + std::to_string(pages)) +
            " not matched";
    if (rendered_pages < matched_pages) {
      char spent[64];
      std::snprintf(spent, sizeof spent, " (%.1f s spent rendering, max_decode_wall_s)", render_s);
      note += spent;
    } else {
      note += " (max_pages " + std::to_string(matched_pages) + ")";
    }
  }
  if (!unreadable.empty())
    note += "; " + std::to_string(unreadable.size()) + " not readable, the first: " + unreadable.front();
  result->note = note;
  if (result->samples == 0 && !unreadable.empty()) {
    result->status = FileStatus::kError;
    result->error = unreadable.front();
  } else {
    result->status = result->matches.empty() ? FileStatus::kNoMatch : FileStatus::kMatch;
  }
}

}  // namespace celmatch
