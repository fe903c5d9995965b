// gateway/main.cc: the edocgw binary. Exceptions end here, as exit code 2.
#include <malloc.h>

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
  // glibc gives a worker thread's arena back to the kernel (madvise) as soon
  // as its free top passes 128 KB, so every answer of a few hundred KB freed
  // by a worker costs an madvise, TLB shoot-downs on every core and page
  // faults on the next request: a fifth of the hub's time on
  // getReceivedEdocList (perf, bench/exchange_bench). Keep up to 4 MB per
  // arena instead; blocks of 1 MB and more still get their own mapping and
  // go back to the kernel when freed, so large bodies do not stay resident.
  mallopt(M_TRIM_THRESHOLD, 4 << 20);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  try {
    return edocgw::cli::run(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::cerr << "edocgw: " << e.what() << "\n";
    return edocgw::cli::kExitUsage;
  }
}
