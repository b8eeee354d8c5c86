#include "history.h"

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "../bench/atomic_file.h"
#include "../bench/env_info.h"
#include "../bench/report.h"
#include "../bench/sweep.h"
#include "../grid.h"

namespace attnbench::history {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "attnbench-history-1";

constexpr const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  uid TEXT UNIQUE NOT NULL,      -- kind|host|dir|started: the same run recorded again replaces itself
  kind TEXT NOT NULL,            -- bench, shard, merge
  dir TEXT NOT NULL,
  host TEXT NOT NULL,
  git_commit TEXT NOT NULL,
  dirty INTEGER NOT NULL,
  date TEXT NOT NULL,            -- env.json "date" (UTC, ISO 8601)
  recorded_at TEXT NOT NULL,
  preset TEXT NOT NULL,
  shard TEXT NOT NULL,           -- "i/N", or "" for a whole run
  env_json TEXT NOT NULL,
  sweep_json TEXT NOT NULL,
  gbench_json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cells (
  run_id INTEGER NOT NULL,
  pos INTEGER NOT NULL,
  name TEXT NOT NULL,
  backend TEXT NOT NULL,
  config TEXT NOT NULL,          -- the name without the backend: mha/B:1/T:64/...
  status TEXT NOT NULL,
  median_s REAL NOT NULL,
  gflops REAL NOT NULL,
  row_json TEXT NOT NULL,        -- every summary.csv column
  PRIMARY KEY (run_id, pos));
CREATE INDEX IF NOT EXISTS cells_by_config ON cells (config, backend);
)SQL";

// One prepared statement, finalised on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("history: ") + sqlite3_errmsg(db) + " in: " + sql);
  }
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& Bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  bool Step() {
    const int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(std::string("history: ") + sqlite3_errmsg(db_));
  }
  std::string Text(int i) const {
    const auto* p = sqlite3_column_text(s_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  int64_t Int(int i) const { return sqlite3_column_int64(s_, i); }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
};

std::string EnvText(const nlohmann::json& env, const char* a, const char* b = nullptr) {
  const nlohmann::json* p = env.is_object() && env.contains(a) ? &env[a] : nullptr;
  if (p && b) p = p->is_object() && p->contains(b) ? &(*p)[b] : nullptr;
  if (!p || p->is_null()) return "";
  return p->is_string() ? p->get<std::string>() : p->dump();
}

std::string ConfigOf(const bench::Cell& c) {
  const auto slash = c.name.find('/');
  return slash == std::string::npos ? c.name : c.name.substr(slash + 1);
}

// The WHERE clause of a Filter over runs r (and, for backend / config, cells c); binds in order.
struct Where {
  std::string sql;
  std::vector<std::string> args;
};
Where RunWhere(const Filter& f, bool cells_joined) {
  Where w;
  auto add = [&](const std::string& cond, const std::string& v) {
    if (v.empty()) return;
    w.sql += (w.sql.empty() ? " WHERE " : " AND ") + cond;
    w.args.push_back(v);
  };
  add("r.host = ?", f.host);
  add("r.git_commit LIKE ? || '%'", f.commit);
  add("r.date >= ?", f.since);
  // until is inclusive of the day given: "2026-11-30" keeps that whole day.
  add("substr(r.date, 1, length(?)) <= ?", f.until);
  if (!f.until.empty()) w.args.push_back(f.until);
  add("r.kind = ?", f.kind);
  const std::string cell_cond = cells_joined ? "" : "r.id IN (SELECT run_id FROM cells c WHERE 1";
  if (cells_joined) {
    add("c.backend = ?", f.backend);
    add("instr(c.config, ?) > 0", f.config);
  } else if (!f.backend.empty() || !f.config.empty()) {
    std::string sub = cell_cond;
    std::vector<std::string> a;
    if (!f.backend.empty()) sub += " AND c.backend = ?", a.push_back(f.backend);
    if (!f.config.empty()) sub += " AND instr(c.config, ?) > 0", a.push_back(f.config);
    w.sql += (w.sql.empty() ? " WHERE " : " AND ") + sub + ")";
    w.args.insert(w.args.end(), a.begin(), a.end());
  }
  return w;
}

void BindAll(Stmt& s, const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) s.Bind(static_cast<int>(i + 1), args[i]);
}

constexpr const char* kRunColumns = "r.id, r.kind, r.dir, r.host, r.git_commit, r.dirty, r.date, r.preset, r.shard";

RunSummary SummaryFrom(const Stmt& s) {
  RunSummary r;
  r.id = s.Int(0);
  r.kind = s.Text(1);
  r.dir = s.Text(2);
  r.host = s.Text(3);
  r.commit = s.Text(4);
  r.dirty = s.Int(5) != 0;
  r.date = s.Text(6);
  r.preset = s.Text(7);
  r.shard = s.Text(8);
  return r;
}

