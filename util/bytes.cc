#include "util/bytes.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>

namespace edocgw {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

Error errno_error(const std::string& what, const std::filesystem::path& path) {
  return make_error(Errc::io, what + " " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

bool is_lower_hex(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHexDigits[c >> 4]);
    out.push_back(kHexDigits[c & 0x0f]);
  }
  return out;
}

std::string to_hex(const Sha256Digest& digest) {
  return to_hex(std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size()));
}

std::string base64_encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  // EVP_EncodeBlock takes an int length: encode in slices well below INT_MAX.
  constexpr size_t kSlice = 3 * 1024 * 1024;
  size_t written = 0;
  for (size_t pos = 0; pos < bytes.size(); pos += kSlice) {
    const size_t n = std::min(kSlice, bytes.size() - pos);
    written += EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data() + written),
                               reinterpret_cast<const unsigned char*>(bytes.data() + pos),
                               static_cast<int>(n));
  }
  out.resize(written);
  return out;
}

Result<std::string> base64_decode(std::string_view text) {
  static const auto table = [] {
    std::array<signed char, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i)
      t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
    return t;
  }();
  // Four characters at a time while the input is plain base64 (the bulk of
  // a large attachment); one at a time around white space and padding.
  std::string out(text.size() / 4 * 3 + 3, '\0');
  size_t o = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0;
  while (i < n) {
    if (bits == 0 && padding == 0) {
      while (i + 4 <= n) {
        const int a = table[p[i]], b = table[p[i + 1]], c = table[p[i + 2]], d = table[p[i + 3]];
        if ((a | b | c | d) < 0) break;
        const auto v = static_cast<uint32_t>((a << 18) | (b << 12) | (c << 6) | d);
        out[o] = static_cast<char>(v >> 16);
        out[o + 1] = static_cast<char>((v >> 8) & 0xff);
        out[o + 2] = static_cast<char>(v & 0xff);
        o += 3;
        i += 4;
      }
      if (i >= n) break;
    }
    const unsigned char c = p[i++];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const int v = table[c];
    if (v < 0 || padding > 0) {
      return make_error(Errc::malformed, "base64 text holds a character that is not base64");
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (padding > 2 || bits >= 6) {
    return make_error(Errc::malformed, "base64 text is truncated");
  }
  out.resize(o);
  return out;
}

Sha256Digest sha256(std::string_view bytes) {
  Sha256Digest digest{};
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), nullptr, EVP_sha256(), nullptr);
  return digest;
}

std::string sha256_hex(std::string_view bytes) {
  return to_hex(sha256(bytes));
}

Result<std::string> read_file(const std::filesystem::path& path, size_t max_bytes) {
  if (path == "-") {
    std::string data((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (std::cin.bad()) return make_error(Errc::io, "cannot read standard input");
    if (data.size() > max_bytes) {
      return make_error(Errc::io, "cannot read standard input: more than " +
                                      std::to_string(max_bytes) + " bytes");
    }
    return data;
  }
  // O_NONBLOCK: opening a FIFO with no writer returns at once instead of
  // blocking; it is then refused, with anything else not a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return errno_error("cannot read", path);
  std::string data;
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    auto err = errno_error("cannot read", path);
    ::close(fd);
    return err;
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(Errc::io, "cannot read " + path.string() + ": not a regular file");
  }
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return make_error(Errc::io, "cannot read " + path.string() + ": larger than " +
                                    std::to_string(max_bytes) + " bytes");
  }
  data.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      auto err = errno_error("cannot read", path);
      ::close(fd);
      return err;
    }
    data.append(buf, static_cast<size_t>(n));
    // The file may grow while read: the bound holds whatever fstat said.
    if (data.size() > max_bytes) {
      ::close(fd);
      return make_error(Errc::io, "cannot read " + path.string() + ": larger than " +
                                      std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return data;
}

Status sync_folder(const std::filesystem::path& folder) {
  const int dfd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return errno_error("cannot open folder", folder);
  const int rc = ::fsync(dfd);
  ::close(dfd);
  if (rc != 0) return errno_error("cannot flush folder", folder);
  return {};
}

namespace {

struct Access {
  uid_t uid;
  gid_t gid;
  mode_t mode;
};

Status write_atomic(const std::filesystem::path& path, std::string_view bytes, bool sync_dir,
                    const Access* like, std::string* warning) {
  if (path == "-") {
    std::cout.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::cout.flush();
    if (!std::cout) return make_error(Errc::io, "cannot write standard output");
    return {};
  }
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  // A temporary name of fixed length (41 bytes), not derived from the final
  // name: any final name up to NAME_MAX has a temporary that fits.
  const auto tmp = dir / (".tmp-" + random_uuid());
  const int fd =
      ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, like != nullptr ? 0600 : 0644);
  if (fd < 0) return errno_error("cannot create", tmp);
  if (like != nullptr) {
    // Owner first: chown clears set-id bits, and the mode below is final.
    if (::fchown(fd, like->uid, like->gid) != 0 && warning != nullptr)
      *warning = "could not give " + path.string() + " the owner and group of the file it " +
                 "replaces (" + std::strerror(errno) + "); it keeps its mode";
    if (::fchmod(fd, like->mode) != 0) {
      auto err = errno_error("cannot set the mode of", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      auto err = errno_error("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return err;
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    auto err = errno_error("cannot flush", tmp);
    ::unlink(tmp.c_str());
    return err;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = errno_error("cannot rename into", path);
    ::unlink(tmp.c_str());
    return err;
  }
  return sync_dir ? sync_folder(dir) : Status();
}

}  // namespace

Status write_file_atomic(const std::filesystem::path& path, std::string_view bytes, bool sync_dir) {
  return write_atomic(path, bytes, sync_dir, nullptr, nullptr);
}

Status replace_file_keeping_access(const std::filesystem::path& path, std::string_view bytes,
                                   std::string* warning) {
  struct stat st {};
  if (path == "-" || ::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return write_atomic(path, bytes, true, nullptr, nullptr);
  const Access like{st.st_uid, st.st_gid, static_cast<mode_t>(st.st_mode & 07777)};
  return write_atomic(path, bytes, true, &like, warning);
}

std::string random_uuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) std::abort();  // no randomness: nothing safe to do
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);
  const std::string hex = to_hex(std::string_view(reinterpret_cast<const char*>(b), sizeof b));
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace edocgw
