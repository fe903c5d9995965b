#include "audit/merkle.h"

#include <openssl/evp.h>

namespace edocgw::audit {
namespace {

Hash digest(unsigned char prefix, std::string_view a, std::string_view b = {}) {
  Hash out;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  EVP_DigestUpdate(ctx, &prefix, 1);
  EVP_DigestUpdate(ctx, a.data(), a.size());
  if (!b.empty()) EVP_DigestUpdate(ctx, b.data(), b.size());
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, out.data(), &len);
  EVP_MD_CTX_free(ctx);
  return out;
}

std::string_view view(const Hash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

// RFC 9162 2.1.3.2 / 2.1.4.2: "right-shift both fn and sn equally until
// either LSB(fn) is set or fn is 0".
void shift_to_set_bit(std::uint64_t& fn, std::uint64_t& sn) {
  while ((fn & 1) == 0 && fn != 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

// The largest power of two smaller than n (n > 1).
std::uint64_t split(std::uint64_t n) {
  std::uint64_t k = 1;
  while (k << 1 < n) k <<= 1;
  return k;
}

Hash subtree(const std::vector<Hash>& leaves, std::uint64_t begin, std::uint64_t end) {
  const std::uint64_t n = end - begin;
  if (n == 1) return leaves[begin];
  const std::uint64_t k = split(n);
  return node_hash(subtree(leaves, begin, begin + k), subtree(leaves, begin + k, end));
}

// RFC 9162 2.1.3.1 PATH(m, D[begin:end]).
void path(const std::vector<Hash>& leaves, std::uint64_t m, std::uint64_t begin, std::uint64_t end,
          std::vector<Hash>& out) {
  const std::uint64_t n = end - begin;
  if (n <= 1) return;
  const std::uint64_t k = split(n);
  if (m < k) {
    path(leaves, m, begin, begin + k, out);
    out.push_back(subtree(leaves, begin + k, end));
  } else {
    path(leaves, m - k, begin + k, end, out);
    out.push_back(subtree(leaves, begin, begin + k));
  }
}

// RFC 9162 2.1.4.1 SUBPROOF(m, D[begin:end], b).
void subproof(const std::vector<Hash>& leaves, std::uint64_t m, std::uint64_t begin,
              std::uint64_t end, bool whole, std::vector<Hash>& out) {
  const std::uint64_t n = end - begin;
  if (m == n) {
    if (!whole) out.push_back(subtree(leaves, begin, end));
    return;
  }
  const std::uint64_t k = split(n);
  if (m <= k) {
    subproof(leaves, m, begin, begin + k, whole, out);
    out.push_back(subtree(leaves, begin + k, end));
  } else {
    subproof(leaves, m - k, begin + k, end, false, out);
    out.push_back(subtree(leaves, begin, begin + k));
  }
}

}  // namespace

Hash leaf_hash(std::string_view data) {
  return digest(0x00, data);
}

Hash node_hash(const Hash& left, const Hash& right) {
  return digest(0x01, view(left), view(right));
}

Hash empty_tree_hash() {
  Hash out;
  unsigned int len = 0;
  EVP_Digest("", 0, out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::string hex(const Hash& h) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  out.reserve(64);
  for (unsigned char c : h) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

bool from_hex(std::string_view text, Hash& out) {
  if (text.size() != 64) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (size_t i = 0; i < 32; ++i) {
    const int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

void CompactRange::append(const Hash& leaf) {
  peaks_.push_back(leaf);
  ++size_;
  // Merge equal-sized subtrees: one merge per trailing 1 bit of the old size.
  for (std::uint64_t s = size_; (s & 1) == 0; s >>= 1) {
    const Hash right = peaks_.back();
    peaks_.pop_back();
    peaks_.back() = node_hash(peaks_.back(), right);
  }
}

Hash CompactRange::root() const {
  if (peaks_.empty()) return empty_tree_hash();
  Hash r = peaks_.back();
  for (size_t i = peaks_.size() - 1; i-- > 0;) r = node_hash(peaks_[i], r);
  return r;
}

Hash tree_root(const std::vector<Hash>& leaves, std::uint64_t n) {
  return n == 0 ? empty_tree_hash() : subtree(leaves, 0, n);
}

std::vector<Hash> inclusion_proof(const std::vector<Hash>& leaves, std::uint64_t index,
                                  std::uint64_t size) {
  std::vector<Hash> out;
  if (index < size && size <= leaves.size()) path(leaves, index, 0, size, out);
  return out;
}

bool verify_inclusion(const Hash& leaf, std::uint64_t index, std::uint64_t size,
                      const std::vector<Hash>& proof, const Hash& root) {
  if (index >= size) return false;
  std::uint64_t fn = index, sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      r = node_hash(p, r);
      shift_to_set_bit(fn, sn);
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

std::vector<Hash> consistency_proof(const std::vector<Hash>& leaves, std::uint64_t old_size,
                                    std::uint64_t new_size) {
  std::vector<Hash> out;
  if (old_size == 0 || old_size >= new_size || new_size > leaves.size()) return out;
  subproof(leaves, old_size, 0, new_size, true, out);
  return out;
}

bool verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                        const Hash& new_root, const std::vector<Hash>& proof) {
  if (old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (old_size == 0 || proof.empty()) return old_size == 0 && proof.empty();
  std::vector<Hash> path = proof;
  // If old_size is a power of two, the old root is the first node of the path.
  if ((old_size & (old_size - 1)) == 0) path.insert(path.begin(), old_root);
  if (path.empty()) return false;
  std::uint64_t fn = old_size - 1, sn = new_size - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    if (sn == 0) return false;
    const Hash& c = path[i];
    if ((fn & 1) == 1 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      shift_to_set_bit(fn, sn);
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == old_root && sr == new_root;
}

}  // namespace edocgw::audit