// The test hook of the kill test (tests/cli/history_kill_test.sh): after this many cells of a
// Record, touch DB.paused and sleep, so the test can SIGKILL the process inside the transaction.
size_t PauseAfterCells() {
  const char* v = std::getenv("ATTNBENCH_TEST_HISTORY_PAUSE_AFTER");
  return v && *v ? static_cast<size_t>(std::atol(v)) : 0;
}

}  // namespace

nlohmann::json RunSummary::ToJson() const {
  return {{"id", id},     {"kind", kind},   {"dir", dir},     {"host", host},   {"commit", commit},
          {"dirty", dirty}, {"date", date}, {"preset", preset}, {"shard", shard}, {"cells", cells},
          {"statuses", statuses}};
}

std::string DefaultDbPath() { return "results/attnbench.db"; }

HistoryDb::HistoryDb(const std::string& path) : path_(path) {
  std::error_code ec;
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent, ec);
  if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw InputError("--db: cannot open '" + path + "': " + msg);
  }
  sqlite3_busy_timeout(db_, 30000);  // concurrent benches on one host wait for each other's write
  try {
    Exec(kSchema);
    Stmt get(db_, "SELECT value FROM meta WHERE key = 'format'");
    if (get.Step()) {
      if (get.Text(0) != kFormat)
        throw InputError("--db: '" + path + "' is a history of format " + get.Text(0) + ", not " + kFormat);
    } else {
      Stmt put(db_, "INSERT INTO meta (key, value) VALUES ('format', ?)");
      put.Bind(1, std::string(kFormat)).Step();
    }
  } catch (const InputError&) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  } catch (const std::exception& e) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw InputError("--db: '" + path + "' is not an attnbench history database (" + e.what() + ")");
  }
}

HistoryDb::~HistoryDb() { sqlite3_close(db_); }

void HistoryDb::Exec(const std::string& sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    const std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error("history: " + msg);
  }
}

