// A dump of hostile files, generated: what leak dumps really contain
// (truncated downloads, bit rot, wrong extensions, decompression bombs,
// endless animations, broken timestamps, odd names, link tricks) mixed with
// good files that must still match. Used by test_hostile and as fuzz seeds.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace celmatch::testing {

struct HostileEntry {
  enum class Expect {
    kMatch,     // a good file: must be matched
    kError,     // must be status "error" (with `limit` named when set)
    kSkipped,   // must be status "skipped"
    kReported,  // anything, as long as it is reported (e.g. a bit-flipped JPEG may still decode)
  };
  std::string display_path;  // relative to DIR (`celmatch match DIR` reports DIR/display_path)
  Expect expect = Expect::kReported;
  std::string limit;         // with kError: the limit the message must name ("max_pixels")
  std::string what;          // for test messages
};

struct HostileSources {
  std::string good_video;    // a video of indexed footage (any container FFmpeg reads)
  uint32_t seed = 0;         // SyntheticCartoonFrame seed of the indexed footage
  double frame_time_s = 1.0; // a moment of it for the good stills
};

// Writes the corpus under `dir` (created); `outside` is a folder outside it
// for the link that points out of the tree. Limits the test should pass to
// `celmatch match` so that the bombs trip them: --max-frames 20000.
// Returns every entry the walk will report.
std::vector<HostileEntry> WriteHostileCorpus(const std::filesystem::path& dir,
                                             const std::filesystem::path& outside,
                                             const HostileSources& sources);

// Building blocks, also used by the fuzz targets' seed corpora.
std::vector<uint8_t> PngDeclaring(uint32_t width, uint32_t height);   // IHDR + a tiny IDAT
std::vector<uint8_t> JpegDeclaring(uint16_t width, uint16_t height);  // SOI, DQT-less SOF0, EOI
std::vector<uint8_t> AnimatedGif(int frames);                         // 1x1 frames, 10 ms each
std::vector<uint8_t> Tga(const std::vector<uint8_t>& bgr, int width, int height);  // uncompressed 24-bit
std::vector<uint8_t> Psd(const std::vector<uint8_t>& bgr, int width, int height);  // raw RGB, 8-bit
// MP4 edits: every sample's duration set to `delta` (0: all frames at one
// time; huge: hours between frames), and the movie's declared duration.
bool SetMp4SampleDeltas(std::vector<uint8_t>* mp4, uint32_t delta);
bool SetMp4Duration(std::vector<uint8_t>* mp4, double seconds);

}  // namespace celmatch::testing
