// Catalog: SQLite (C API) storage of productions, sources and frames.
//
// Ids of all three tables are dense 0..N-1, assigned inside the writing
// transaction as the current count (rows are never deleted), so they can be
// used as vector positions in memory and frame ids as FAISS ids.
#include "index/catalog.h"

#include <sqlite3.h>

#include <cstring>
#include <limits>
#include <map>

namespace celmatch {

namespace {

constexpr int kBusyTimeoutMs = 30'000;
constexpr size_t kPdqBytes = sizeof(PdqHash::bytes);

const char* const kSchema = R"sql(
CREATE TABLE IF NOT EXISTS productions(
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS sources(
  id INTEGER PRIMARY KEY,
  production_id INTEGER NOT NULL REFERENCES productions(id),
  path TEXT NOT NULL,
  content_sha256 TEXT NOT NULL UNIQUE,
  size_bytes INTEGER NOT NULL,
  is_still INTEGER NOT NULL,
  duration_s REAL NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  added_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS frames(
  id INTEGER PRIMARY KEY,
  source_id INTEGER NOT NULL REFERENCES sources(id),
  time_s REAL NOT NULL,
  span_end_s REAL NOT NULL,
  frame_number INTEGER NOT NULL,
  quality INTEGER NOT NULL,
  pdq BLOB NOT NULL,
  thumbnail BLOB);
CREATE INDEX IF NOT EXISTS frames_by_source ON frames(source_id, time_s);
CREATE TABLE IF NOT EXISTS frame_features(
  frame_id INTEGER NOT NULL REFERENCES frames(id),
  layer INTEGER NOT NULL,
  xy BLOB NOT NULL,
  descriptors BLOB NOT NULL,
  PRIMARY KEY(frame_id, layer));
CREATE TABLE IF NOT EXISTS span_hashes(
  frame_id INTEGER NOT NULL REFERENCES frames(id),
  time_s REAL NOT NULL,
  pdq BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
)sql";

// Owns one prepared statement; finalizes it on destruction.
class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// Resets a cached statement (and clears its bindings) when a use of it ends,
// however the use ends.
class StmtUse {
 public:
  explicit StmtUse(sqlite3_stmt* s) : s_(s) {}
  ~StmtUse() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  StmtUse(const StmtUse&) = delete;
  StmtUse& operator=(const StmtUse&) = delete;
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_;
};

}  // namespace

struct Catalog::Impl {
  std::string path;
  sqlite3* db = nullptr;
  bool read_only = false;
  bool has_span_hashes = false;  // the table exists (catalogs before it have none)
  std::map<std::string, std::unique_ptr<Stmt>> stmts;  // cache by SQL text

  ~Impl() {
    stmts.clear();  // finalize before closing
    if (db) sqlite3_close(db);
  }

  Status Error(const std::string& what) const {
    return Status::IoError(path + ": " + what + ": " + (db ? sqlite3_errmsg(db) : "no database"));
  }
  Status Error(const std::string& what, int rc) const {
    std::string msg = path + ": " + what + ": " + sqlite3_errstr(rc);
    if (db && sqlite3_errcode(db) == rc) msg += " (" + std::string(sqlite3_errmsg(db)) + ")";
    if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) return Status::Corrupt(msg);
    return Status::IoError(msg);
  }

  Status Exec(const char* sql) {
    char* err = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = path + ": " + (err ? err : sqlite3_errstr(rc));
      sqlite3_free(err);
      if ((rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB) return Status::Corrupt(msg);
      return Status::IoError(msg);
    }
    return Status::Ok();
  }

  // A cached prepared statement for `sql`.
  Result<sqlite3_stmt*> Prepare(const std::string& sql) {
    auto it = stmts.find(sql);
    if (it != stmts.end()) return it->second->get();
    sqlite3_stmt* s = nullptr;
    int rc = sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) {
      sqlite3_finalize(s);
      return Error("preparing \"" + sql + "\"", rc);
    }
    auto owned = std::make_unique<Stmt>(s);
    stmts.emplace(sql, std::move(owned));
    return s;
  }

