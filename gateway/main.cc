// gateway/main.cc: the edocgw binary. Exceptions end here, as exit code 2.
#include <csignal>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "gateway/cli.h"

int main(int argc, char** argv) {
  // A reader that goes away (`edocgw verify ... | head -1`) is an I/O error
  // to report, never a signal that kills the process.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return edocgw::cli::run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "edocgw: " << e.what() << "\n";
    return edocgw::cli::kExitUsage;
  }
}
