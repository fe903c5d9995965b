// gateway/version.h: what `edocgw --version` prints: our version and commit,
// and the libraries the process actually runs with.
#pragma once

#include <string>
#include <vector>

namespace edocgw::gateway {

// Written at build time (gateway/version_info.cmake).
extern const char* const kVersion;  // the project's version, "0.1.0"
extern const char* const kCommit;   // git describe: commit hash, "-dirty" if changed; or "unknown"
extern const char* const kCommitDate;  // the commit's date, YYYY-MM-DD; or "unknown"

struct LibraryVersion {
  std::string name;     // "OpenSSL"
  std::string version;  // "3.0.17", as the loaded library reports it
  std::string file;     // the shared object it was loaded from, or "" (linked statically)
  bool runtime = true;  // false: only the version built against is known
};

// The libraries in use, their versions read from the loaded code (an API
// call where the library has one, else the loaded file's name).
std::vector<LibraryVersion> library_versions();

// The whole --version text.
std::string version_text();

}  // namespace edocgw::gateway
