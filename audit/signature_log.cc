#include "audit/signature_log.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "crypto/certificate.h"
#include "crypto/package_signer.h"
#include "util/bytes.h"

namespace edocgw::audit {
namespace {

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint64_t get_be(const unsigned char* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = v << 8 | p[i];
  return v;
}

Error sys_error(const std::string& what, const std::filesystem::path& path) {
  return make_error(Errc::io, what + " " + path.string() + ": " + std::strerror(errno));
}

// A read-only view of a whole file (empty files map to nothing).
class Mapped {
 public:
  ~Mapped() {
    if (data_ != nullptr) ::munmap(data_, size_);
  }
  static Result<std::unique_ptr<Mapped>> open(const std::filesystem::path& path) {
    auto m = std::unique_ptr<Mapped>(new Mapped);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) return m;
      return sys_error("cannot open", path);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return sys_error("cannot stat", path);
    }
    m->size_ = static_cast<size_t>(st.st_size);
    if (m->size_ > 0) {
      void* p = ::mmap(nullptr, m->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        return sys_error("cannot map", path);
      }
      ::madvise(p, m->size_, MADV_SEQUENTIAL);
      m->data_ = static_cast<unsigned char*>(p);
    }
    ::close(fd);
    return m;
  }
  const unsigned char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  Mapped() = default;
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

// The bytes of `path` from `offset` to its end (a torn frame: small).
Result<std::string> read_tail(const std::filesystem::path& path, std::uint64_t offset) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("cannot open", path);
  std::string out;
  char buffer[65536];
  for (off_t at = static_cast<off_t>(offset);;) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto err = sys_error("cannot read", path);
      ::close(fd);
      return err;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
    at += n;
  }
  ::close(fd);
  return out;
}

std::string base64_of(const Hash& h) {
  return base64_encode(std::string_view(reinterpret_cast<const char*>(h.data()), h.size()));
}

std::string checkpoint_file_name(std::uint64_t size) {
  char name[40];
  std::snprintf(name, sizeof name, "%020llu.note", static_cast<unsigned long long>(size));
  return name;
}

}  // namespace

std::filesystem::path log_dir(const std::filesystem::path& data_dir) {
  return data_dir / "signature-log";
}

