// RFC 6962 / 9162 tree hashing, inclusion and consistency proofs.
#define BOOST_TEST_MODULE merkle
#include <boost/test/unit_test.hpp>

#include "audit/merkle.h"

using namespace edocgw::audit;

namespace {
std::vector<Hash> leaves(int n) {
  std::vector<Hash> out;
  for (int i = 0; i < n; ++i) out.push_back(leaf_hash("leaf " + std::to_string(i)));
  return out;
}
}  // namespace

BOOST_AUTO_TEST_CASE(known_hashes_of_rfc_6962) {
  BOOST_TEST(hex(empty_tree_hash()) ==
             "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  BOOST_TEST(hex(leaf_hash("")) ==
             "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
}

BOOST_AUTO_TEST_CASE(the_compact_range_root_is_the_tree_root_at_every_size) {
  const auto all = leaves(70);
  CompactRange range;
  for (std::uint64_t n = 1; n <= all.size(); ++n) {
    range.append(all[n - 1]);
    BOOST_TEST(hex(range.root()) == hex(tree_root(all, n)), "size " << n);
  }
  // Three leaves: H(H(l0, l1), l2), not a balanced pad.
  BOOST_TEST(hex(tree_root(all, 3)) == hex(node_hash(node_hash(all[0], all[1]), all[2])));
}

BOOST_AUTO_TEST_CASE(inclusion_proofs_verify_and_wrong_ones_do_not) {
  const auto all = leaves(40);
  for (std::uint64_t size = 1; size <= all.size(); ++size) {
    const Hash root = tree_root(all, size);
    for (std::uint64_t i = 0; i < size; ++i) {
      const auto proof = inclusion_proof(all, i, size);
      BOOST_REQUIRE(verify_inclusion(all[i], i, size, proof, root));
      if (size > 1) {
        BOOST_TEST(!verify_inclusion(all[(i + 1) % size], i, size, proof, root));
        BOOST_TEST(!verify_inclusion(all[i], (i + 1) % size, size, proof, root));
        auto bad = proof;
        bad[0][0] ^= 1;
        BOOST_TEST(!verify_inclusion(all[i], i, size, bad, root));
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(consistency_proofs_verify_and_a_rewritten_history_does_not) {
  const auto all = leaves(40);
  auto rewritten = all;
  rewritten[3] = leaf_hash("changed");
  for (std::uint64_t m = 1; m <= all.size(); ++m) {
    for (std::uint64_t n = m; n <= all.size(); ++n) {
      const auto proof = consistency_proof(all, m, n);
      BOOST_REQUIRE_MESSAGE(verify_consistency(m, n, tree_root(all, m), tree_root(all, n), proof),
                            m << " " << n);
      if (m < n && m > 3) {
        // The old root from the true history, the new one from a rewritten one.
        const auto forged = consistency_proof(rewritten, m, n);
        BOOST_TEST(!verify_consistency(m, n, tree_root(all, m), tree_root(rewritten, n), forged));
      }
    }
  }
}
