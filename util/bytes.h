// util/bytes.h: byte helpers shared by every layer: hex, base64, SHA-256,
// whole-file reads and writes, random identifiers.
//
// Free functions without state; all are thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.h"

namespace edocgw {

using Sha256Digest = std::array<unsigned char, 32>;

std::string to_hex(std::string_view bytes);
std::string to_hex(const Sha256Digest& digest);
// Non-empty and only 0-9 a-f: what to_hex writes.
bool is_lower_hex(std::string_view text);

// Base64 without line breaks (RFC 4648 section 4).
std::string base64_encode(std::string_view bytes);
// Accepts RFC 4648 base64 with or without padding; ignores ASCII white space
// (edXML senders wrap lines). Anything else is an error.
Result<std::string> base64_decode(std::string_view text);

Sha256Digest sha256(std::string_view bytes);
std::string sha256_hex(std::string_view bytes);

// Reads a whole regular file of at most `max_bytes`; "-" reads standard
// input. A FIFO, device or directory is refused at once (Errc::io, "not a
// regular file"), never waited on.
Result<std::string> read_file(const std::filesystem::path& path, size_t max_bytes = SIZE_MAX);
// Writes a whole file: to a temporary file beside it, fsync, rename, fsync of
// the folder (skipped with sync_folder=false, for callers that fsync the
// folder once for many files with sync_folder()). "-" writes to standard output.
// The temporary is ".tmp-UUID" whatever the final name, so any name up to
// NAME_MAX can be written; it is removed on failure.
Status write_file_atomic(const std::filesystem::path& path, std::string_view bytes,
                         bool sync_folder = true);
// The same, for a file that replaces one an administrator set up: when
// `path` is a regular file, the new one gets its mode, and its owner and
// group where this process may give them (else `warning` says so), set on
// the temporary before the rename, so there is no moment in which the new
// file is more readable than the old one was.
Status replace_file_keeping_access(const std::filesystem::path& path, std::string_view bytes,
                                   std::string* warning);
Status sync_folder(const std::filesystem::path& folder);

// A random RFC 4122 version 4 UUID in lower-case text.
std::string random_uuid();

// Compares in time independent of where the inputs differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace edocgw
