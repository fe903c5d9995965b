// store/segment_archive.h: package bytes in append-only segment files, many
// bodies made durable by one write and one fdatasync (group commit).
//
// The archive replaces one file per package (temp file, fsync, rename, fsync
// of the folder for each) with records appended to large files. A database
// row keeps the PackageRef an append returned; read(ref) gives the bytes back.
//
// Contract
// - Thread safety: every method may be called from any number of threads at
//   once. Concurrent append() calls are coalesced leader/follower style,
//   without a thread of its own: a caller that finds no write in progress
//   writes the requests queued so far (its own first), at most
//   Options::max_batch_bodies bodies or max_batch_bytes bytes, with one
//   write and one fdatasync per segment touched; the callers that arrived
//   meanwhile wait and form the next batch, led by the first of them. A
//   request (one append call) is never split between batches.
// - Durability: once append() has returned refs, every body it was given is
//   on disk (written and fdatasync'ed, and the folder fsync'ed if the
//   record's segment file is new): it survives kill -9 of the process and a
//   power loss on a disk that honours flushes, and read(ref) returns it until
//   drop_segments_before() removes its segment. A call that returned an error
//   promises nothing: its bodies may be on disk or not, but no ref names them,
//   and open() may cut them as a torn tail.
// - Errors: Errc::usage for a request the archive refuses (a body above
//   max_record_bytes, impossible options); Errc::io when the file system
//   fails (the message names the file and the system's reason); Errc::invalid
//   for a ref that names no good record (out of bounds, another record, bytes
//   that changed) and for a folder that open() finds damaged beyond a torn
//   tail. Every caller of a failed batch gets its error. A failed write is
//   cut back (ftruncate) so the next batch does not follow garbage; if that
//   cut or an fdatasync fails, the page cache can no longer be trusted and
//   every later append fails until the archive is opened again (open() cuts
//   whatever was left).
// - One SegmentArchive per folder at a time: open() takes an exclusive
//   flock(2) on FOLDER/LOCK and refuses when another holder has it (another
//   process, or another SegmentArchive of this one).
//
// Layout, in FOLDER/ (the gateway's DATA_DIR/segments/):
//   000000000001.seg  segments, named by a 12-digit sequence number; only the
//   000000000002.seg  highest one is written; lower ones are closed for good
//   LOCK              the flock above (empty)
// A record goes to a new segment when it would make the current one pass
// Options::max_segment_bytes; a record larger than that gets a segment of its
// own. Retention removes whole closed segments.
//
// Record, format version 1 (integers little-endian), like leveldb's
// log_format.h:
//    0  magic        4 bytes  ED 53 45 47 ("\xEDSEG")
//    4  version      1 byte   0x01
//    5  reserved     3 bytes  zero
//    8  length       8 bytes  length of the body
//   16  segment      8 bytes  sequence number of the segment file holding it
//   24  offset       8 bytes  where this record starts in that file
//   32  write_start  8 bytes  where the write (batch) holding it started in that file
//   40  body_sha256 32 bytes  SHA-256 of the body
//   72  header_check 8 bytes  the first 8 bytes of SHA-256 of bytes 0-71
//   80  body        `length` bytes
// header_check lets a reader trust `length` before reading that far: a
// header that is incomplete, garbage or zeros (blocks a crash left
// unwritten) never passes for a record. segment and offset make a record
// found anywhere else than where it was written (a copied file, a body that
// holds segment bytes) refuse to be read as the record there.
//
// Torn tails: at open() the last segment is scanned from its start. The
// first bad spot (an incomplete header, a body the file ends inside, a body
// whose SHA-256 does not match, bytes that are not a header) starts a torn
// tail, cut with ftruncate and fsync, since writes are sequential and each
// starts only after the previous one was acknowledged: what follows the
// last acknowledged write is the write a crash interrupted. Unlike the
// signature log's torn frames, the cut bytes are not kept: no ref names
// them, and a copy would escape retention. Damage to acknowledged data is
// told apart by write_start: when a whole record after the bad spot belongs
// to a write that started after it, open() refuses (Errc::invalid) and cuts
// nothing.
// Earlier segments are not rescanned (they are only checked to be regular
// files of a plausible size); read() checks every record it returns.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.h"

namespace edocgw::store {

inline constexpr unsigned char kSegmentMagic[4] = {0xED, 0x53, 0x45, 0x47};
inline constexpr unsigned char kSegmentFormatVersion = 1;
inline constexpr size_t kRecordHeaderBytes = 80;

// Where one body lives: what a database row stores.
struct PackageRef {
  std::uint64_t segment = 0;  // sequence number of the segment file
  std::uint64_t offset = 0;   // of the record (its header) in that file
  std::uint64_t length = 0;   // of the body
  std::string sha256_hex;     // of the body, lower-case hex

