// Documents: a PDF's pages (retake notes, a storyboard, a contact sheet),
// each rendered and matched as a picture.
#include <algorithm>
#include <chrono>
#include <cstdio>
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
  // An answer: a page's best match and the sources tied with it, or one
  // panel's of a page of panels.
  struct Answer {
    std::vector<Match> matches;
    int tied = 0;
    int thumbnail = 0;  // its page's, in `thumbnails`
  };
  std::vector<Answer> answers;  // in page order, then panel order
  std::vector<std::vector<uint8_t>> thumbnails;  // of the pages with an answer
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
    const std::array<PdqResult, 8> variants = hasher_.ComputeDihedral(*picture);
    if (variants[0].quality >= options_.min_quality) page.matches = MatchHashes(variants);
    const bool decided = decider_.PdqDecides(page.matches);
    if (Status st = MatchPicture(*picture, cv::Mat(), cv::Mat(), variants, decided, &page); !st.ok()) {
      unreadable.push_back(name + ": page " + std::to_string(i + 1) + ": " + st.message());
      continue;
    }
    if (page.status != FileStatus::kMatch || page.matches.empty()) continue;
    for (Match& m : page.matches) m.page = i + 1;
    const int thumbnail = int(thumbnails.size());
    thumbnails.push_back(options_.query_thumbnail_max_side > 0
                             ? QueryThumbnail(*picture, options_.query_thumbnail_max_side)
                             : std::vector<uint8_t>());
    if (!page.matches.front().has_panel) {
      // A page matched whole: its answer, not the candidates below it.
      const int keep = std::max(1, std::min(page.tied_sources, options_.max_matches));
      page.matches.resize(std::min(page.matches.size(), size_t(keep)));
      answers.push_back({std::move(page.matches), std::max(1, page.tied_sources), thumbnail});
      continue;
    }
    // A page of panels: each panel's match and its ties (MatchPanels) are one answer.
    for (Match& m : page.matches) {
      const bool same_panel = !answers.empty() && answers.back().thumbnail == thumbnail &&
                              std::equal(m.panel, m.panel + 4, answers.back().matches.front().panel);
      if (!same_panel) answers.push_back({{}, 0, thumbnail});
      answers.back().matches.push_back(std::move(m));
      ++answers.back().tied;
    }
  }
  // Best first, as for any file: the answers by their best match's score
  // (page and panel order among equals).
  std::stable_sort(answers.begin(), answers.end(), [](const Answer& a, const Answer& b) {
    return a.matches.front().score > b.matches.front().score;
  });
  for (Answer& a : answers)
    for (Match& m : a.matches) result->matches.push_back(std::move(m));
  if (!answers.empty()) {
    result->tied_sources = answers.front().tied;
    result->query_thumbnail_jpeg = std::move(thumbnails[size_t(answers.front().thumbnail)]);
  }
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
