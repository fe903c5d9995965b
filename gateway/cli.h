// gateway/cli.h: the `edocgw` command line (shared/INTERFACE.md): dispatches
// subcommands and maps results to the exit codes every subcommand shares:
// 0 success/valid, 1 judged invalid (first stderr line says why),
// 2 usage or I/O error.
#pragma once

#include <string>
#include <vector>

namespace edocgw::cli {

constexpr int kExitOk = 0;
constexpr int kExitInvalid = 1;
constexpr int kExitUsage = 2;

// argv without the program name.
int run(const std::vector<std::string>& args);

}  // namespace edocgw::cli
