// bench/segment_bench.cc: durable package bytes, segment archive against one
// file per package.
//
//   build/bench/segment_bench [--dir DIR] [--seconds N] [--threads 1,16,64]
//                             [--body-bytes B] [--rounds R]
//
// For each thread count, in the same run and in one folder (so one file
// system): T threads append B-byte bodies (default 10,240) one per call to a
// store::SegmentArchive for N seconds (default 5), then T threads write
// each body to its own file with write_file_atomic (temporary file, fsync,
// rename, fsync of the folder: the gateway's packages/ID.xml today) for N
// seconds; R rounds (default 3) alternate the two, and the median round of
// each is reported. Prints bodies/s and p50/p99 latency of each, their
// ratio, bodies per group commit, and flushes per body (fdatasync and
// folder fsync calls; write_file_atomic makes 2 per file). DIR (default
// ./segment-bench) is created; what each run wrote is removed after it.
#include <fcntl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "store/segment_archive.h"
#include "util/bytes.h"

namespace {

using namespace edocgw;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

struct Run {
  std::uint64_t bodies = 0;
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0;
  std::uint64_t flushes = 0;
  std::uint64_t batches = 0;
  double rate() const { return seconds > 0 ? bodies / seconds : 0; }
};

// Runs `one(thread, n)` (one durable body) from `threads` threads for
// `seconds`; false from `one` stops the run with an error.
Run drive(int threads, double seconds, const std::function<bool(int, std::uint64_t)>& one) {
  std::vector<std::vector<float>> latencies(threads);
  std::atomic<bool> go{false}, failed{false};
  Steady::time_point start, deadline;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      auto& mine = latencies[t];
      for (std::uint64_t n = 0;; ++n) {
        const auto before = Steady::now();
        if (before >= deadline) return;
        if (!one(t, n)) {
          failed = true;
          return;
        }
        mine.push_back(std::chrono::duration<float, std::milli>(Steady::now() - before).count());
      }
    });
  }
  start = Steady::now();
  deadline =
      start + std::chrono::duration_cast<Steady::duration>(std::chrono::duration<double>(seconds));
  go = true;
  for (auto& th : pool) th.join();
  Run r;
  r.seconds = std::chrono::duration<double>(Steady::now() - start).count();
  std::vector<float> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  r.bodies = all.size();
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    r.p50_ms = all[all.size() / 2];
    r.p99_ms = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  if (failed) {
    std::fprintf(stderr, "segment_bench: a write failed; the numbers are not valid\n");
    std::exit(2);
  }
  return r;
}

// A body per thread; the first bytes carry the counter so no two are equal.
std::string body_for(std::vector<std::string>& bodies, int t, std::uint64_t n) {
  std::string& b = bodies[t];
  std::memcpy(b.data(), &n, std::min(sizeof n, b.size()));
  return b;
}

// The run of median rate (sorts `runs`).
const Run& median(std::vector<Run>& runs) {
  std::sort(runs.begin(), runs.end(),
            [](const Run& a, const Run& b) { return a.rate() < b.rate(); });
  return runs[runs.size() / 2];
}

// Removes what a run wrote and waits until the file system has that on
// disk, so that the next run does not pay for this one's unlinks.
void settle(const fs::path& dir, const fs::path& written) {
  std::error_code ec;
  fs::remove_all(written, ec);
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::syncfs(fd);
    ::close(fd);
  }
}

