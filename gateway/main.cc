// gateway/main.cc: the edocgw binary. Exceptions end here, as exit code 2.
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "gateway/cli.h"

int main(int argc, char** argv) {
  try {
    return edocgw::cli::run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "edocgw: " << e.what() << "\n";
    return edocgw::cli::kExitUsage;
  }
}
