// The leak benchmark (issue 3): the simulator is reproducible, names its
// files opaquely and writes a decodable file for every transform; the scorer
// gives known numbers (µAP of a known ranking, per-transform recall,
// precision, distractor matches, time error) on hand-made cases; the
// baselines' pHash behaves. Generated footage only: runs everywhere, fast.
#include <algorithm>
#include <bit>
#include <set>
#include <filesystem>
#include <fstream>
#include <regex>

#include <catch2/catch.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/input_walker.h"
#include "leaks/leak_baselines.h"
#include "leaks/leak_plot.h"
#include "leaks/leak_score.h"
#include "leaks/leak_simulator.h"
#include "leaks/leak_transforms.h"
#include "media/image_decoder.h"
#include "media/video_decoder.h"
#include "synthetic/synthetic_footage.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace celmatch;
using namespace celmatch::testing;

namespace {

std::vector<std::string> DistractorFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const InputFile& f : WalkInputs({dir}))
    if (f.error.empty() && f.skip_reason.empty()) out.push_back(f.path);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("leak simulator: every transform, reproducible, opaque names, decodable files", "[leaks]") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage";
  Result<std::string> distractor_dir = WriteSyntheticFootage(footage, 21, 1, 1, 4.0);
  REQUIRE(distractor_dir.ok());
  const std::vector<ReferenceInput> refs = PlanReferenceInputs({footage}, std::nullopt);
  REQUIRE(refs.size() == 1);

  LeakDumpOptions options;
  options.seed = 9;
  options.frames_per_source = 1;
  options.frames_per_distractor = 1;
  options.include_distractor_clips = false;
  options.transforms = {"all"};
  const std::vector<std::string> distractors = {DistractorFiles(*distractor_dir).at(0)};
  Result<std::vector<LeakTruth>> a = WriteLeakDump(refs, distractors, tmp.str() + "/a", options);
  REQUIRE(a.ok());
  Result<std::vector<LeakTruth>> b = WriteLeakDump(refs, distractors, tmp.str() + "/b", options);
  REQUIRE(b.ok());

  // One file per transform for the reference frame and each distractor frame
  // (one frame each).
  const size_t n_transforms = KnownLeakTransforms().size();
  CHECK(a->size() == n_transforms * (1 + distractors.size()));

  SECTION("same seed: same truth, same bytes") {
    REQUIRE(a->size() == b->size());
    for (size_t i = 0; i < a->size(); ++i) {
      const LeakTruth &x = (*a)[i], &y = (*b)[i];
      INFO(x.file << " " << x.transform);
      CHECK(x.file == y.file);
      CHECK(x.transform == y.transform);
      CHECK(x.time_s == y.time_s);
      CHECK(x.distractor == y.distractor);
      CHECK(ReadFileBytes(tmp.str() + "/a/" + x.file) == ReadFileBytes(tmp.str() + "/b/" + y.file));
    }
    // The truth survives its CSV.
    REQUIRE(WriteTruthCsv(tmp.str() + "/truth.csv", *a).ok());
    Result<std::vector<LeakTruth>> back = ReadTruthCsv(tmp.str() + "/truth.csv");
    REQUIRE(back.ok());
    REQUIRE(back->size() == a->size());
    CHECK((*back)[0].file == (*a)[0].file);
    CHECK((*back)[0].production == (*a)[0].production);
  }

  SECTION("another seed: other names and times") {
    options.seed = 10;
    Result<std::vector<LeakTruth>> c = WriteLeakDump(refs, distractors, tmp.str() + "/c", options);
    REQUIRE(c.ok());
    CHECK((*c)[0].file != (*a)[0].file);
    CHECK((*c)[0].time_s != (*a)[0].time_s);
  }

  SECTION("names give nothing away") {
    const std::regex opaque("[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{12}\\.(png|jpg|mp4)");
    for (const LeakTruth& t : *a) {
      INFO(t.file);
      CHECK(std::regex_match(t.file, opaque));
      const std::string stem = fs::path(t.file).stem().string();
      CHECK(stem.find("episode") == std::string::npos);
      CHECK(stem.find(t.transform) == std::string::npos);
    }
  }

  SECTION("every transform writes a file celmatch decodes, with the right truth") {
    std::set<std::string> seen;
    for (const LeakTruth& t : *a) {
      INFO(t.file << " " << t.transform);
      seen.insert(t.transform);
      const std::string path = tmp.str() + "/a/" + t.file;
      if (t.transform == "clip_lowres" || t.transform == "clip_crop_flip") {
        Result<std::unique_ptr<VideoDecoder>> dec = VideoDecoder::Open(path, {});
        REQUIRE(dec.ok());
        VideoFrame f;
        int frames = 0;
        while (true) {
          Result<bool> r = (*dec)->Next(&f);
          REQUIRE(r.ok());
          if (!*r) break;
          ++frames;
          CHECK(f.bgr.cols == (t.transform == "clip_lowres" ? 320 : 480));
        }
        CHECK(frames >= 2);  // 3 or 5 s at 8 fps, less near the end of the source
      } else {
        Result<cv::Mat> img = DecodeImage(path);
        REQUIRE(img.ok());
        CHECK(!img->empty());
      }
      if (!t.distractor) {
        CHECK(t.production == refs[0].production);
        CHECK(t.source == refs[0].source);
        CHECK(t.time_s >= 0);
      }
    }
    CHECK(seen.size() == n_transforms);
  }
}

