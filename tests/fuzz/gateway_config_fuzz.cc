// Fuzzes gateway.xml loading: config::parse_config on the input's bytes, as
// if read from FOLDER/gateway.xml where FOLDER is a fixture folder made once:
// PKI/ links to the sample PKI ($EDOCGW_TEST_PKI) and organs.txt is an
// organ map, so that the seeds' relative file names exist and the parser
// goes past its file checks into every section.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "config/gateway_config.h"
#include "tests/fuzz/fuzz_support.h"

namespace {
std::filesystem::path folder;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace edocgw;
  folder = fuzz::scratch_dir() / "config";
  std::filesystem::create_directories(folder);
  std::error_code ec;
  std::filesystem::create_directory_symlink(fuzz::pki_dir(), folder / "PKI", ec);
  fuzz::write_bytes(folder / "organs.txt",
                    "sha256:" + std::string(64, 'a') +
                        " 000.00.12.H50\n"
                        "subject:UID=MST:3200123456,CN=Tran Thi Binh,O=UBND huyen Dakrong,C=VN "
                        "000.00.13.H50\n");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto config = edocgw::config::parse_config(bytes, folder / "gateway.xml");
  (void)config;
  return 0;
}
