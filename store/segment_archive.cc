#include "store/segment_archive.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <exception>

#include "util/bytes.h"

namespace edocgw::store {

// One append() call waiting for its batch; lives on the caller's stack.
struct SegmentArchive::Waiter {
  const std::vector<std::string_view>* bodies = nullptr;
  std::vector<Sha256Digest> digests;  // computed by the caller, outside the lock
  std::uint64_t bytes = 0;            // of its records, headers included
  bool lead = false;                  // this caller writes the next batch
  bool done = false;
  Status status;
  std::vector<PackageRef> refs;
  std::condition_variable wake;
};

namespace {

constexpr size_t kCheckedBytes = 72;  // header bytes covered by header_check

void put_u64le(unsigned char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
std::uint64_t get_u64le(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | p[i];
  return v;
}

Error sys_error(const std::string& what, const std::filesystem::path& path) {
  return make_error(Errc::io, what + " " + path.string() + ": " + std::strerror(errno));
}

struct RecordHeader {
  std::uint64_t length = 0;
  std::uint64_t segment = 0;
  std::uint64_t offset = 0;
  std::uint64_t write_start = 0;
  Sha256Digest body_sha256{};
};

std::string encode_header(const RecordHeader& h) {
  std::string out(kRecordHeaderBytes, '\0');
  auto* p = reinterpret_cast<unsigned char*>(out.data());
  std::memcpy(p, kSegmentMagic, 4);
  p[4] = kSegmentFormatVersion;
  put_u64le(p + 8, h.length);
  put_u64le(p + 16, h.segment);
  put_u64le(p + 24, h.offset);
  put_u64le(p + 32, h.write_start);
  std::memcpy(p + 40, h.body_sha256.data(), 32);
  const Sha256Digest check = sha256(std::string_view(out.data(), kCheckedBytes));
  std::memcpy(p + kCheckedBytes, check.data(), 8);
  return out;
}

// Why the kRecordHeaderBytes at `p` are not a record header (nullopt: they
// are, and `h` holds it).
std::optional<std::string> decode_header(const unsigned char* p, RecordHeader& h) {
  if (std::memcmp(p, kSegmentMagic, 4) != 0)
    return "no record starts there (the marker ED 53 45 47 is missing)";
  if (p[4] != kSegmentFormatVersion)
    return "the record has format version " + std::to_string(p[4]) +
           "; this edocgw reads version 1";
  const Sha256Digest check =
      sha256(std::string_view(reinterpret_cast<const char*>(p), kCheckedBytes));
  if (std::memcmp(check.data(), p + kCheckedBytes, 8) != 0)
    return "the record header does not match its check: its bytes were changed or never "
           "written whole";
  if (p[5] != 0 || p[6] != 0 || p[7] != 0) return "the record header's reserved bytes are not 0";
  h.length = get_u64le(p + 8);
  h.segment = get_u64le(p + 16);
  h.offset = get_u64le(p + 24);
  h.write_start = get_u64le(p + 32);
  std::memcpy(h.body_sha256.data(), p + 40, 32);
  return std::nullopt;
}

// A read-only view of a whole open file (an empty file maps to nothing).
class Mapped {
 public:
  ~Mapped() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  Mapped(const Mapped&) = delete;
  Mapped& operator=(const Mapped&) = delete;
  static Result<std::unique_ptr<Mapped>> of(int fd, const std::filesystem::path& path) {
    auto m = std::unique_ptr<Mapped>(new Mapped);
    struct stat st {};
    if (::fstat(fd, &st) != 0) return sys_error("cannot stat", path);
    m->size_ = static_cast<size_t>(st.st_size);
    if (m->size_ > 0) {
      void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) return sys_error("cannot map", path);
      ::madvise(p, m->size_, MADV_SEQUENTIAL);
      m->data_ = static_cast<unsigned char*>(p);
    }
    return m;
  }
  const unsigned char* data() const { return data_; }
  std::uint64_t size() const { return size_; }

 private:
  Mapped() = default;
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

// Why the bytes at `pos` of segment `sequence` (p, size) are not one whole
// record written there; nullopt when they are (`h` holds its header).
std::optional<std::string> check_record_at(const unsigned char* p, std::uint64_t size,
                                           std::uint64_t pos, std::uint64_t sequence,
                                           RecordHeader& h) {
  if (size - pos < kRecordHeaderBytes)
    return "its header is incomplete: the file ends " + std::to_string(size - pos) +
           " bytes after it starts";
  if (auto why = decode_header(p + pos, h)) return why;
  if (h.segment != sequence || h.offset != pos)
    return "the record header there was written for segment " + std::to_string(h.segment) +
           " at byte " + std::to_string(h.offset);
  if (h.write_start > pos) return "the record header says its write started after it";
  if (h.length > size - pos - kRecordHeaderBytes)
    return "the file ends inside its body (" + std::to_string(h.length) + " bytes, " +
           std::to_string(size - pos - kRecordHeaderBytes) + " there)";
  const auto body = std::string_view(reinterpret_cast<const char*>(p + pos + kRecordHeaderBytes),
                                     static_cast<size_t>(h.length));
  if (sha256(body) != h.body_sha256) return "its body does not match its SHA-256";
  return std::nullopt;
}

// What a scan of the last segment found.
struct Scan {
  std::uint64_t good_end = 0;  // end of the last whole record before any bad spot
  std::string problem;         // why the bytes at good_end are not a record; empty at the end
  std::optional<std::uint64_t> later_write;  // a whole record, after good_end, of a later write
};

Scan scan_segment(const Mapped& m, std::uint64_t sequence) {
  Scan s;
  const unsigned char* p = m.data();
  const std::uint64_t size = m.size();
  std::uint64_t pos = 0;
  while (pos < size) {
    RecordHeader h;
    if (auto why = check_record_at(p, size, pos, sequence, h)) {
      s.problem = std::move(*why);
      break;
    }
    pos += kRecordHeaderBytes + h.length;
  }
  s.good_end = pos;
  if (s.problem.empty()) return s;
  // A torn tail is the end of one write. A whole record of a write that
  // started after the bad spot shows the bad spot was acknowledged data.
  for (std::uint64_t q = pos + 1; q < size;) {
    const void* hit = std::memchr(p + q, kSegmentMagic[0], static_cast<size_t>(size - q));
    if (hit == nullptr) break;
    q = static_cast<std::uint64_t>(static_cast<const unsigned char*>(hit) - p);
    RecordHeader h;
    if (!check_record_at(p, size, q, sequence, h) && h.write_start > pos) {
      s.later_write = q;
      break;
    }
    ++q;
  }
  return s;
}

struct SegmentFile {
  std::uint64_t sequence = 0;
  std::filesystem::path path;
};

// The segment files of `folder` ("NNNNNNNNNNNN.seg"), ascending; other names
// are not ours and are left alone.
Result<std::vector<SegmentFile>> list_segments(const std::filesystem::path& folder) {
  std::vector<SegmentFile> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(folder, ec);
  if (ec) return make_error(Errc::io, "cannot list " + folder.string() + ": " + ec.message());
  for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() != 16 || name.compare(12, 4, ".seg") != 0) continue;
    if (!std::all_of(name.begin(), name.begin() + 12, [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    SegmentFile f;
    f.sequence = std::stoull(name.substr(0, 12));
    f.path = it->path();
    out.push_back(std::move(f));
  }
  if (ec) return make_error(Errc::io, "cannot list " + folder.string() + ": " + ec.message());
  std::sort(out.begin(), out.end(),
            [](const SegmentFile& a, const SegmentFile& b) { return a.sequence < b.sequence; });
  return out;
}

// Reads exactly `n` bytes at `offset`; false at the end of the file or on
// an error (errno tells which: 0 at the end).
bool pread_exact(int fd, char* out, size_t n, std::uint64_t offset) {
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, out + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) {
      errno = 0;
      return false;
    }
    done += static_cast<size_t>(r);
  }
  return true;
}

}  // namespace

std::string segment_file_name(std::uint64_t sequence) {
  char name[32];
  std::snprintf(name, sizeof name, "%012llu.seg", static_cast<unsigned long long>(sequence));
  return name;
}

std::filesystem::path SegmentArchive::segment_path(std::uint64_t sequence) const {
  return folder_ / segment_file_name(sequence);
}

Result<std::unique_ptr<SegmentArchive>> SegmentArchive::open(const std::filesystem::path& folder,
                                                             Options options) {
  if (options.max_segment_bytes == 0 || options.max_record_bytes == 0 ||
      options.max_batch_bodies == 0 || options.max_batch_bytes == 0)
    return make_error(Errc::usage,
                      "segment archive options: every size and batch bound must be above 0");
  std::unique_ptr<SegmentArchive> a(new SegmentArchive);
  a->folder_ = folder;
  a->options_ = options;
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return make_error(Errc::io, "cannot create " + folder.string() + ": " + ec.message());

  const auto lock_path = folder / "LOCK";
  a->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (a->lock_fd_ < 0) return sys_error("cannot open", lock_path);
  if (::flock(a->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return make_error(Errc::io, "the segment archive " + folder.string() +
                                      " is already open (another process or another "
                                      "SegmentArchive holds " +
                                      lock_path.string() + ")");
    return sys_error("cannot lock", lock_path);
  }

  auto files = list_segments(folder);
  if (!files) return files.error();
  // Earlier segments are closed: checked for kind and size, not rescanned.
  for (size_t i = 0; i + 1 < files->size(); ++i) {
    const auto& f = (*files)[i];
    struct stat st {};
    if (::lstat(f.path.c_str(), &st) != 0) return sys_error("cannot stat", f.path);
    if (!S_ISREG(st.st_mode))
      return make_error(Errc::invalid, "segment " + f.path.string() +
                                           " is not a regular file (a link or a folder): "
                                           "the archive is not opened over it");
    if (st.st_size > 0 && static_cast<std::uint64_t>(st.st_size) < kRecordHeaderBytes)
      return make_error(Errc::invalid, "segment " + f.path.string() + " holds " +
                                           std::to_string(st.st_size) +
                                           " bytes, less than one record: it was damaged");
  }

  if (files->empty()) {
    a->current_segment_ = 1;
    const auto path = a->segment_path(1);
    a->fd_ =
        ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (a->fd_ < 0) return sys_error("cannot create", path);
  } else {
    const SegmentFile& last = files->back();
    a->current_segment_ = last.sequence;
    a->fd_ = ::open(last.path.c_str(), O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (a->fd_ < 0) {
      if (errno == ELOOP)
        return make_error(Errc::invalid, "segment " + last.path.string() +
                                             " is a symbolic link: the archive is not opened "
                                             "over it");
      return sys_error("cannot open", last.path);
    }
    struct stat st {};
    if (::fstat(a->fd_, &st) != 0) return sys_error("cannot stat", last.path);
    if (!S_ISREG(st.st_mode))
      return make_error(Errc::invalid, "segment " + last.path.string() +
                                           " is not a regular file: the archive is not opened "
                                           "over it");
    auto mapped = Mapped::of(a->fd_, last.path);
    if (!mapped) return mapped.error();
    const Scan s = scan_segment(**mapped, last.sequence);
    const std::uint64_t size = (*mapped)->size();
    mapped->reset();
    if (!s.problem.empty()) {
      const std::string where =
          "segment " + last.path.string() + ", the record at byte " + std::to_string(s.good_end);
      if (s.later_write)
        return make_error(Errc::invalid, where + ": " + s.problem +
                                             "; yet a whole record written later follows at byte " +
                                             std::to_string(*s.later_write) +
                                             ", so this is damage, not a torn tail: the archive "
                                             "is not opened; keep the folder as evidence");
      // The write being made when the process or the machine stopped: no
      // append returned its refs, so nothing names these bytes.
      if (::ftruncate(a->fd_, static_cast<off_t>(s.good_end)) != 0)
        return sys_error("cannot truncate", last.path);
      if (::fsync(a->fd_) != 0) return sys_error("cannot flush", last.path);
      a->notices_.push_back("segments: cut a torn tail of " + std::to_string(size - s.good_end) +
                            " bytes from " + where + " (" + s.problem +
                            "); no append had returned it");
    }
    a->end_ = s.good_end;
  }
  // The current segment's name is durable before any append relies on it.
  if (auto st = sync_folder(folder); !st) return st.error();
  return a;
}

SegmentArchive::~SegmentArchive() {
  if (fd_ >= 0) ::close(fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

SegmentArchive::Stats SegmentArchive::stats() const {
  Stats s;
  s.appends = appends_.load();
  s.bodies = bodies_.load();
  s.batches = batches_.load();
  s.syncs = syncs_.load();
  s.bytes = bytes_.load();
  return s;
}

Result<std::vector<PackageRef>> SegmentArchive::append(std::vector<std::string_view> bodies) {
  if (bodies.empty()) return std::vector<PackageRef>();
  Waiter w;
  w.bodies = &bodies;
  w.digests.reserve(bodies.size());
  for (size_t i = 0; i < bodies.size(); ++i) {
    if (bodies[i].size() > options_.max_record_bytes)
      return make_error(Errc::usage, "body " + std::to_string(i + 1) + " of " +
                                         std::to_string(bodies.size()) + " is " +
                                         std::to_string(bodies[i].size()) +
                                         " bytes, above the archive's max record size of " +
                                         std::to_string(options_.max_record_bytes) + " bytes");
    w.digests.push_back(sha256(bodies[i]));
    w.bytes += kRecordHeaderBytes + bodies[i].size();
  }

  std::unique_lock lock(mutex_);
  queue_.push_back(&w);
  if (!leader_active_) {
    leader_active_ = true;
    w.lead = true;
  }
  w.wake.wait(lock, [&] { return w.done || w.lead; });
  if (!w.done) {
    // The leader: write the front of the queue (this caller first) while
    // the next callers queue behind it.
    const std::vector<Waiter*> batch = take_batch_locked();
    lock.unlock();
    Status status;
    try {
      status = commit(batch);
    } catch (const std::exception& e) {  // bad_alloc: never leave the followers waiting
      status = make_error(Errc::internal, std::string("segment archive: ") + e.what());
    }
    lock.lock();
    for (Waiter* b : batch) {
      b->done = true;
      if (!status) {
        b->status = status;
        b->refs.clear();
      } else {
        appends_.fetch_add(1);
        bodies_.fetch_add(b->bodies->size());
      }
      // Notified under the lock: a follower cannot return (and free its
      // Waiter) before this call is done with it.
      if (b != &w) b->wake.notify_one();
    }
    if (status) batches_.fetch_add(1);
    if (queue_.empty()) {
      leader_active_ = false;
    } else {
      queue_.front()->lead = true;
      queue_.front()->wake.notify_one();
    }
  }
  if (!w.status) return w.status.error();
  return std::move(w.refs);
}

std::vector<SegmentArchive::Waiter*> SegmentArchive::take_batch_locked() {
  std::vector<Waiter*> batch;
  size_t bodies = 0;
  std::uint64_t bytes = 0;
  while (!queue_.empty()) {
    Waiter* next = queue_.front();
    const size_t n = next->bodies->size();
    if (!batch.empty() &&
        (bodies + n > options_.max_batch_bodies || bytes + next->bytes > options_.max_batch_bytes))
      break;
    batch.push_back(next);
    queue_.pop_front();
    bodies += n;
    bytes += next->bytes;
  }
  return batch;
}

Status SegmentArchive::commit(const std::vector<Waiter*>& batch) {
  if (failed_) return *failed_;
  std::vector<std::string> headers;
  std::vector<std::string_view> bodies;
  std::uint64_t chunk_start = end_;
  std::uint64_t at = end_;
  for (Waiter* w : batch) {
    w->refs.clear();
    w->refs.reserve(w->bodies->size());
    for (size_t i = 0; i < w->bodies->size(); ++i) {
      const std::string_view body = (*w->bodies)[i];
      const std::uint64_t record = kRecordHeaderBytes + body.size();
      if (at > 0 && at + record > options_.max_segment_bytes) {
        // What is planned for this segment goes first, durably; then the
        // next segment (a record larger than the maximum gets an empty one).
        if (!headers.empty()) {
          if (auto st = write_chunk(headers, bodies, chunk_start); !st) return st;
          headers.clear();
          bodies.clear();
        }
        if (auto st = start_next_segment(); !st) return st;
        at = 0;
        chunk_start = 0;
      }
      RecordHeader h;
      h.length = body.size();
      h.segment = current_segment_.load();
      h.offset = at;
      h.write_start = chunk_start;
      h.body_sha256 = w->digests[i];
      headers.push_back(encode_header(h));
      bodies.push_back(body);
      PackageRef ref;
      ref.segment = h.segment;
      ref.offset = at;
      ref.length = body.size();
      ref.sha256_hex = to_hex(w->digests[i]);
      w->refs.push_back(std::move(ref));
      at += record;
    }
  }
  if (headers.empty()) return {};
  return write_chunk(headers, bodies, chunk_start);
}

Status SegmentArchive::write_chunk(std::vector<std::string>& headers,
                                   std::vector<std::string_view>& bodies,
                                   std::uint64_t chunk_start) {
  const auto path = segment_path(current_segment_.load());
  std::vector<iovec> iov;
  iov.reserve(headers.size() * 2);
  std::uint64_t total = 0;
  for (size_t i = 0; i < headers.size(); ++i) {
    iov.push_back(iovec{headers[i].data(), headers[i].size()});
    if (!bodies[i].empty())
      iov.push_back(iovec{const_cast<char*>(bodies[i].data()), bodies[i].size()});
    total += headers[i].size() + bodies[i].size();
  }
  // A failed write is cut back, so that the next one does not follow
  // garbage; if even that fails, nothing more is appended until a reopen.
  auto cut_back = [&](Error error) {
    const int saved = errno;
    if (::ftruncate(fd_, static_cast<off_t>(chunk_start)) != 0) {
      failed_ = make_error(Errc::io, "the segment archive stopped appending: " + error.message +
                                         ", and cutting the failed write back failed too (" +
                                         std::strerror(errno) + "); reopen it");
    }
    errno = saved;
    return error;
  };
  for (size_t next = 0; next < iov.size();) {
    const int count = static_cast<int>(std::min<size_t>(iov.size() - next, IOV_MAX));
    const ssize_t n = ::writev(fd_, iov.data() + next, count);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return cut_back(sys_error("cannot append to", path));
    if (n == 0) {
      errno = EIO;
      return cut_back(sys_error("cannot append to", path));
    }
    // Step over what was written; a short write resumes mid-buffer.
    for (size_t left = static_cast<size_t>(n); left > 0;) {
      if (left >= iov[next].iov_len) {
        left -= iov[next].iov_len;
        ++next;
      } else {
        iov[next].iov_base = static_cast<char*>(iov[next].iov_base) + left;
        iov[next].iov_len -= left;
        left = 0;
      }
    }
  }
  if (::fdatasync(fd_) != 0) {
    // After a failed flush the kernel may have dropped the dirty pages and
    // called them clean: nothing written since the last good flush is sure.
    Error error = sys_error("cannot flush", path);
    failed_ = make_error(Errc::io, "the segment archive stopped appending after a failed flush (" +
                                       error.message + "); reopen it once the disk is checked");
    return cut_back(std::move(error));
  }
  syncs_.fetch_add(1);
  if (!folder_synced_) {
    if (auto st = sync_folder(folder_); !st) {
      failed_ =
          make_error(Errc::io, "the segment archive stopped appending after a failed flush (" +
                                   st.error().message + "); reopen it");
      return cut_back(st.error());
    }
    syncs_.fetch_add(1);
    folder_synced_ = true;
  }
  end_ = chunk_start + total;
  bytes_.fetch_add(total);
  return {};
}

Status SegmentArchive::start_next_segment() {
  const std::uint64_t next = current_segment_.load() + 1;
  const auto path = segment_path(next);
  const int fd =
      ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return sys_error("cannot create", path);
  ::close(fd_);
  fd_ = fd;
  end_ = 0;
  folder_synced_ = false;  // its name is made durable with its first write
  current_segment_.store(next);
  return {};
}

Result<std::string> SegmentArchive::read(const PackageRef& ref) const {
  auto body = read_record(folder_, ref, options_.max_record_bytes);
  if (!body) return body.error();
  if (!*body)
    return make_error(Errc::invalid, "package ref to segment " + segment_file_name(ref.segment) +
                                         " at byte " + std::to_string(ref.offset) +
                                         ": the segment does not exist (dropped by retention?)");
  return std::move(**body);
}

Result<std::optional<std::string>> SegmentArchive::read_record(const std::filesystem::path& folder,
                                                               const PackageRef& ref,
                                                               std::uint64_t max_record_bytes) {
  const auto path = folder / segment_file_name(ref.segment);
  const std::string where =
      "segment " + segment_file_name(ref.segment) + " at byte " + std::to_string(ref.offset);
  auto refuse = [&](const std::string& why) {
    return make_error(Errc::invalid, "package ref to " + where + ": " + why);
  };
  if (ref.length > max_record_bytes)
    return refuse("its length " + std::to_string(ref.length) +
                  " is above the archive's max record size of " + std::to_string(max_record_bytes) +
                  " bytes");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    if (errno == ELOOP) return refuse("the segment is a symbolic link, which is never followed");
    return sys_error("cannot open", path);
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) return sys_error("cannot stat", path);
  if (!S_ISREG(st.st_mode)) return refuse("the segment is not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (ref.offset > size || size - ref.offset < kRecordHeaderBytes ||
      size - ref.offset - kRecordHeaderBytes < ref.length)
    return refuse("the record would end past the end of the segment (" + std::to_string(size) +
                  " bytes)");
  unsigned char header[kRecordHeaderBytes];
  if (!pread_exact(fd, reinterpret_cast<char*>(header), sizeof header, ref.offset))
    return errno == 0 ? refuse("the segment ends inside the record")
                      : sys_error("cannot read", path);
  RecordHeader h;
  if (auto why = decode_header(header, h)) return refuse(*why);
  if (h.segment != ref.segment || h.offset != ref.offset)
    return refuse("the record there was written for segment " + std::to_string(h.segment) +
                  " at byte " + std::to_string(h.offset));
  if (h.length != ref.length || to_hex(h.body_sha256) != ref.sha256_hex)
    return refuse("the record there holds another body (" + std::to_string(h.length) +
                  " bytes, SHA-256 " + to_hex(h.body_sha256) + ")");
  std::string body(static_cast<size_t>(ref.length), '\0');
  if (!pread_exact(fd, body.data(), body.size(), ref.offset + kRecordHeaderBytes))
    return errno == 0 ? refuse("the segment ends inside the record")
                      : sys_error("cannot read", path);
  if (sha256(body) != h.body_sha256)
    return refuse("the body was changed: its bytes do not match its SHA-256");
  return std::optional<std::string>(std::move(body));
}

std::string package_ref_name(const PackageRef& ref) {
  return std::string(kSegmentsFolder) + "/" + segment_file_name(ref.segment) + "@" +
         std::to_string(ref.offset) + "+" + std::to_string(ref.length);
}

std::optional<PackageRef> parse_package_ref_name(std::string_view name,
                                                 std::string_view sha256_hex) {
  const std::string prefix = std::string(kSegmentsFolder) + "/";
  if (name.substr(0, prefix.size()) != prefix) return std::nullopt;
  name.remove_prefix(prefix.size());
  // NNNNNNNNNNNN.seg@OFFSET+LENGTH, every number plain decimal digits.
  auto number = [](std::string_view digits, std::uint64_t& out) {
    if (digits.empty() || digits.size() > 19) return false;
    out = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return false;
      out = out * 10 + static_cast<std::uint64_t>(c - '0');
    }
    return true;
  };
  const auto dot = name.find(".seg@");
  const auto plus = name.find('+');
  if (dot != 12 || plus == std::string_view::npos || plus < dot + 5) return std::nullopt;
  PackageRef ref;
  if (!number(name.substr(0, dot), ref.segment) ||
      !number(name.substr(dot + 5, plus - dot - 5), ref.offset) ||
      !number(name.substr(plus + 1), ref.length))
    return std::nullopt;
  ref.sha256_hex = std::string(sha256_hex);
  return ref;
}

Result<std::vector<std::uint64_t>> SegmentArchive::segments() const {
  auto files = list_segments(folder_);
  if (!files) return files.error();
  std::vector<std::uint64_t> out;
  out.reserve(files->size());
  for (const auto& f : *files) out.push_back(f.sequence);
  return out;
}

Status SegmentArchive::drop_segments_before(std::uint64_t segment) {
  const std::uint64_t keep_from = std::min(segment, current_segment_.load());
  auto files = list_segments(folder_);
  if (!files) return files.error();
  bool removed = false;
  for (const auto& f : *files) {
    if (f.sequence >= keep_from) break;
    if (::unlink(f.path.c_str()) != 0 && errno != ENOENT) return sys_error("cannot remove", f.path);
    removed = true;
  }
  if (removed) return sync_folder(folder_);
  return {};
}

}  // namespace edocgw::store
