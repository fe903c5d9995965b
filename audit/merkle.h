// audit/merkle.h: the Merkle tree hash of RFC 6962 / RFC 9162 section 2.1.
//
// Leaves are hashed as SHA-256(0x00 || data), interior nodes as
// SHA-256(0x01 || left || right); the tree of n leaves splits at the
// largest power of two below n. CompactRange keeps only the roots of the
// perfect subtrees on the right edge (one per set bit of n), so appending
// costs O(1) amortised hashes and the root costs O(log n). Inclusion and
// consistency proofs are made from all leaf hashes and verified with the
// algorithms of RFC 9162 2.1.3.2 and 2.1.4.2.
//
// Values; no sharing between threads without a lock.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace edocgw::audit {

using Hash = std::array<unsigned char, 32>;

Hash leaf_hash(std::string_view data);
Hash node_hash(const Hash& left, const Hash& right);
Hash empty_tree_hash();  // SHA-256 of nothing
std::string hex(const Hash& h);
bool from_hex(std::string_view text, Hash& out);

class CompactRange {
 public:
  void append(const Hash& leaf);
  std::uint64_t size() const { return size_; }
  Hash root() const;

 private:
  std::vector<Hash> peaks_;  // largest subtree first
  std::uint64_t size_ = 0;
};

// The root of the first n leaves.
Hash tree_root(const std::vector<Hash>& leaves, std::uint64_t n);

// RFC 9162 2.1.3.1: the inclusion proof of leaf `index` in the tree of the first `size` leaves.
std::vector<Hash> inclusion_proof(const std::vector<Hash>& leaves, std::uint64_t index,
                                  std::uint64_t size);
bool verify_inclusion(const Hash& leaf, std::uint64_t index, std::uint64_t size,
                      const std::vector<Hash>& proof, const Hash& root);

// RFC 9162 2.1.4.1: the consistency proof between the trees of `old_size` and `new_size` leaves.
std::vector<Hash> consistency_proof(const std::vector<Hash>& leaves, std::uint64_t old_size,
                                    std::uint64_t new_size);
bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                        const Hash& new_root, const std::vector<Hash>& proof);

}  // namespace edocgw::audit