TEST_CASE("leak simulator: transform names", "[leaks]") {
  Result<std::vector<std::string>> all = ExpandLeakTransforms({"png", "all"});
  REQUIRE(all.ok());
  CHECK(all->size() == KnownLeakTransforms().size());  // no duplicates
  CHECK(all->front() == "png");
  for (const char* name : {"crop50", "pad20", "sheet", "annotate", "lineart", "gray", "gamma", "hue", "flip",
                           "rotate5", "squash", "blur", "noise", "blank_region", "cel_alpha", "player_screenshot",
                           "clip_lowres", "clip_crop_flip"})
    CHECK(std::count(all->begin(), all->end(), name) == 1);
  CHECK(!ExpandLeakTransforms({"sepia"}).ok());

  std::mt19937 rng(1);
  const cv::Mat frame = celmatch::testing::SyntheticCartoonFrame(3, 0.0, 320, 180);
  Result<LeakImage> crop = ApplyLeakTransform(frame, "crop25", rng);
  REQUIRE(crop.ok());
  CHECK(crop->pixels.cols == 160);  // a quarter of the area, same aspect
  Result<LeakImage> cel = ApplyLeakTransform(frame, "cel_alpha", rng);
  REQUIRE(cel.ok());
  CHECK(cel->pixels.channels() == 4);
  CHECK(cel->ext == ".png");
}

TEST_CASE("leak simulator: the generalisation families draw their damage, repeat with the seed and stay out of all",
          "[leaks]") {
  Result<std::vector<std::string>> general = ExpandLeakTransforms({"generalisation"});
  REQUIRE(general.ok());
  CHECK(*general == LeakGeneralisationTransforms());
  Result<std::vector<std::string>> all = ExpandLeakTransforms({"all"});
  REQUIRE(all.ok());
  int held_back = 0;
  for (const std::string& name : *general) {
    CHECK(std::count(all->begin(), all->end(), name) == 0);  // "all" keeps the leak benchmark's meaning
    held_back += LeakTransformHeldBack(name);
  }
  // Each kind (another release, line art, crops) has families on both sides of the split.
  CHECK(held_back >= 3);
  CHECK(held_back < int(general->size()));
  for (const char* kind : {"release_", "lines_", "crop_half"}) {
    int tuned = 0, back = 0;
    for (const std::string& name : *general)
      if (name.rfind(kind, 0) == 0) (LeakTransformHeldBack(name) ? back : tuned) += 1;
    INFO(kind);
    CHECK(tuned >= 1);
    CHECK(back >= 1);
  }
  CHECK(!LeakTransformHeldBack("crop25"));

  const cv::Mat frame = celmatch::testing::SyntheticCartoonFrame(5, 0.0, 480, 270);
  for (const std::string& name : *general) {
    INFO(name);
    std::mt19937 a(3), b(3), c(4);
    if (name == "release_ntsc") {  // made from a run of frames (next test)
      CHECK_FALSE(ApplyLeakTransform(frame, name, a).ok());
      continue;
    }
    Result<LeakImage> x = ApplyLeakTransform(frame, name, a), y = ApplyLeakTransform(frame, name, b),
                      z = ApplyLeakTransform(frame, name, c);
    REQUIRE(x.ok());
    REQUIRE(y.ok());
    REQUIRE(z.ok());
    REQUIRE(x->pixels.type() == CV_8UC3);
    // Same seed, same picture; another seed draws other parameters.
    CHECK(x->pixels.size() == y->pixels.size());
    CHECK(cv::norm(x->pixels, y->pixels, cv::NORM_INF) == 0);
    CHECK((x->pixels.size() != z->pixels.size() || cv::norm(x->pixels, z->pixels, cv::NORM_L1) > 0));
    // The damage is real: not the frame as it was.
    CHECK((x->pixels.size() != frame.size() || cv::norm(x->pixels, frame, cv::NORM_L1) > 0));
    if (name.rfind("lines_", 0) == 0) {
      // Line art: mostly light paper, some dark lines, little colour left of the frame's.
      cv::Mat gray;
      cv::cvtColor(x->pixels, gray, cv::COLOR_BGR2GRAY);
      const double light = cv::countNonZero(gray > 160) / double(gray.total());
      CHECK(light > 0.5);
      CHECK(light < 0.995);
    }
    if (name.rfind("crop_half", 0) == 0 && name != "crop_half_upscaled") {
      CHECK(x->pixels.cols >= int(0.4 * frame.cols));
      CHECK(x->pixels.cols <= int(0.6 * frame.cols) + 1);
    }
  }
}