std::vector<int> parse_threads(const char* text) {
  std::vector<int> out;
  for (const char* p = text; *p;) {
    char* end = nullptr;
    const long v = std::strtol(p, &end, 10);
    if (end == p || v < 1 || v > 1024) {
      std::fprintf(stderr, "segment_bench: --threads takes numbers like 1,16,64\n");
      std::exit(2);
    }
    out.push_back(static_cast<int>(v));
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path dir = "segment-bench";
  double seconds = 5;
  std::vector<int> thread_counts = {1, 16, 64};
  size_t body_bytes = 10240;
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    if (value == nullptr) {
      std::fprintf(stderr,
                   "usage: segment_bench [--dir DIR] [--seconds N] [--threads 1,16,64] "
                   "[--body-bytes B] [--rounds R]\n");
      return 2;
    }
    if (arg == "--dir") {
      dir = value;
    } else if (arg == "--seconds") {
      seconds = std::atof(value);
    } else if (arg == "--threads") {
      thread_counts = parse_threads(value);
    } else if (arg == "--rounds") {
      rounds = std::atoi(value);
    } else if (arg == "--body-bytes") {
      body_bytes = static_cast<size_t>(std::atoll(value));
    } else {
      std::fprintf(stderr, "segment_bench: unknown option %s\n", arg.c_str());
      return 2;
    }
    ++i;
  }
  if (seconds <= 0 || body_bytes < 8 || rounds < 1) {
    std::fprintf(stderr,
                 "segment_bench: --seconds must be above 0, --body-bytes at least 8, --rounds at "
                 "least 1\n");
    return 2;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::fprintf(stderr, "segment_bench: cannot create %s: %s\n", dir.c_str(),
                 ec.message().c_str());
    return 2;
  }
  struct statfs fsinfo {};
  ::statfs(dir.c_str(), &fsinfo);
  std::printf(
      "segment_bench: %zu-byte bodies, %.1f s per run, %d rounds, in %s (file system magic "
      "0x%lx)\n",
      body_bytes, seconds, rounds, fs::absolute(dir).c_str(),
      static_cast<unsigned long>(fsinfo.f_type));
  std::printf("%7s | %12s %7s %7s %10s %8s | %12s %7s %7s %8s | %7s\n", "threads", "archive/s",
              "p50 ms", "p99 ms", "per batch", "flush/b", "files/s", "p50 ms", "p99 ms", "flush/b",
              "ratio");
  std::fflush(stdout);

  for (const int threads : thread_counts) {
    std::vector<std::string> bodies(threads);
    for (int t = 0; t < threads; ++t) {
      bodies[t] = random_uuid();
      while (bodies[t].size() < body_bytes) bodies[t] += random_uuid();
      bodies[t].resize(body_bytes);
    }
    // Rounds alternate the two ways, so that load from elsewhere on the
    // machine falls on both; each is reported by its median round.
    std::vector<Run> archive_runs, file_runs;
    for (int round = 0; round < rounds; ++round) {
      // The archive: one append per body; concurrent appends share a flush.
      const fs::path segments = dir / "segments";
      auto archive = store::SegmentArchive::open(segments);
      if (!archive) {
        std::fprintf(stderr, "segment_bench: %s\n", archive.error().message.c_str());
        return 2;
      }
      Run a = drive(threads, seconds, [&](int t, std::uint64_t n) {
        const std::string body = body_for(bodies, t, n);
        auto refs = (*archive)->append({body});
        if (!refs) std::fprintf(stderr, "segment_bench: %s\n", refs.error().message.c_str());
        return refs.ok();
      });
      const auto stats = (*archive)->stats();
      a.flushes = stats.syncs;
      a.batches = stats.batches;
      archive->reset();
      archive_runs.push_back(a);
      settle(dir, segments);

      // One file per body, as gateway/store.cc writes packages today.
      const fs::path files = dir / "files";
      fs::create_directories(files, ec);
      Run f = drive(threads, seconds, [&](int t, std::uint64_t n) {
        const std::string body = body_for(bodies, t, n);
        const auto st =
            write_file_atomic(files / (std::to_string(t) + "-" + std::to_string(n) + ".xml"), body);
        if (!st) std::fprintf(stderr, "segment_bench: %s\n", st.error().message.c_str());
        return st.ok();
      });
      f.flushes = 2 * f.bodies;
      file_runs.push_back(f);
      settle(dir, files);
    }
    const std::vector<Run> archive_rounds = archive_runs, file_rounds = file_runs;
    const Run& a = median(archive_runs);
    const Run& f = median(file_runs);
    std::printf("%7d | %12.0f %7.2f %7.2f %10.1f %8.3f | %12.0f %7.2f %7.2f %8.3f | %7.1f\n",
                threads, a.rate(), a.p50_ms, a.p99_ms,
                a.batches ? static_cast<double>(a.bodies) / a.batches : 0.0,
                a.bodies ? static_cast<double>(a.flushes) / a.bodies : 0.0, f.rate(), f.p50_ms,
                f.p99_ms, f.bodies ? static_cast<double>(f.flushes) / f.bodies : 0.0,
                f.rate() > 0 ? a.rate() / f.rate() : 0.0);
    std::printf("        | rounds (archive/files bodies/s):");
    for (int round = 0; round < rounds; ++round)
      std::printf(" %.0f/%.0f", archive_rounds[round].rate(), file_rounds[round].rate());
    std::printf("\n");
    std::fflush(stdout);
  }
  std::printf(
      "archive/s and files/s: durable bodies per second; per batch: bodies per group commit; "
      "flush/b: fdatasync+fsync calls per body; ratio: archive/s over files/s\n");
  return 0;
}