std::string dump_payload(const nlohmann::json& payload) {
  return payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<std::optional<std::string>> read_confined(const std::filesystem::path& data_dir,
                                                 std::string_view relative, size_t max_bytes) {
  const std::string shown(relative);
  auto refuse = [&](const std::string& why) {
    return make_error(Errc::invalid, "the path '" + shown + "' " + why);
  };
  if (relative.empty()) return refuse("is empty");
  if (relative.front() == '/') return refuse("is absolute: it must be inside the data-dir");
  if (relative.find('\0') != std::string_view::npos) return refuse("holds a NUL byte");
  std::vector<std::string> parts;
  for (size_t pos = 0; pos <= relative.size();) {
    size_t slash = relative.find('/', pos);
    if (slash == std::string_view::npos) slash = relative.size();
    const std::string part(relative.substr(pos, slash - pos));
    if (part.empty() || part == "." || part == "..")
      return refuse("has an empty, '.' or '..' part: it must stay inside the data-dir");
    parts.push_back(part);
    pos = slash + 1;
  }
  int dir = ::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return sys_error("cannot open", data_dir);
  int fd = -1;
  for (size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    const int flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW | (last ? O_NONBLOCK : O_DIRECTORY);
    fd = ::openat(dir, parts[i].c_str(), flags);
    const int err = errno;
    ::close(dir);
    if (fd < 0) {
      if (err == ENOENT) return std::optional<std::string>();
      if (err == ELOOP || err == ENOTDIR)
        return refuse(
            "goes through a symbolic link or a non-folder, which the auditor never follows");
      errno = err;
      return sys_error("cannot open", data_dir / shown);
    }
    dir = fd;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto e = sys_error("cannot stat", data_dir / shown);
    ::close(fd);
    return e;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return refuse("is not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return refuse("names a file larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::string out;
  out.reserve(static_cast<size_t>(st.st_size));
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      auto e = sys_error("cannot read", data_dir / shown);
      ::close(fd);
      return e;
    }
    if (n == 0) break;
    out.append(buffer, static_cast<size_t>(n));
    if (out.size() > max_bytes) {  // grew while read
      ::close(fd);
      return refuse("names a file larger than " + std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return std::optional<std::string>(std::move(out));
}

std::string encode_frame(std::uint64_t seq, const Hash& prev, std::string_view payload) {
  std::string leaf;
  leaf.reserve(kLeafPrefix + payload.size());
  put_u64(leaf, seq);
  leaf.append(reinterpret_cast<const char*>(prev.data()), prev.size());
  leaf.append(payload);
  std::string frame;
  frame.reserve(kFrameHeader + leaf.size() + 32);
  frame += static_cast<char>(kFrameMagic);
  frame += static_cast<char>(kFrameVersion);
  put_u32(frame, static_cast<std::uint32_t>(leaf.size()));
  frame += leaf;
  const Hash h = leaf_hash(leaf);
  frame.append(reinterpret_cast<const char*>(h.data()), h.size());
  return frame;
}

Result<std::optional<ScanStop>> scan_records(const std::filesystem::path& file,
                                             const std::function<bool(const Record&)>& on_record) {
  auto mapped = Mapped::open(file);
  if (!mapped) return mapped.error();
  const unsigned char* p = (*mapped)->data();
  const std::uint64_t size = (*mapped)->size();
  std::uint64_t pos = 0, index = 0;
  auto stop = [&](bool torn, std::string message) {
    return std::optional<ScanStop>(ScanStop{index, pos, torn, std::move(message)});
  };
  while (pos < size) {
    auto where = [&] {
      return "record " + std::to_string(index) + " (byte " + std::to_string(pos) + ")";
    };
    if (size - pos < kFrameHeader)
      return stop(true, where() + " is cut short: its header is incomplete");
    if (p[pos] != kFrameMagic)
      return stop(false, where() +
                             " does not start with the frame marker 0xED: bytes were changed, "
                             "inserted or removed before it");
    if (p[pos + 1] != kFrameVersion)
      return stop(false, where() + " has frame version " + std::to_string(p[pos + 1]) +
                             "; this edocgw reads version 1");
    const std::uint64_t length = get_be(p + pos + 2, 4);
    if (length < kLeafPrefix || length > kMaxLeaf)
      return stop(false, where() + " has an impossible length " + std::to_string(length));
    const std::uint64_t end = pos + kFrameHeader + length + 32;
    if (end > size) return stop(true, where() + " is cut short: the file ends inside it");
    Record r;
    r.offset = pos;
    r.end = end;
    r.leaf = std::string_view(reinterpret_cast<const char*>(p + pos + kFrameHeader), length);
    r.seq = get_be(p + pos + kFrameHeader, 8);
    std::memcpy(r.prev.data(), p + pos + kFrameHeader + 8, 32);
    r.payload = r.leaf.substr(kLeafPrefix);
    std::memcpy(r.hash.data(), p + pos + kFrameHeader + length, 32);
    if (leaf_hash(r.leaf) != r.hash) {
      return stop(end == size, where() + " was changed: its bytes do not match its leaf hash");
    }
    if (!on_record(r)) return std::optional<ScanStop>();
    pos = end;
    ++index;
  }
  return std::optional<ScanStop>();
}

std::string key_id_of(X509* cert) {
  const Sha256Digest d = sha256(crypto::certificate_der(cert));
  return std::string(reinterpret_cast<const char*>(d.data()), 4);
}

Result<Checkpoint> parse_checkpoint(const std::string& text) {
  Checkpoint c;
  c.text = text;
  const size_t blank = text.find("\n\n");
  if (blank == std::string::npos)
    return make_error(Errc::malformed, "a checkpoint needs a blank line before its signature");
  c.body = text.substr(0, blank + 1);
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < c.body.size();) {
    const size_t nl = c.body.find('\n', pos);
    lines.push_back(c.body.substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (lines.size() < 4) return make_error(Errc::malformed, "a checkpoint body has four lines");
  // Printable ASCII only: these lines reach reports and JSON (an origin that
  // is not UTF-8 made the auditor's output throw).
  auto printable = [](const std::string& t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), [](char ch) {
      return static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7f;
    });
  };
  if (!printable(lines[0]) || lines[0].find(' ') != std::string::npos)
    return make_error(Errc::malformed,
                      "the checkpoint's origin line is not printable ASCII without spaces");
  if (!printable(lines[3]))
    return make_error(Errc::malformed, "the checkpoint's time line is not printable ASCII");
  c.origin = lines[0];
  char* end = nullptr;
  c.size = std::strtoull(lines[1].c_str(), &end, 10);
  if (lines[1].empty() || *end != '\0')
    return make_error(Errc::malformed, "the checkpoint's second line is not a tree size");
  auto root = base64_decode(lines[2]);
  if (!root || root->size() != 32)
    return make_error(Errc::malformed, "the checkpoint's third line is not a base64 SHA-256 root");
  std::memcpy(c.root.data(), root->data(), 32);
  if (lines[3].rfind("time ", 0) != 0)
    return make_error(Errc::malformed, "the checkpoint's fourth line is not \"time RFC3339\"");
  c.time = lines[3].substr(5);
  const std::string sig_line = text.substr(blank + 2);
  const std::string dash = "\xe2\x80\x94 ";  // "— "
  if (sig_line.rfind(dash, 0) != 0)
    return make_error(Errc::malformed, "the checkpoint's signature line must start with \"— \"");
  const size_t space = sig_line.find(' ', dash.size());
  if (space == std::string::npos)
    return make_error(Errc::malformed, "the checkpoint's signature line has no signature");
  c.key_name = sig_line.substr(dash.size(), space - dash.size());
  if (!printable(c.key_name))
    return make_error(Errc::malformed, "the checkpoint's key name is not printable ASCII");
  std::string sig_b64 = sig_line.substr(space + 1);
  while (!sig_b64.empty() && sig_b64.back() == '\n') sig_b64.pop_back();
  auto sig = base64_decode(sig_b64);
  if (!sig || sig->size() < 5)
    return make_error(Errc::malformed, "the checkpoint's signature is not base64");
  c.key_id = sig->substr(0, 4);
  c.signature = sig->substr(4);
  return c;
}

Status verify_checkpoint(const Checkpoint& c, X509* cert) {
  if (c.key_name != c.origin)
    return make_error(Errc::invalid, "the checkpoint is signed under the name '" + c.key_name +
                                         "', not its origin '" + c.origin + "'");
  if (c.key_id != key_id_of(cert))
    return make_error(Errc::invalid, "the checkpoint names another signing certificate");
  if (!crypto::verify_bytes(cert, c.body, c.signature))
    return make_error(Errc::invalid,
                      "the checkpoint's signature does not verify: its text was "
                      "changed or another key signed it");
  return {};
}

Result<std::vector<std::pair<std::string, std::string>>> read_checkpoint_files(
    const std::filesystem::path& log_folder) {
  std::vector<std::pair<std::string, std::string>> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(log_folder / "checkpoints", ec);
  if (ec) return out;  // none yet
  for (const auto& e : it) {
    if (e.path().extension() != ".note") continue;
    const std::string name = e.path().filename().string();
    auto text = read_confined(log_folder, "checkpoints/" + name, kMaxCheckpointNote);
    if (!text)
      return make_error(text.error().code, "checkpoint " + name + ": " + text.error().message);
    if (!*text) continue;  // removed while listed
    out.emplace_back(name, std::move(**text));
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::unique_ptr<SignatureLog>> SignatureLog::open(const std::filesystem::path& data_dir,
                                                         std::string origin,
                                                         std::vector<std::string>& notices) {
  std::unique_ptr<SignatureLog> log(new SignatureLog);
  log->dir_ = log_dir(data_dir);
  log->origin_ = std::move(origin);
  std::error_code ec;
  std::filesystem::create_directories(log->dir_ / "checkpoints", ec);
  if (ec) return make_error(Errc::io, "cannot create " + log->dir_.string() + ": " + ec.message());

  // The latest checkpoint: records it covers must be whole and match it.
  std::optional<Checkpoint> latest;
  auto notes = read_checkpoint_files(log->dir_);
  if (!notes) return notes.error();
  if (!notes->empty()) {
    auto c = parse_checkpoint(notes->back().second);
    if (!c)
      return make_error(Errc::invalid, "signature log: checkpoint " + notes->back().first + ": " +
                                           c.error().message);
    latest = std::move(*c);
    log->last_note_ = latest->text;
  }
  const auto file = log->dir_ / "records";
  std::optional<Hash> root_at_checkpoint;
  std::uint64_t expected = 0;
  std::string problem;
  auto stop = scan_records(file, [&](const Record& r) {
    if (r.seq != expected || r.prev != log->prev_) {
      problem = "record " + std::to_string(expected) + " is out of sequence (it says " +
                std::to_string(r.seq) + ")";
      return false;
    }
    log->range_.append(r.hash);
    log->prev_ = r.hash;
    log->end_ = r.end;
    ++expected;
    if (latest && log->range_.size() == latest->size) root_at_checkpoint = log->range_.root();
    const auto payload = nlohmann::json::parse(r.payload, nullptr, false);
    if (payload.is_object() && payload.value("kind", "") == "certificate")
      log->certificates_.insert(payload.value("fingerprint", ""));
    return true;
  });
  if (!stop) return stop.error();
  const std::string advice = "; run `edocgw audit verify` and keep the data-dir as evidence";
  if (!problem.empty())
    return make_error(Errc::invalid, "signature log damaged: " + problem + advice);
  if (*stop) {
    const ScanStop& s = **stop;
    if (!s.torn || (latest && s.index < latest->size)) {
      return make_error(Errc::invalid, "signature log damaged: " + s.message + advice);
    }
    // A torn tail: the frame being written when the gateway stopped.
    auto tail = read_tail(file, s.offset);
    if (!tail) return tail.error();
    const auto kept = log->dir_ / ("torn-" + std::to_string(s.offset) + ".bin");
    if (auto st = write_file_atomic(kept, *tail); !st) return st.error();
    if (::truncate(file.c_str(), static_cast<off_t>(s.offset)) != 0)
      return sys_error("cannot truncate", file);
    notices.push_back("signature log: dropped a torn last record (" + std::to_string(tail->size()) +
                      " bytes at byte " + std::to_string(s.offset) + ", kept in " + kept.string() +
                      "); no checkpoint covered it");
  }
  if (latest) {
    if (log->range_.size() < latest->size) {
      return make_error(Errc::invalid, "signature log damaged: it has " +
                                           std::to_string(log->range_.size()) +
                                           " records but checkpoint " + notes->back().first +
                                           " covers " + std::to_string(latest->size) + advice);
    }
    const Hash at = latest->size == 0 ? empty_tree_hash() : *root_at_checkpoint;
    if (at != latest->root) {
      return make_error(Errc::invalid, "signature log damaged: its first " +
                                           std::to_string(latest->size) +
                                           " records do not match the latest checkpoint" + advice);
    }
    log->checkpointed_ = latest->size;
  }
  log->fd_ = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log->fd_ < 0) return sys_error("cannot open", file);
  if (::fsync(log->fd_) != 0) return sys_error("cannot flush", file);
  if (auto st = sync_folder(log->dir_); !st) return st.error();
  log->synced_ = log->end_;
  return log;
}

SignatureLog::~SignatureLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::uint64_t SignatureLog::size() const {
  std::lock_guard lock(mutex_);
  return range_.size();
}

std::uint64_t SignatureLog::checkpointed_size() const {
  std::lock_guard lock(mutex_);
  return checkpointed_;
}

Result<std::uint64_t> SignatureLog::append_locked(const nlohmann::json& payload) {
  const std::string frame = encode_frame(range_.size(), prev_, dump_payload(payload));
  size_t done = 0;
  while (done < frame.size()) {
    const ssize_t n = ::write(fd_, frame.data() + done, frame.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      // Leave no half frame behind for the next append to bury.
      if (::ftruncate(fd_, static_cast<off_t>(end_)) != 0) {
      }
      return sys_error("cannot append to", dir_ / "records");
    }
    done += static_cast<size_t>(n);
  }
  Hash h;  // encode_frame ends the frame with its leaf hash
  std::memcpy(h.data(), frame.data() + frame.size() - 32, 32);
  range_.append(h);
  prev_ = h;
  end_ += frame.size();
  return end_;
}

Status SignatureLog::append_certificates_locked(const std::vector<std::string>& certificates,
                                                std::uint64_t& end) {
  for (const std::string& der : certificates) {
    const std::string fingerprint = sha256_hex(der);
    if (der.empty() || certificates_.count(fingerprint)) continue;
    auto cert = crypto::certificate_from_der(der);
    nlohmann::json c = {{"v", 1},
                        {"kind", "certificate"},
                        {"time", format_rfc3339(now_seconds())},
                        {"fingerprint", fingerprint},
                        {"subject", cert ? crypto::describe(cert->get()).subject : ""},
                        {"der", base64_encode(der)}};
    auto e = append_locked(c);
    if (!e) return e.error();
    end = *e;
    certificates_.insert(fingerprint);
  }
  return {};
}

Status SignatureLog::sync_to(std::uint64_t end) {
  std::lock_guard lock(sync_mutex_);
  if (synced_ >= end) return {};  // another thread's flush covered ours
  std::uint64_t target;
  {
    std::lock_guard l(mutex_);
    target = end_;
  }
  if (::fdatasync(fd_) != 0) return sys_error("cannot flush", dir_ / "records");
  synced_ = target;
  return {};
}

Status SignatureLog::sync() {
  std::uint64_t end;
  {
    std::lock_guard lock(mutex_);
    end = end_;
  }
  return sync_to(end);
}

Status SignatureLog::append_event(nlohmann::json event,
                                  const std::vector<std::string>& certificates, bool durable) {
  event["v"] = 1;
  event["kind"] = "event";
  std::uint64_t end = 0;
  {
    std::lock_guard lock(mutex_);
    if (auto st = append_certificates_locked(certificates, end); !st) return st;
    auto e = append_locked(event);
    if (!e) return e.error();
    end = *e;
  }
  return durable ? sync_to(end) : Status();
}

Result<std::string> SignatureLog::checkpoint(const crypto::PackageSigner& signer) {
  std::uint64_t size = 0, end = 0;
  Hash root;
  {
    std::lock_guard lock(mutex_);
    if (auto st = append_certificates_locked(signer.certificates_der(), end); !st)
      return st.error();
    if (range_.size() == checkpointed_ && !last_note_.empty()) return last_note_;
    size = range_.size();
    root = range_.root();
    end = end_;
  }
  if (auto st = sync_to(end); !st) return st.error();  // covered records are on disk first
  const std::string body = origin_ + "\n" + std::to_string(size) + "\n" + base64_of(root) +
                           "\ntime " + format_rfc3339(now_seconds()) + "\n";
  auto sig = signer.sign_bytes(body);
  if (!sig) return sig.error();
  const std::string note = body + "\n\xe2\x80\x94 " + origin_ + " " +
                           base64_encode(key_id_of(signer.certificate()) + *sig) + "\n";
  if (auto st = write_file_atomic(dir_ / "checkpoints" / checkpoint_file_name(size), note); !st)
    return st.error();
  std::lock_guard lock(mutex_);
  if (size > checkpointed_) {
    checkpointed_ = size;
    last_note_ = note;
  }
  return note;
}

}  // namespace edocgw::audit
