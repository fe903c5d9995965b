// libxml2 2.9 builds some global tables (the encoders) unlocked on first use.
// Building and serialising packages from many threads, in a process that has
// parsed nothing yet, must not race there: under AddressSanitizer the lost
// table shows up as a leak (crash_test caught it once in CI). This is a
// process of its own so that nothing has initialised libxml2 before it; a
// race is timing-dependent, so a pass is evidence, not proof.
#define BOOST_TEST_MODULE xml_first_use
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "edxml/package_builder.h"
#include "tests/test_support.h"
#include "util/time.h"

using namespace edocgw;

BOOST_AUTO_TEST_CASE(packages_built_from_many_threads_before_any_parse) {
  constexpr int kThreads = 16;
  std::atomic<int> ready{0};
  std::atomic<int> built{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto meta = test::sample_meta();
      meta["code"]["number"] = std::to_string(t);
      ++ready;
      while (ready < kThreads) std::this_thread::yield();
      auto p = edxml::build_package(meta, {{"a.pdf", "%PDF-1.4", "", ""}}, now_seconds());
      if (p && p->find("<edXML:edXMLEnvelope") != std::string::npos) ++built;
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(built == kThreads);
}