// Frames far apart in the cartoon's motion stand for four consecutive film
// frames, so that each is told from the others.
TEST_CASE("leak simulator: an NTSC copy shows the frame its truth names, through pulldown and MPEG-2", "[leaks]") {
  std::vector<cv::Mat> film;
  for (int i = 0; i < int(kNtscFilmFrames); ++i)
    film.push_back(celmatch::testing::SyntheticCartoonFrame(5, 1.5 * i, 480, 270));
  auto gray_at = [](const cv::Mat& bgr, cv::Size size) {
    cv::Mat g, small;
    cv::cvtColor(bgr, g, cv::COLOR_BGR2GRAY);
    cv::resize(g, small, size, 0, 0, cv::INTER_AREA);
    return small;
  };
  std::set<int> shown_seen, widths;
  for (uint32_t seed = 1; seed <= 24; ++seed) {
    INFO("seed " << seed);
    std::mt19937 a(seed), b(seed);
    int shown = -1, again = -1;
    Result<LeakImage> x = NtscReleaseFrame(film, a, &shown), y = NtscReleaseFrame(film, b, &again);
    REQUIRE(x.ok());
    REQUIRE(y.ok());
    CHECK(shown == again);
    CHECK(cv::norm(x->pixels, y->pixels, cv::NORM_INF) == 0);  // libavcodec's MPEG-2 is deterministic
    REQUIRE(x->pixels.type() == CV_8UC3);
    CHECK(x->pixels.rows == 480);
    widths.insert(x->pixels.cols);
    REQUIRE(shown >= 0);
    REQUIRE(shown < int(kNtscFilmFrames));
    shown_seen.insert(shown);
    // Nearer the frame the truth names than any frame neither of its fields shows.
    const cv::Size size(96, 54);
    const cv::Mat picture = gray_at(x->pixels, size);
    const double to_shown = cv::norm(picture, gray_at(film[size_t(shown)], size), cv::NORM_L1);
    for (int other = 0; other < int(kNtscFilmFrames); ++other) {
      if (other == shown || other == shown + 1) continue;
      CHECK(to_shown < cv::norm(picture, gray_at(film[size_t(other)], size), cv::NORM_L1));
    }
  }
  CHECK(shown_seen.size() >= 3);                       // the pulldown's phases are drawn
  CHECK(widths == std::set<int>{640, 720, 853});       // storage size, 4:3, 16:9
  std::mt19937 rng(1);
  int shown = 0;
  CHECK_FALSE(NtscReleaseFrame({film[0], film[1]}, rng, &shown).ok());
}