  bool operator==(const PackageRef&) const = default;
};

// The file name of segment `sequence` ("000000000001.seg").
std::string segment_file_name(std::uint64_t sequence);

// The archive's folder in a gateway's data-dir.
inline constexpr std::string_view kSegmentsFolder = "segments";

// How the signature log and people name a body: its place relative to the
// data-dir, "segments/000000000001.seg@OFFSET+LENGTH" (the SHA-256 is logged
// beside it). parse_package_ref_name() reads it back (nullopt for any other
// text), with the SHA-256 given.
std::string package_ref_name(const PackageRef& ref);
std::optional<PackageRef> parse_package_ref_name(std::string_view name,
                                                 std::string_view sha256_hex);

class SegmentArchive {
 public:
  struct Options {
    // A record that would make a segment pass this goes to a new segment.
    std::uint64_t max_segment_bytes = 256ull << 20;
    // Bodies above this are refused by append() and read().
    std::uint64_t max_record_bytes = 256ull << 20;
    // Bounds of one group commit (a single larger request is written alone).
    size_t max_batch_bodies = 256;
    std::uint64_t max_batch_bytes = 64ull << 20;
  };

  // Counters since open, for metrics and tests.
  struct Stats {
    std::uint64_t appends = 0;  // append() calls that returned refs
    std::uint64_t bodies = 0;   // bodies made durable
    std::uint64_t batches = 0;  // group commits that succeeded
    std::uint64_t syncs = 0;    // fdatasync and folder fsync calls
    std::uint64_t bytes = 0;    // record bytes written (headers included)
  };

  // Opens FOLDER (created if missing), takes its lock, cuts the last
  // segment's torn tail (notices() says what was cut) and makes sure a
  // segment exists to write into.
  static Result<std::unique_ptr<SegmentArchive>> open(const std::filesystem::path& folder,
                                                      Options options);
  static Result<std::unique_ptr<SegmentArchive>> open(const std::filesystem::path& folder) {
    return open(folder, Options());
  }
  ~SegmentArchive();
  SegmentArchive(const SegmentArchive&) = delete;
  SegmentArchive& operator=(const SegmentArchive&) = delete;

  // Appends every body, durably, in order; returns their refs in the same
  // order. An empty list returns at once.
  Result<std::vector<PackageRef>> append(std::vector<std::string_view> bodies);

  // The body `ref` names, after checking the ref against the segment's size
  // and the max record size, the record's header against the ref, and the
  // body against its SHA-256. Errors name the segment and the offset.
  Result<std::string> read(const PackageRef& ref) const;
  // The same check and read without an open archive: no lock is taken, so an
  // auditor can read a live gateway's folder or a copy of it. nullopt when
  // the segment file does not exist (dropped by retention); an error when
  // it exists and does not hold that record.
  static Result<std::optional<std::string>> read_record(const std::filesystem::path& folder,
                                                        const PackageRef& ref,
                                                        std::uint64_t max_record_bytes);

  // Sequence numbers of the segments in the folder, ascending.
  Result<std::vector<std::uint64_t>> segments() const;
  // Retention: unlinks every segment numbered below `segment`, except the
  // one being written (never removed), then fsyncs the folder.
  Status drop_segments_before(std::uint64_t segment);

  // The segment being written now.
  std::uint64_t current_segment() const { return current_segment_.load(); }
  Stats stats() const;
  // What open() did that an operator should hear of (a torn tail cut), one
  // sentence each.
  const std::vector<std::string>& notices() const { return notices_; }
  const std::filesystem::path& folder() const { return folder_; }

 private:
  struct Waiter;
  SegmentArchive() = default;

  std::vector<Waiter*> take_batch_locked();
  Status commit(const std::vector<Waiter*>& batch);
  Status write_chunk(std::vector<std::string>& headers, std::vector<std::string_view>& bodies,
                     std::uint64_t chunk_start);
  Status start_next_segment();
  std::filesystem::path segment_path(std::uint64_t sequence) const;

  std::filesystem::path folder_;
  Options options_;
  std::vector<std::string> notices_;
  int lock_fd_ = -1;

  // Group commit: waiters queue here; one leader at a time writes.
  std::mutex mutex_;
  std::deque<Waiter*> queue_;
  bool leader_active_ = false;

  // Touched by the leader only (one at a time, ordered by mutex_).
  int fd_ = -1;                  // the current segment, O_APPEND
  std::uint64_t end_ = 0;        // its size: the end of its last good record
  bool folder_synced_ = true;    // the current segment's name is durable
  std::optional<Error> failed_;  // set when the page cache can no longer be trusted
  std::atomic<std::uint64_t> current_segment_{0};

  std::atomic<std::uint64_t> appends_{0}, bodies_{0}, batches_{0}, syncs_{0}, bytes_{0};
};

}  // namespace edocgw::store
