// What the fuzz targets found in crypto/, kept fixed: each reproducer of
// tests/fuzz/crashes/ that reaches the verifier is judged with a precise
// reason instead of crashing (under ASan+UBSan in the second pass).
#define BOOST_TEST_MODULE fuzz_findings
#include <boost/test/unit_test.hpp>

#include "crypto/package_verifier.h"
#include "crypto/trust_store.h"
#include "tests/test_support.h"

using namespace edocgw;

BOOST_AUTO_TEST_CASE(text_after_the_last_trace_header_is_no_transit_data_and_no_double_free) {
  // A digest mismatch sends the verifier looking for appended TraceHeaders;
  // this package ends its TraceHeaderList in non-blank text, which libxml2
  // merged with the whitespace the search added, and the node was freed twice.
  const std::string package =
      test::read(std::filesystem::path(EDOCGW_SOURCE_DIR) /
                 "tests/fuzz/crashes/package_verifier-double-free.edxml");
  auto trust = crypto::TrustStore::load({test::pki("root.pem")}, {}, {});
  BOOST_REQUIRE(trust.ok());
  const auto report = crypto::PackageVerifier(*trust, {}).verify(package);
  BOOST_TEST(!report.accepted());
  BOOST_TEST(!report.reason.empty());
  BOOST_TEST(report.transit.empty());
}