TEST_CASE("leak simulator: a family made from a run of frames leaves the other families' files as they were",
          "[leaks]") {
  TempDir tmp;
  const std::string footage = tmp.str() + "/footage";
  REQUIRE(WriteSyntheticFootage(footage, 21, 1, 1, 4.0).ok());
  const std::vector<ReferenceInput> refs = PlanReferenceInputs({footage}, std::nullopt);
  REQUIRE(refs.size() == 1);
  LeakDumpOptions options;
  options.seed = 9;
  options.frames_per_source = 3;
  options.include_distractor_clips = false;
  options.transforms = {"release_sd", "crop_half"};
  Result<std::vector<LeakTruth>> without = WriteLeakDump(refs, {}, tmp.str() + "/a", options);
  options.transforms = {"release_sd", "release_ntsc", "crop_half"};
  Result<std::vector<LeakTruth>> with = WriteLeakDump(refs, {}, tmp.str() + "/b", options);
  REQUIRE(without.ok());
  REQUIRE(with.ok());
  std::vector<LeakTruth> others, ntsc;
  for (const LeakTruth& t : *with) (t.transform == "release_ntsc" ? ntsc : others).push_back(t);
  CHECK(ntsc.size() == 3);
  REQUIRE(others.size() == without->size());
  for (size_t i = 0; i < others.size(); ++i) {
    INFO(others[i].transform << " " << others[i].file);
    CHECK(others[i].file == (*without)[i].file);
    CHECK(others[i].time_s == (*without)[i].time_s);
    CHECK(ReadFileBytes(tmp.str() + "/b/" + others[i].file) == ReadFileBytes(tmp.str() + "/a/" + (*without)[i].file));
  }
  // The truth's time is that of a decoded frame at or after the cut frame's.
  for (size_t i = 0; i < ntsc.size(); ++i) {
    INFO(ntsc[i].file);
    CHECK(ntsc[i].source == refs[0].source);
    CHECK(ntsc[i].time_s >= others[2 * i].time_s);
    CHECK(ntsc[i].time_s < others[2 * i].time_s + 0.5);
    Result<cv::Mat> img = DecodeImage(tmp.str() + "/b/" + ntsc[i].file);
    REQUIRE(img.ok());
    CHECK(img->rows == 480);
  }
}

TEST_CASE("µAP of a known ranking", "[leaks][score]") {
  // Ranked: +, -, +; a third positive never reported. AP = (1/3)*1 + (1/3)*(2/3).
  RankingScore r = RankPairs({{0.7, true}, {0.9, true}, {0.8, false}}, 3);
  CHECK(r.micro_ap == Approx(1.0 / 3 + 2.0 / 9));
  CHECK(r.ranked_pairs == 3);
  // 99.9% precision only above the negative: recall 1/3 at score 0.9.
  CHECK(r.p999_reached);
  CHECK(r.recall_at_p999 == Approx(1.0 / 3));
  CHECK(r.threshold_at_p999 == Approx(0.9));

  // Perfect ranking, all retrieved: 1.
  CHECK(RankPairs({{0.9, true}, {0.8, true}, {0.1, false}}, 2).micro_ap == Approx(1.0));
  // Equal scores are one threshold: +,- tied first gives precision 1/2 there.
  RankingScore tied = RankPairs({{0.5, true}, {0.5, false}}, 1);
  CHECK(tied.micro_ap == Approx(0.5));
  CHECK(!tied.p999_reached);
  // Nothing reported.
  CHECK(RankPairs({}, 4).micro_ap == 0.0);
}

