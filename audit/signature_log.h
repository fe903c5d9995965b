// audit/signature_log.h: the tamper-evident signature log.
//
// Every signing and every verification the gateway performs is appended, as
// it happens, as one record of an append-only Merkle tree (RFC 6962 hashing,
// audit/merkle.h). The gateway signs checkpoints of the tree (size, root,
// time) with its own key, periodically, on shutdown and on demand; an
// auditor recomputes everything offline (audit/auditor.h).
//
// Layout, in DATA_DIR/signature-log/:
//   records                       the frames below, appended in order
//   checkpoints/SIZE.note         one signed checkpoint per file (SIZE: 20 digits)
//   torn-OFFSET.bin               bytes of a torn last frame dropped at start-up
//
// Frame, format version 1 (integers big-endian), like leveldb's log_format.h:
//   magic    1 byte   0xED
//   version  1 byte   0x01
//   length   4 bytes  length of `leaf`
//   leaf     `length` bytes, the data the Merkle leaf hashes:
//       seq      8 bytes   this record's index, from 0
//       prev     32 bytes  leaf hash of record seq-1 (zeros for record 0)
//       payload  a JSON object in UTF-8 (README "The signature log" lists its fields)
//   hash     32 bytes  SHA-256(0x00 || leaf): the RFC 6962 leaf hash
// `seq` and `prev` make a deleted, duplicated or reordered record name
// itself; the tree and the signed checkpoints make any change detectable.
//
// Checkpoint (a C2SP signed note; the body follows tlog-checkpoint):
//   ORIGIN\n SIZE\n BASE64(ROOT)\n time RFC3339\n \n
//   — ORIGIN BASE64(KEYID(4) || SIGNATURE)\n
// The signature is the gateway key's (RSA PKCS#1 v1.5 or ECDSA, SHA-256)
// over the body up to and including its last newline; KEYID is the first
// 4 bytes of SHA-256 of the signing certificate's DER, which the log holds
// as a "certificate" record.
//
// Thread-safety: SignatureLog's methods may be called from many threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <openssl/x509.h>
#include <nlohmann/json.hpp>

#include "audit/merkle.h"
#include "util/result.h"
#include "util/time.h"

namespace edocgw::crypto {
class PackageSigner;
}

namespace edocgw::audit {

inline constexpr unsigned char kFrameMagic = 0xED;
inline constexpr unsigned char kFrameVersion = 1;
inline constexpr size_t kFrameHeader = 6;             // magic, version, length
inline constexpr size_t kLeafPrefix = 8 + 32;         // seq, prev
inline constexpr std::uint32_t kMaxLeaf = 64u << 20;  // a record is far smaller

inline constexpr size_t kMaxArchivedPackage = 256u << 20;  // above any body a gateway accepts
inline constexpr size_t kMaxCheckpointNote = 64u << 10;    // a note is a few hundred bytes

std::filesystem::path log_dir(const std::filesystem::path& data_dir);

// Reads DATA_DIR/RELATIVE for the auditor, confined to the data-dir, since
// the path comes from a record an operator could have written: RELATIVE must
// be relative, without "..", "." or empty parts; no symbolic link is
// followed (any part), and only a regular file of at most `max_bytes` is
// read. nullopt when it does not exist (a purged body); an error says why it
// was refused or could not be read.
Result<std::optional<std::string>> read_confined(const std::filesystem::path& data_dir,
                                                 std::string_view relative, size_t max_bytes);

// The JSON text of a payload: invalid UTF-8 from input (a libxml2 message
// quoting raw bytes) is replaced with U+FFFD, so that a dump never throws and
// a verification is never left unlogged for it.
std::string dump_payload(const nlohmann::json& payload);

struct Record {
  std::uint64_t seq = 0;
  Hash prev{};
  std::string_view payload;  // valid during the scan callback only
  std::string_view leaf;     // seq || prev || payload
  Hash hash{};
  std::uint64_t offset = 0;  // of the frame in the file
  std::uint64_t end = 0;     // offset after the frame
};

// What stopped a scan: a frame that is cut short at the end of the file
// (torn: `torn` is true), or one whose bytes are wrong.
struct ScanStop {
  std::uint64_t index = 0;  // records read whole before it
  std::uint64_t offset = 0;
  bool torn = false;
  std::string message;
};

// Reads every frame in order and calls `on_record` with each whole one
// (bytes matching their hash). Returns what stopped it early, if anything.
// `on_record` may return false to stop.
Result<std::optional<ScanStop>> scan_records(const std::filesystem::path& file,
                                             const std::function<bool(const Record&)>& on_record);

std::string encode_frame(std::uint64_t seq, const Hash& prev, std::string_view payload);

struct Checkpoint {
  std::string origin;
  std::uint64_t size = 0;
  Hash root{};
  std::string time;
  std::string body;  // the signed text
  std::string key_name;
  std::string key_id;     // 4 bytes
  std::string signature;  // DER (ECDSA) or PKCS#1 (RSA)
  std::string text;       // the whole note
};

Result<Checkpoint> parse_checkpoint(const std::string& text);
// Checks the note's signature with `cert` (whose key id must match).
Status verify_checkpoint(const Checkpoint& checkpoint, X509* cert);
std::string key_id_of(X509* cert);
// The checkpoints in the folder, oldest (smallest) first, with their file names.
Result<std::vector<std::pair<std::string, std::string>>> read_checkpoint_files(
    const std::filesystem::path& log_folder);

class SignatureLog {
 public:
  // Opens DATA_DIR/signature-log, creating it, and replays it. A torn last
  // frame not covered by a checkpoint is cut off (its bytes kept in
  // torn-OFFSET.bin) and `notices` says so; any other damage refuses to
  // open, since appending to a broken log would hide it.
  static Result<std::unique_ptr<SignatureLog>> open(const std::filesystem::path& data_dir,
                                                    std::string origin,
                                                    std::vector<std::string>& notices);
  ~SignatureLog();

  // Appends one event (a JSON object; "kind": "event" and "v" are added),
  // first the certificates the log does not hold yet. Durable on return.
  // `certificates` are DER. With durable=false the caller makes the record
  // durable with sync() before anything depends on it.
  Status append_event(nlohmann::json event, const std::vector<std::string>& certificates,
                      bool durable = true);
  // Flushes every record appended so far.
  Status sync();
  // Signs a checkpoint of the whole tree with `signer` (its certificate is
  // logged first if new) and writes it; returns the note. No-op returning
  // the latest note when nothing was appended since.
  Result<std::string> checkpoint(const crypto::PackageSigner& signer);

  std::uint64_t size() const;
  std::uint64_t checkpointed_size() const;
  const std::string& origin() const { return origin_; }

 private:
  SignatureLog() = default;
  // Appends one payload under mutex_; returns the end offset.
  Result<std::uint64_t> append_locked(const nlohmann::json& payload);
  Status append_certificates_locked(const std::vector<std::string>& certificates,
                                    std::uint64_t& end);
  Status sync_to(std::uint64_t end);

  std::filesystem::path dir_;
  std::string origin_;
  int fd_ = -1;
  mutable std::mutex mutex_;
  CompactRange range_;
  Hash prev_{};
  std::uint64_t end_ = 0;
  std::set<std::string> certificates_;  // fingerprints already logged
  std::mutex sync_mutex_;
  std::uint64_t synced_ = 0;
  std::uint64_t checkpointed_ = 0;
  std::string last_note_;
};

}  // namespace edocgw::audit
