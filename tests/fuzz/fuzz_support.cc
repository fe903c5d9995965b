#include "tests/fuzz/fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

namespace edocgw::fuzz {

const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    const char* base = std::getenv("EDOCGW_FUZZ_TMP");
    std::filesystem::path root = base ? base : std::filesystem::temp_directory_path();
    auto d = root / ("edocgw-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

std::filesystem::path pki_dir() {
  const char* pki = std::getenv("EDOCGW_TEST_PKI");
  if (!pki || !*pki) {
    std::fprintf(
        stderr,
        "fuzz: set EDOCGW_TEST_PKI to a sample PKI (certs-sample/make-sample-pki.sh DIR)\n");
    std::abort();
  }
  return pki;
}

void write_bytes(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

}  // namespace edocgw::fuzz