TEST_CASE("recall plot: one bar per method and transform, as long as its recall", "[leaks][score]") {
  auto score_with = [](std::map<std::string, std::pair<int, int>> correct_of_positives) {
    LeakScore s;
    for (const auto& [name, cp] : correct_of_positives) {
      TransformScore t;
      t.correct = cp.first;
      t.positives = t.queries = cp.second;
      s.per_transform[name] = t;
      s.total.correct += cp.first;
      s.total.positives += cp.second;
      s.total.queries += cp.second;
    }
    return s;
  };
  // "distractor" has no positives: no row.
  LeakScore a = score_with({{"crop25", {4, 4}}, {"lineart", {1, 4}}, {"distractor", {0, 0}}});
  LeakScore b = score_with({{"crop25", {0, 4}}, {"lineart", {2, 4}}});
  const std::vector<MethodScore> methods = {{"celmatch", "", a}, {"pHash", "", b}};
  RecallPlotLayout L;
  const cv::Mat img = PlotRecallPerTransform(methods, &L);
  REQUIRE(L.rows == std::vector<std::string>{"crop25", "lineart", "all"});
  // Length of method m's bar in row r: coloured pixels along its middle line.
  auto bar_length = [&](int r, size_t m) {
    const int y = L.top + r * L.row_height + int(m) * L.bar_height + L.bar_height / 2;
    const cv::Scalar c = MethodColor(m);
    int n = 0;
    for (int x = L.plot_left + 1; x <= L.plot_left + L.plot_width; ++x) {
      const cv::Vec3b p = img.at<cv::Vec3b>(y, x);
      n += p[0] == c[0] && p[1] == c[1] && p[2] == c[2];
    }
    return n;
  };
  const int W = L.plot_width;
  CHECK(std::abs(bar_length(0, 0) - W) <= 1);          // crop25: celmatch 100%
  CHECK(bar_length(0, 1) == 0);                         // crop25: pHash 0%
  CHECK(std::abs(bar_length(1, 0) - W / 4) <= 1);      // lineart: 25%
  CHECK(std::abs(bar_length(1, 1) - W / 2) <= 1);      // lineart: 50%
  CHECK(std::abs(bar_length(2, 0) - W * 5 / 8) <= 1);  // all: 5 of 8
  CHECK(std::abs(bar_length(2, 1) - W / 4) <= 1);      // all: 2 of 8

  TempDir tmp;
  const std::string png = tmp.str() + "/recall.png";
  REQUIRE(WriteRecallPlot(png, methods).ok());
  const cv::Mat back = cv::imread(png, cv::IMREAD_COLOR);
  REQUIRE(back.size() == img.size());
  CHECK(cv::norm(back, img, cv::NORM_INF) == 0);
  // An unwritable path is an error naming it, not a crash.
  const Status bad = WriteRecallPlot(tmp.str() + "/no/such/dir/recall.png", methods);
  CHECK(!bad.ok());
  CHECK(bad.message().find("recall.png") != std::string::npos);
}

TEST_CASE("scorer: hand-made truth and celmatch JSONL", "[leaks][score]") {
  TempDir tmp;
  std::vector<LeakTruth> truth = {
      {"a.png", "Prod", "ep1.mp4", 10.0, "png", false},       // right, time off by 0.5 s
      {"b.png", "Prod", "ep2.mp4", 3.0, "png", false},        // wrong source first, right second
      {"c.jpg", "Prod", "ep1.mp4", 5.0, "crop50", false},     // no match
      {"d.jpg", "", "", -1, "crop50", true},                  // distractor matched: a false match
      {"e.jpg", "Prod", "intro_a.mp4", 1.0, "crop50", false}, // a tie with the truth second: ambiguous, correct
      {"f.jpg", "", "", -1, "png", true},                     // distractor, no match
  };
  const std::string jsonl = tmp.str() + "/r.jsonl";
  {
    std::ofstream f(jsonl);
    f << R"({"file":"out/dump/a.png","status":"match","elapsed":0.5,"matches":[{"production":"Prod","source":"ep1.mp4","time":10.5,"time_span":[10.0,11.0],"score":0.9}]})"
      << "\n"
      << R"({"file":"b.png","status":"match","elapsed":0.5,"matches":[{"production":"Prod","source":"ep1.mp4","time":3.0,"score":0.8},{"production":"Prod","source":"ep2.mp4","time":3.0,"score":0.6}]})"
      << "\n"
      << R"({"file":"c.jpg","status":"no_match","elapsed":0.5,"matches":[]})" << "\n"
      << R"({"file":"d.jpg","status":"match","elapsed":0.5,"matches":[{"production":"Prod","source":"ep1.mp4","time":1.0,"score":0.55}]})"
      << "\n"
      << R"({"file":"e.jpg","status":"match","elapsed":0.5,"ambiguous":true,"tied_sources":2,"matches":[{"production":"Prod","source":"intro_b.mp4","time":1.0,"score":0.95},{"production":"Prod","source":"intro_a.mp4","time":1.0,"score":0.95}]})"
      << "\n";
    // f.jpg has no line: missing.
  }
  Result<LeakScore> s = ScoreLeakRun(truth, jsonl);
  REQUIRE(s.ok());
  const TransformScore& png = s->per_transform.at("png");
  CHECK(png.queries == 3);
  CHECK(png.positives == 2);
  CHECK(png.correct == 1);
  CHECK(png.wrong == 1);
  CHECK(png.missing == 1);
  CHECK(png.recall() == Approx(0.5));
  CHECK(png.precision() == Approx(0.5));
  CHECK(png.time_checked == 1);
  CHECK(png.mean_time_error_s() == Approx(0.5));
  CHECK(png.time_in_span == 1);
  const TransformScore& crop = s->per_transform.at("crop50");
  CHECK(crop.positives == 2);
  CHECK(crop.correct == 1);
  CHECK(crop.ambiguous == 1);
  CHECK(crop.distractor_matches == 1);
  CHECK(crop.precision() == Approx(0.5));  // one right, one distractor
  CHECK(crop.pairs_ignored == 1);          // intro_b, tied with the truth
  CHECK(s->total.elapsed_files == 5);

  // Ranking (ignored pair left out): 0.95 +, 0.9 +, 0.8 -, 0.6 +, 0.55 -;
  // 4 positives (non-distractor queries). AP = 1/4 (1 + 1 + 3/4) = 0.6875.
  CHECK(s->ranking.positives == 4);
  CHECK(s->ranking.ranked_pairs == 5);
  CHECK(s->ranking.micro_ap == Approx(0.6875));
  CHECK(s->ranking.recall_at_p999 == Approx(0.5));
  CHECK(s->ranking.threshold_at_p999 == Approx(0.9));

  // An operating threshold above 0.7 drops b's second pair and d's match.
  Result<QueryOutcomes> outcomes = ReadMatchOutcomes(jsonl);
  REQUIRE(outcomes.ok());
  // `match` named a.png by the path it was given (out/dump/a.png): keyed by
  // its path in the dump, as ScoreLeakRun does.
  CHECK(outcomes->count("out/dump/a.png") == 1);
  LeakScore cut = ScoreLeakOutcomes(truth, KeyByDumpPath(truth, *outcomes), 0.7);
  CHECK(cut.per_transform.at("crop50").distractor_matches == 0);
  CHECK(cut.ranking.micro_ap == Approx(0.6875));  // the ranking is not cut

  const std::string table = FormatSideBySide({{"celmatch", "test", *s}, {"other", "test", cut}});
  CHECK(table.find("| png | 3 | 2 |") != std::string::npos);
  CHECK(table.find("unranked") != std::string::npos);
}

