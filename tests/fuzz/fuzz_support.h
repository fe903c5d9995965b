// tests/fuzz/fuzz_support.h: what the libFuzzer targets share: a scratch
// folder per process and the sample PKI's location.
//
// A fuzz target runs one input at a time in one thread; nothing here is
// meant for concurrent use.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace edocgw::fuzz {

// A fresh folder for this process under $EDOCGW_FUZZ_TMP (default: the
// system's temporary folder), made on first use, emptied by the caller.
const std::filesystem::path& scratch_dir();

// $EDOCGW_TEST_PKI, the sample PKI made by certs-sample/make-sample-pki.sh;
// aborts with a message when it is unset (the target cannot run without it).
std::filesystem::path pki_dir();

// Writes `bytes` to `path`, replacing it; aborts on an I/O error, which is
// the harness's fault, not the code's under test.
void write_bytes(const std::filesystem::path& path, std::string_view bytes);

}  // namespace edocgw::fuzz