  // Runs a statement expected to return one integer (e.g. COUNT(*)).
  Result<int64_t> QueryInt(const std::string& sql) {
    auto s = Prepare(sql);
    if (!s.ok()) return s.status();
    StmtUse use(*s);
    int rc = sqlite3_step(use.get());
    if (rc != SQLITE_ROW) return Error("running \"" + sql + "\"", rc);
    return int64_t(sqlite3_column_int64(use.get(), 0));
  }

  // BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted.
  class Transaction {
   public:
    explicit Transaction(Impl* impl) : impl_(impl) {}
    ~Transaction() {
      if (begun_ && !done_) sqlite3_exec(impl_->db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    Status Begin() {
      Status s = impl_->Exec("BEGIN IMMEDIATE");
      if (s.ok()) begun_ = true;
      return s;
    }
    Status Commit() {
      Status s = impl_->Exec("COMMIT");
      if (s.ok()) done_ = true;
      return s;
    }

   private:
    Impl* impl_;
    bool begun_ = false;
    bool done_ = false;
  };
};

namespace {

std::string ColumnText(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(s, col))) : std::string();
}

SourceRecord ReadSource(sqlite3_stmt* s) {
  SourceRecord r;
  r.id = sqlite3_column_int64(s, 0);
  r.production_id = sqlite3_column_int64(s, 1);
  r.path = ColumnText(s, 2);
  r.content_sha256 = ColumnText(s, 3);
  r.size_bytes = sqlite3_column_int64(s, 4);
  r.is_still = sqlite3_column_int(s, 5) != 0;
  r.duration_s = sqlite3_column_double(s, 6);
  r.width = sqlite3_column_int(s, 7);
  r.height = sqlite3_column_int(s, 8);
  return r;
}

constexpr const char* kSourceColumns =
    "id, production_id, path, content_sha256, size_bytes, is_still, duration_s, width, height";

}  // namespace

Catalog::Catalog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Catalog::~Catalog() = default;

Result<std::unique_ptr<Catalog>> Catalog::Open(const std::string& path, bool create, bool read_only) {
  if (create && read_only) return Status::InvalidArgument(path + ": cannot create a catalog read-only");
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->read_only = read_only;
  int flags = SQLITE_OPEN_NOMUTEX;  // one connection per thread (see catalog.h)
  flags |= read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (create) flags |= SQLITE_OPEN_CREATE;
  int rc = sqlite3_open_v2(path.c_str(), &impl->db, flags, nullptr);
  if (rc != SQLITE_OK) {
    if (!create && (rc & 0xff) == SQLITE_CANTOPEN) {
      return Status::NotFound(path + ": cannot open the catalog: " + sqlite3_errstr(rc));
    }
    return impl->Error("cannot open the catalog", rc);
  }
  sqlite3_extended_result_codes(impl->db, 1);
  sqlite3_busy_timeout(impl->db, kBusyTimeoutMs);
  if (!read_only) {
    // WAL lets readers in other processes work while the one writer commits;
    // FULL syncs the WAL at every commit so a committed source survives a
    // power cut, not only a killed process.
    CELMATCH_RETURN_IF_ERROR(impl->Exec("PRAGMA journal_mode=WAL"));
    CELMATCH_RETURN_IF_ERROR(impl->Exec("PRAGMA synchronous=FULL"));
  }
  if (create) {
    CELMATCH_RETURN_IF_ERROR(impl->Exec(kSchema));
  } else {
    // Fail now, with a clear message, rather than on the first query.
    auto n = impl->QueryInt(
        "SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name IN "
        "('productions','sources','frames','meta')");
    if (!n.ok()) return n.status();
    if (*n != 4) return Status::Corrupt(path + ": not a celmatch catalog (tables missing)");
    // Tables added since (span_hashes): a writer adds them, a reader of an
    // older catalog reads none.
    if (!read_only) CELMATCH_RETURN_IF_ERROR(impl->Exec(kSchema));
  }
  auto spans = impl->QueryInt("SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name='span_hashes'");
  if (!spans.ok()) return spans.status();
  impl->has_span_hashes = *spans == 1;
  return std::unique_ptr<Catalog>(new Catalog(std::move(impl)));
}

Status Catalog::AddSource(SourceToAdd* item) {
  Impl& d = *impl_;
  if (d.read_only) return Status::InvalidArgument(d.path + ": catalog is open read-only");
  if (!item->thumbnails.empty() && item->thumbnails.size() != item->frames.size()) {
    return Status::InvalidArgument(d.path + ": source " + item->source.path + " has " +
                                   std::to_string(item->frames.size()) + " frames but " +
                                   std::to_string(item->thumbnails.size()) + " thumbnails");
  }
  Impl::Transaction txn(&d);
  CELMATCH_RETURN_IF_ERROR(txn.Begin());

  // Reject a duplicate with a message that says which source it is.
  {
    auto s = d.Prepare("SELECT path FROM sources WHERE content_sha256 = ?1");
    if (!s.ok()) return s.status();
    StmtUse use(*s);
    sqlite3_bind_text(use.get(), 1, item->source.content_sha256.c_str(), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(use.get());
    if (rc == SQLITE_ROW) {
      return Status::InvalidArgument(d.path + ": " + item->source.path + " (sha256 " +
                                     item->source.content_sha256 + ") is already in the catalog as " +
                                     ColumnText(use.get(), 0));
    }
    if (rc != SQLITE_DONE) return d.Error("looking up a source", rc);
  }

  // Production: find or create.
  int64_t production_id = -1;
  {
    auto s = d.Prepare("SELECT id FROM productions WHERE name = ?1");
    if (!s.ok()) return s.status();
    StmtUse use(*s);
    sqlite3_bind_text(use.get(), 1, item->production.c_str(), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(use.get());
    if (rc == SQLITE_ROW) {
      production_id = sqlite3_column_int64(use.get(), 0);
    } else if (rc != SQLITE_DONE) {
      return d.Error("looking up a production", rc);
    }
  }
  if (production_id < 0) {
    auto next = d.QueryInt("SELECT COALESCE(MAX(id) + 1, 0) FROM productions");
    if (!next.ok()) return next.status();
    production_id = *next;
    auto s = d.Prepare("INSERT INTO productions(id, name) VALUES(?1, ?2)");
    if (!s.ok()) return s.status();
    StmtUse use(*s);
    sqlite3_bind_int64(use.get(), 1, production_id);
    sqlite3_bind_text(use.get(), 2, item->production.c_str(), -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(use.get());
    if (rc != SQLITE_DONE) return d.Error("adding production " + item->production, rc);
  }

  // Source.
  auto next_source = d.QueryInt("SELECT COALESCE(MAX(id) + 1, 0) FROM sources");
  if (!next_source.ok()) return next_source.status();
  const int64_t source_id = *next_source;
  {
    auto s = d.Prepare(
        "INSERT INTO sources(id, production_id, path, content_sha256, size_bytes, is_still, duration_s, "
        "width, height, added_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
        "strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))");
    if (!s.ok()) return s.status();
    StmtUse use(*s);
    const SourceRecord& r = item->source;
    sqlite3_bind_int64(use.get(), 1, source_id);
    sqlite3_bind_int64(use.get(), 2, production_id);
    sqlite3_bind_text(use.get(), 3, r.path.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(use.get(), 4, r.content_sha256.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(use.get(), 5, r.size_bytes);
    sqlite3_bind_int(use.get(), 6, r.is_still ? 1 : 0);
    sqlite3_bind_double(use.get(), 7, r.duration_s);
    sqlite3_bind_int(use.get(), 8, r.width);
    sqlite3_bind_int(use.get(), 9, r.height);
    int rc = sqlite3_step(use.get());
    if (rc != SQLITE_DONE) return d.Error("adding source " + r.path, rc);
  }

  // Frames, ids continuing the dense sequence.
  auto next_frame = d.QueryInt("SELECT COALESCE(MAX(id) + 1, 0) FROM frames");
  if (!next_frame.ok()) return next_frame.status();
  const int64_t first_frame = *next_frame;
  {
    auto s = d.Prepare(
        "INSERT INTO frames(id, source_id, time_s, span_end_s, frame_number, quality, pdq, thumbnail) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!s.ok()) return s.status();
    for (size_t i = 0; i < item->frames.size(); ++i) {
      const FrameRecord& f = item->frames[i];
      StmtUse use(*s);
      sqlite3_bind_int64(use.get(), 1, first_frame + int64_t(i));
      sqlite3_bind_int64(use.get(), 2, source_id);
      sqlite3_bind_double(use.get(), 3, f.time_s);
      sqlite3_bind_double(use.get(), 4, f.span_end_s);
      sqlite3_bind_int64(use.get(), 5, f.frame_number);
      sqlite3_bind_int(use.get(), 6, f.quality);
      sqlite3_bind_blob(use.get(), 7, f.pdq.bytes.data(), int(f.pdq.bytes.size()), SQLITE_STATIC);
      if (!item->thumbnails.empty() && !item->thumbnails[i].empty()) {
        sqlite3_bind_blob(use.get(), 8, item->thumbnails[i].data(), int(item->thumbnails[i].size()),
                          SQLITE_STATIC);
      } else {
        sqlite3_bind_null(use.get(), 8);
      }
      int rc = sqlite3_step(use.get());
      if (rc != SQLITE_DONE) return d.Error("adding frames of " + item->source.path, rc);
    }
  }
  {
    auto s = d.Prepare("INSERT INTO span_hashes(frame_id, time_s, pdq) VALUES(?1, ?2, ?3)");
    if (!s.ok()) return s.status();
    for (size_t i = 0; i < item->frames.size(); ++i) {
      for (const SpanHash& h : item->frames[i].span_hashes) {
        StmtUse use(*s);
        sqlite3_bind_int64(use.get(), 1, first_frame + int64_t(i));
        sqlite3_bind_double(use.get(), 2, h.time_s);
        sqlite3_bind_blob(use.get(), 3, h.hash.bytes.data(), int(h.hash.bytes.size()), SQLITE_STATIC);
        int rc = sqlite3_step(use.get());
        if (rc != SQLITE_DONE) return d.Error("adding span hashes of " + item->source.path, rc);
      }
    }
  }
  // Local features, in the same transaction: a frame is never visible
  // without them.
  if (!item->features.empty()) {
    auto s = d.Prepare("INSERT INTO frame_features(frame_id, layer, xy, descriptors) VALUES(?1, ?2, ?3, ?4)");
    if (!s.ok()) return s.status();
    for (const FrameFeaturesRecord& f : item->features) {
      if (f.frame_id < 0 || f.frame_id >= int64_t(item->frames.size()) || f.xy.size() % 2 != 0 ||
          f.descriptors.size() != f.xy.size() / 2 * 32) {
        return Status::InvalidArgument(d.path + ": source " + item->source.path +
                                       " has malformed local features for frame " + std::to_string(f.frame_id));
      }
      StmtUse use(*s);
      sqlite3_bind_int64(use.get(), 1, first_frame + f.frame_id);
      sqlite3_bind_int(use.get(), 2, f.layer);
      sqlite3_bind_blob(use.get(), 3, f.xy.data(), int(f.xy.size() * sizeof(float)), SQLITE_STATIC);
      sqlite3_bind_blob(use.get(), 4, f.descriptors.data(), int(f.descriptors.size()), SQLITE_STATIC);
      int rc = sqlite3_step(use.get());
      if (rc != SQLITE_DONE) return d.Error("adding local features of " + item->source.path, rc);
    }
  }
  CELMATCH_RETURN_IF_ERROR(txn.Commit());
  for (FrameFeaturesRecord& f : item->features) f.frame_id += first_frame;

  item->source.id = source_id;
  item->source.production_id = production_id;
  for (size_t i = 0; i < item->frames.size(); ++i) {
    item->frames[i].id = first_frame + int64_t(i);
    item->frames[i].source_id = source_id;
  }
  return Status::Ok();
}

Result<std::optional<SourceRecord>> Catalog::FindSourceBySha256(const std::string& sha256) {
  Impl& d = *impl_;
  auto s = d.Prepare(std::string("SELECT ") + kSourceColumns + " FROM sources WHERE content_sha256 = ?1");
  if (!s.ok()) return s.status();
  StmtUse use(*s);
  sqlite3_bind_text(use.get(), 1, sha256.c_str(), -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(use.get());
  if (rc == SQLITE_ROW) return std::optional<SourceRecord>(ReadSource(use.get()));
  if (rc != SQLITE_DONE) return d.Error("looking up a source", rc);
  return std::optional<SourceRecord>();
}

Result<std::vector<ProductionRecord>> Catalog::Productions() {
  Impl& d = *impl_;
  auto s = d.Prepare("SELECT id, name FROM productions ORDER BY id");
  if (!s.ok()) return s.status();
  StmtUse use(*s);
  std::vector<ProductionRecord> out;
  int rc;
  while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
    ProductionRecord p;
    p.id = sqlite3_column_int64(use.get(), 0);
    p.name = ColumnText(use.get(), 1);
    out.push_back(std::move(p));
  }
  if (rc != SQLITE_DONE) return d.Error("reading productions", rc);
  return out;
}

Result<std::vector<SourceRecord>> Catalog::Sources() {
  Impl& d = *impl_;
  auto s = d.Prepare(std::string("SELECT ") + kSourceColumns + " FROM sources ORDER BY id");
  if (!s.ok()) return s.status();
  StmtUse use(*s);
  std::vector<SourceRecord> out;
  int rc;
  while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) out.push_back(ReadSource(use.get()));
  if (rc != SQLITE_DONE) return d.Error("reading sources", rc);
  return out;
}

Result<std::vector<FrameRecord>> Catalog::Frames(int64_t first_id, int64_t end) {
  Impl& d = *impl_;
  if (end < 0) end = std::numeric_limits<int64_t>::max();
  auto s = d.Prepare(
      "SELECT id, source_id, time_s, span_end_s, frame_number, quality, pdq FROM frames "
      "WHERE id >= ?1 AND id < ?2 ORDER BY id");
  if (!s.ok()) return s.status();
  StmtUse use(*s);
  sqlite3_bind_int64(use.get(), 1, first_id);
  sqlite3_bind_int64(use.get(), 2, end);
  std::vector<FrameRecord> out;
  int rc;
  while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
    FrameRecord f;
    f.id = sqlite3_column_int64(use.get(), 0);
    f.source_id = sqlite3_column_int64(use.get(), 1);
    f.time_s = sqlite3_column_double(use.get(), 2);
    f.span_end_s = sqlite3_column_double(use.get(), 3);
    f.frame_number = sqlite3_column_int64(use.get(), 4);
    f.quality = sqlite3_column_int(use.get(), 5);
    const void* blob = sqlite3_column_blob(use.get(), 6);
    int bytes = sqlite3_column_bytes(use.get(), 6);
    if (bytes != int(f.pdq.bytes.size()) || blob == nullptr) {
      return Status::Corrupt(d.path + ": frame " + std::to_string(f.id) + " has a " + std::to_string(bytes) +
                             "-byte PDQ hash (expected 32)");
    }
    std::memcpy(f.pdq.bytes.data(), blob, f.pdq.bytes.size());
    out.push_back(f);
  }
  if (rc != SQLITE_DONE) return d.Error("reading frames", rc);
  if (!d.has_span_hashes || out.empty()) return out;
  // Span hashes, attached to their frames (ids are dense, so frame id - first id
  // is the frame's place in `out`); in insertion order, which is time order.
  auto h = d.Prepare("SELECT frame_id, time_s, pdq FROM span_hashes WHERE frame_id >= ?1 AND frame_id < ?2 "
                     "ORDER BY frame_id, rowid");
  if (!h.ok()) return h.status();
  StmtUse hu(*h);
  sqlite3_bind_int64(hu.get(), 1, first_id);
  sqlite3_bind_int64(hu.get(), 2, end);
  while ((rc = sqlite3_step(hu.get())) == SQLITE_ROW) {
    const int64_t frame_id = sqlite3_column_int64(hu.get(), 0);
    const int64_t at = frame_id - out.front().id;
    const void* blob = sqlite3_column_blob(hu.get(), 2);
    const int bytes = sqlite3_column_bytes(hu.get(), 2);
    if (at < 0 || at >= int64_t(out.size()) || out[size_t(at)].id != frame_id || blob == nullptr ||
        bytes != int(kPdqBytes)) {
      return Status::Corrupt(d.path + ": a span hash of frame " + std::to_string(frame_id) +
                             " belongs to no frame or is not 32 bytes");
    }
    SpanHash sh;
    sh.time_s = sqlite3_column_double(hu.get(), 1);
    std::memcpy(sh.hash.bytes.data(), blob, kPdqBytes);
    out[size_t(at)].span_hashes.push_back(sh);
  }
  if (rc != SQLITE_DONE) return d.Error("reading span hashes", rc);
  return out;
}

Result<Catalog::Contents> Catalog::ReadAll() {
  Impl& d = *impl_;
  // A deferred transaction: one read snapshot for the three queries.
  CELMATCH_RETURN_IF_ERROR(d.Exec("BEGIN"));
  Contents c;
  Status st;
  auto p = Productions();
  if (!p.ok()) st = p.status();
  auto s = st.ok() ? Sources() : Result<std::vector<SourceRecord>>(st);
  if (st.ok() && !s.ok()) st = s.status();
  auto f = st.ok() ? Frames() : Result<std::vector<FrameRecord>>(st);
  if (st.ok() && !f.ok()) st = f.status();
  if (!st.ok()) {
    sqlite3_exec(d.db, "ROLLBACK", nullptr, nullptr, nullptr);
    return st;
  }
  CELMATCH_RETURN_IF_ERROR(d.Exec("COMMIT"));
  c.productions = std::move(*p);
  c.sources = std::move(*s);
  c.frames = std::move(*f);
  return c;
}

Result<int64_t> Catalog::FrameCount() { return impl_->QueryInt("SELECT COUNT(*) FROM frames"); }

Result<std::vector<uint8_t>> Catalog::Thumbnail(int64_t frame_id) {
  Impl& d = *impl_;
  auto s = d.Prepare("SELECT thumbnail FROM frames WHERE id = ?1");
  if (!s.ok()) return s.status();
  StmtUse use(*s);
  sqlite3_bind_int64(use.get(), 1, frame_id);
  int rc = sqlite3_step(use.get());
  if (rc == SQLITE_DONE) return Status::NotFound(d.path + ": no frame " + std::to_string(frame_id));
  if (rc != SQLITE_ROW) return d.Error("reading a thumbnail", rc);
  const auto* blob = static_cast<const uint8_t*>(sqlite3_column_blob(use.get(), 0));
  int bytes = sqlite3_column_bytes(use.get(), 0);
  return blob ? std::vector<uint8_t>(blob, blob + bytes) : std::vector<uint8_t>();
}

namespace {

// The catalog's message for a frame whose keypoint and descriptor blobs
// disagree (FrameFeatures and FrameFeatureCounts say the same).
Status MalformedFeatures(const std::string& path, int64_t frame_id, int xy_bytes, int desc_bytes) {
  return Status::Corrupt(path + ": local features of frame " + std::to_string(frame_id) + " have " +
                         std::to_string(xy_bytes / 8) + " points but " + std::to_string(desc_bytes) +
                         " descriptor bytes");
}

}  // namespace

Result<std::vector<FrameFeatureCount>> Catalog::FrameFeatureCounts(int layer, int64_t end_frame) {
  Impl& d = *impl_;
  // length() of a blob reads its size from the record, not its bytes.
  auto s = d.Prepare(
      "SELECT frame_id, length(xy), length(descriptors) FROM frame_features WHERE layer = ?1 AND frame_id < ?2 "
      "ORDER BY frame_id");
  if (!s.ok()) return s.status();
  StmtUse use(*s);
  sqlite3_bind_int(use.get(), 1, layer);
  sqlite3_bind_int64(use.get(), 2, end_frame);
  std::vector<FrameFeatureCount> out;
  int rc;
  while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
    const int64_t frame_id = sqlite3_column_int64(use.get(), 0);
    const int xy_bytes = sqlite3_column_int(use.get(), 1);
    const int desc_bytes = sqlite3_column_int(use.get(), 2);
    if (xy_bytes % 8 != 0 || desc_bytes != xy_bytes / 8 * 32) return MalformedFeatures(d.path, frame_id, xy_bytes, desc_bytes);
    out.push_back(FrameFeatureCount{frame_id, xy_bytes / 8});
  }
  if (rc != SQLITE_DONE) return d.Error("reading local features", rc);
  return out;
}

Result<std::vector<FrameFeaturesRecord>> Catalog::FrameFeatures(int layer, int64_t end_frame) {
  Impl& d = *impl_;
  auto s = d.Prepare(
      "SELECT frame_id, xy, descriptors FROM frame_features WHERE layer = ?1 AND frame_id < ?2 ORDER BY frame_id");
  if (!s.ok()) return s.status();
  StmtUse use(*s);
  sqlite3_bind_int(use.get(), 1, layer);
  sqlite3_bind_int64(use.get(), 2, end_frame);
  std::vector<FrameFeaturesRecord> out;
  int rc;
  while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
    FrameFeaturesRecord f;
    f.frame_id = sqlite3_column_int64(use.get(), 0);
    f.layer = layer;
    const auto* xy = static_cast<const uint8_t*>(sqlite3_column_blob(use.get(), 1));
    const int xy_bytes = sqlite3_column_bytes(use.get(), 1);
    const auto* desc = static_cast<const uint8_t*>(sqlite3_column_blob(use.get(), 2));
    const int desc_bytes = sqlite3_column_bytes(use.get(), 2);
    if (xy_bytes % 8 != 0 || desc_bytes != xy_bytes / 8 * 32) return MalformedFeatures(d.path, f.frame_id, xy_bytes, desc_bytes);
    f.xy.resize(size_t(xy_bytes) / sizeof(float));
    if (xy_bytes > 0) std::memcpy(f.xy.data(), xy, size_t(xy_bytes));
    if (desc_bytes > 0) f.descriptors.assign(desc, desc + desc_bytes);
    out.push_back(std::move(f));
  }
  if (rc != SQLITE_DONE) return d.Error("reading local features", rc);
  return out;
}

Status Catalog::SetMeta(const std::string& key, const std::string& value) {
  Impl& d = *impl_;
  if (d.read_only) return Status::InvalidArgument(d.path + ": catalog is open read-only");
  auto s = d.Prepare("INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)");
  if (!s.ok()) return s.status();
  StmtUse use(*s);
  sqlite3_bind_text(use.get(), 1, key.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(use.get(), 2, value.c_str(), -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(use.get());
  if (rc != SQLITE_DONE) return d.Error("writing meta " + key, rc);
  return Status::Ok();
}

Result<std::optional<std::string>> Catalog::GetMeta(const std::string& key) {
  Impl& d = *impl_;
  auto s = d.Prepare("SELECT value FROM meta WHERE key = ?1");
  if (!s.ok()) return s.status();
  StmtUse use(*s);
  sqlite3_bind_text(use.get(), 1, key.c_str(), -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(use.get());
  if (rc == SQLITE_ROW) return std::optional<std::string>(ColumnText(use.get(), 0));
  if (rc != SQLITE_DONE) return d.Error("reading meta " + key, rc);
  return std::optional<std::string>();
}

Status Catalog::Check() {
  Impl& d = *impl_;
  {
    auto s = d.Prepare("PRAGMA integrity_check");
    if (!s.ok()) return s.status();
    StmtUse use(*s);
    std::string problems;
    int rc;
    while ((rc = sqlite3_step(use.get())) == SQLITE_ROW) {
      std::string line = ColumnText(use.get(), 0);
      if (line != "ok") problems += (problems.empty() ? "" : "; ") + line;
    }
    if (rc != SQLITE_DONE) return d.Error("integrity check", rc);
    if (!problems.empty()) return Status::Corrupt(d.path + ": integrity check failed: " + problems);
  }
  // Dense ids: no deletions, so COUNT == MAX+1 and MIN == 0 (or empty).
  for (const char* table : {"productions", "sources", "frames"}) {
    std::string t(table);
    auto dense = d.QueryInt("SELECT COUNT(*) = COALESCE(MAX(id) + 1, 0) AND COALESCE(MIN(id), 0) = 0 FROM " + t);
    if (!dense.ok()) return dense.status();
    if (*dense != 1) return Status::Corrupt(d.path + ": " + t + " ids are not dense 0..N-1");
  }
  auto orphans = d.QueryInt(
      "SELECT COUNT(*) FROM frames f LEFT JOIN sources s ON s.id = f.source_id WHERE s.id IS NULL");
  if (!orphans.ok()) return orphans.status();
  if (*orphans != 0) {
    return Status::Corrupt(d.path + ": " + std::to_string(*orphans) + " frames belong to no source");
  }
  auto orphan_sources = d.QueryInt(
      "SELECT COUNT(*) FROM sources s LEFT JOIN productions p ON p.id = s.production_id WHERE p.id IS NULL");
  if (!orphan_sources.ok()) return orphan_sources.status();
  if (*orphan_sources != 0) {
    return Status::Corrupt(d.path + ": " + std::to_string(*orphan_sources) + " sources belong to no production");
  }
  auto bad_pdq = d.QueryInt("SELECT COUNT(*) FROM frames WHERE typeof(pdq) != 'blob' OR length(pdq) != 32");
  if (!bad_pdq.ok()) return bad_pdq.status();
  if (*bad_pdq != 0) {
    return Status::Corrupt(d.path + ": " + std::to_string(*bad_pdq) + " frames have a malformed PDQ hash");
  }
  if (d.has_span_hashes) {
    auto bad_spans = d.QueryInt(
        "SELECT COUNT(*) FROM span_hashes h LEFT JOIN frames f ON f.id = h.frame_id "
        "WHERE f.id IS NULL OR typeof(h.pdq) != 'blob' OR length(h.pdq) != 32");
    if (!bad_spans.ok()) return bad_spans.status();
    if (*bad_spans != 0) {
      return Status::Corrupt(d.path + ": " + std::to_string(*bad_spans) +
                             " span hashes belong to no frame or are malformed");
    }
  }
  return Status::Ok();
}

}  // namespace celmatch