TEST_CASE("baselines: pHash of a 32x32 area downscale, vPDQ and pHash on a tiny reference", "[leaks][baselines]") {
  const cv::Mat a = celmatch::testing::SyntheticCartoonFrame(5, 0.0);
  const cv::Mat b = celmatch::testing::SyntheticCartoonFrame(77, 0.0);
  cv::Mat smaller;
  cv::resize(a, smaller, cv::Size(320, 180), 0, 0, cv::INTER_AREA);
  CHECK(PHash64(a) == PHash64(a));
  CHECK(std::popcount(PHash64(a) ^ PHash64(smaller)) <= 4);
  CHECK(std::popcount(PHash64(a) ^ PHash64(b)) > 12);

  TempDir tmp;
  const std::string footage = tmp.str() + "/footage";
  Result<std::string> distractor_dir = WriteSyntheticFootage(footage, 31, 1, 1, 4.0);
  REQUIRE(distractor_dir.ok());
  const std::vector<ReferenceInput> refs = PlanReferenceInputs({footage}, std::nullopt);
  LeakDumpOptions options;
  options.seed = 2;
  options.frames_per_source = 2;
  options.frames_per_distractor = 1;
  options.include_distractor_clips = false;
  Result<std::vector<LeakTruth>> truth =
      WriteLeakDump(refs, DistractorFiles(*distractor_dir), tmp.str() + "/dump", options);
  REQUIRE(truth.ok());
  BaselineOptions bo;
  Result<BaselineReferences> br = HashBaselineReferences(refs, bo);
  REQUIRE(br.ok());
  CHECK(br->frames.size() >= 4);  // one per second of 4 s
  BaselineRun run = RunBaselines(*br, tmp.str() + "/dump", *truth, bo);
  CHECK(run.vpdq.size() == truth->size());
  CHECK(run.phash.size() == truth->size());
  const LeakScore phash = ScoreLeakOutcomes(*truth, run.phash);
  // pHash ranks every (query, source) pair; PNG copies of the frames come first.
  CHECK(phash.ranking.ranked_pairs == int(truth->size()));
  CHECK(phash.per_transform.at("png").correct == 2);
  CHECK(phash.ranking.micro_ap > 0.5);
}