int64_t HistoryDb::Record(const RunToRecord& in) {
  const nlohmann::json& env = in.run->env;
  const std::string dir = fs::absolute(in.dir).lexically_normal().string();
  const std::string host = EnvText(env, "host");
  const std::string uid = in.kind + "|" + host + "|" + dir + "|" + in.record.started;
  const std::string shard = in.record.spec.shard_count > 1
                                ? std::to_string(in.record.spec.shard_index) + "/" + std::to_string(in.record.spec.shard_count)
                                : "";
  nlohmann::json env_full = env;
  nlohmann::json sgemm = nlohmann::json::object();
  for (const auto& [t, g] : in.run->sgemm_gflops) sgemm[std::to_string(t)] = g;
  env_full["sgemm_gflops"] = sgemm;
  const size_t pause = PauseAfterCells();
  Exec("BEGIN IMMEDIATE");
  try {
    Stmt del_cells(db_, "DELETE FROM cells WHERE run_id IN (SELECT id FROM runs WHERE uid = ?)");
    del_cells.Bind(1, uid).Step();
    Stmt del_run(db_, "DELETE FROM runs WHERE uid = ?");
    del_run.Bind(1, uid).Step();
    Stmt run(db_,
             "INSERT INTO runs (uid, kind, dir, host, git_commit, dirty, date, recorded_at, preset, shard, env_json, "
             "sweep_json, gbench_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    run.Bind(1, uid).Bind(2, in.kind).Bind(3, dir).Bind(4, host).Bind(5, EnvText(env, "git", "commit"));
    run.Bind(6, int64_t{EnvText(env, "git", "dirty") == "true"});
    run.Bind(7, EnvText(env, "date")).Bind(8, bench::UtcTimestamp()).Bind(9, in.record.spec.PresetName());
    run.Bind(10, shard).Bind(11, env_full.dump()).Bind(12, bench::SweepRecordJson(in.record).dump());
    run.Bind(13, in.run->gbench.dump());
    run.Step();
    const int64_t id = sqlite3_last_insert_rowid(db_);
    int64_t pos = 0;
    for (const bench::Cell& c : in.run->cells) {
      if (pause && static_cast<size_t>(pos) == pause) {
        std::ofstream(path_ + ".paused") << getpid() << "\n";
        std::this_thread::sleep_for(std::chrono::seconds(60));
      }
      Stmt one(db_,
               "INSERT INTO cells (run_id, pos, name, backend, config, status, median_s, gflops, row_json) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
      one.Bind(1, id).Bind(2, pos++).Bind(3, c.name).Bind(4, c.backend).Bind(5, ConfigOf(c)).Bind(6, c.status);
      one.Bind(7, c.median_s).Bind(8, c.gflops).Bind(9, bench::CellToJson(c).dump());
      one.Step();
    }
    Exec("COMMIT");
    return id;
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

int HistoryDb::Import(const std::string& other_path) {
  {
    HistoryDb check(other_path);  // refuses a file that is not a history
  }
  Stmt attach(db_, "ATTACH DATABASE ? AS src");
  attach.Bind(1, other_path).Step();
  int n = 0;
  try {
    Exec("BEGIN IMMEDIATE");
    Exec("DELETE FROM main.cells WHERE run_id IN (SELECT id FROM main.runs WHERE uid IN (SELECT uid FROM src.runs))");
    Exec("DELETE FROM main.runs WHERE uid IN (SELECT uid FROM src.runs)");
    Exec("INSERT INTO main.runs (uid, kind, dir, host, git_commit, dirty, date, recorded_at, preset, shard, env_json, "
         "sweep_json, gbench_json) SELECT uid, kind, dir, host, git_commit, dirty, date, recorded_at, preset, shard, "
         "env_json, sweep_json, gbench_json FROM src.runs ORDER BY id");
    n = sqlite3_changes(db_);
    Exec("INSERT INTO main.cells (run_id, pos, name, backend, config, status, median_s, gflops, row_json) "
         "SELECT (SELECT m.id FROM main.runs m WHERE m.uid = r.uid), c.pos, c.name, c.backend, c.config, c.status, "
         "c.median_s, c.gflops, c.row_json FROM src.cells c JOIN src.runs r ON c.run_id = r.id");
    Exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_exec(db_, "DETACH DATABASE src", nullptr, nullptr, nullptr);
    throw;
  }
  Exec("DETACH DATABASE src");
  return n;
}

std::vector<RunSummary> HistoryDb::Runs(const Filter& f) const {
  const Where w = RunWhere(f, false);
  Stmt s(db_, std::string("SELECT ") + kRunColumns + " FROM runs r" + w.sql + " ORDER BY r.date, r.id");
  BindAll(s, w.args);
  std::vector<RunSummary> out;
  while (s.Step()) out.push_back(SummaryFrom(s));
  for (auto& r : out) {
    Stmt c(db_, "SELECT status, count(*) FROM cells WHERE run_id = ? GROUP BY status");
    c.Bind(1, r.id);
    while (c.Step()) {
      r.statuses[c.Text(0)] = static_cast<int>(c.Int(1));
      r.cells += static_cast<int>(c.Int(1));
    }
  }
  return out;
}

std::vector<CellRow> HistoryDb::Cells(const Filter& f) const {
  const Where w = RunWhere(f, true);
  Stmt s(db_, "SELECT r.id, r.date, r.host, r.git_commit, c.config, c.row_json FROM cells c JOIN runs r ON c.run_id = r.id" +
                  w.sql + " ORDER BY r.date, r.id, c.pos");
  BindAll(s, w.args);
  std::vector<CellRow> out;
  while (s.Step()) {
    CellRow row;
    row.run_id = s.Int(0);
    row.date = s.Text(1);
    row.host = s.Text(2);
    row.commit = s.Text(3);
    row.config = s.Text(4);
    row.cell = bench::CellFromJson(nlohmann::json::parse(s.Text(5)));
    out.push_back(std::move(row));
  }
  return out;
}

StoredRun HistoryDb::Load(int64_t id) const {
  Stmt s(db_, std::string("SELECT ") + kRunColumns + ", r.env_json, r.gbench_json FROM runs r WHERE r.id = ?");
  s.Bind(1, id);
  if (!s.Step()) throw InputError("history: no run " + std::to_string(id) + " in " + path_);
  StoredRun r;
  r.summary = SummaryFrom(s);
  r.env = nlohmann::json::parse(s.Text(9));
  r.gbench = nlohmann::json::parse(s.Text(10));
  Stmt c(db_, "SELECT row_json FROM cells WHERE run_id = ? ORDER BY pos");
  c.Bind(1, id);
  while (c.Step()) r.cells.push_back(bench::CellFromJson(nlohmann::json::parse(c.Text(0))));
  r.summary.cells = static_cast<int>(r.cells.size());
  return r;
}

void ExportRun(const StoredRun& r, const std::string& dir) {
  fs::create_directories(dir);
  bench::BenchRun run;
  run.env = r.env;
  if (r.env.contains("sgemm_gflops") && r.env["sgemm_gflops"].is_object())
    for (const auto& [t, g] : r.env["sgemm_gflops"].items())
      if (g.is_number()) run.sgemm_gflops[std::stoi(t)] = g.get<double>();
  run.env.erase("sgemm_gflops");
  run.cells = r.cells;
  run.gbench = r.gbench;
  for (const auto& f : bench::ReporterFormats()) {
    const auto rep = bench::MakeReporter(f);
    bench::WriteFileAtomic((fs::path(dir) / rep->FileName()).string(), rep->Render(run));
  }
}

}  // namespace attnbench::history
