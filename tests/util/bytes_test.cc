#define BOOST_TEST_MODULE bytes
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>

#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/test_support.h"
#include "util/bytes.h"
#include "util/utf8.h"

using namespace edocgw;

BOOST_AUTO_TEST_CASE(base64_round_trips_every_length) {
  std::string bytes;
  for (int n = 0; n < 300; ++n) {
    auto decoded = base64_decode(base64_encode(bytes));
    BOOST_REQUIRE(decoded.ok());
    BOOST_TEST(*decoded == bytes);
    bytes.push_back(static_cast<char>(n * 37));
  }
}

BOOST_AUTO_TEST_CASE(base64_accepts_wrapped_lines_and_refuses_garbage) {
  BOOST_TEST(*base64_decode("aGVs\r\nbG8=\n") == "hello");
  BOOST_TEST(!base64_decode("aGVs*bG8=").ok());
  BOOST_TEST(!base64_decode("aGVsbG8=x").ok());  // data after padding
  BOOST_TEST(!base64_decode("a").ok());          // truncated
}

BOOST_AUTO_TEST_CASE(sha256_matches_the_standard_vector) {
  BOOST_TEST(sha256_hex("abc") ==
             "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

BOOST_AUTO_TEST_CASE(atomic_write_replaces_the_file_and_leaves_no_temporary) {
  test::TempDir dir;
  BOOST_REQUIRE(write_file_atomic(dir / "a.xml", "first").ok());
  BOOST_REQUIRE(write_file_atomic(dir / "a.xml", "second").ok());
  BOOST_TEST(*read_file(dir / "a.xml") == "second");
  int entries = 0;
  for ([[maybe_unused]] auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  BOOST_TEST(entries == 1);
}

BOOST_AUTO_TEST_CASE(atomic_write_of_a_name_near_name_max_succeeds_and_leaves_no_temporary) {
  // Issue 9, item 13: the temporary name was the final name plus ~42 bytes,
  // so a final name above ~213 bytes failed with ENAMETOOLONG.
  test::TempDir dir;
  for (const size_t length : {size_t{213}, size_t{250}, size_t{255}}) {
    const std::string name = std::string(length - 4, 'n') + ".xml";
    BOOST_TEST_CONTEXT("a name of " << length << " bytes") {
      const auto st = write_file_atomic(dir / name, "bytes of " + std::to_string(length));
      BOOST_TEST(st.ok(), (st.ok() ? std::string() : st.error().message));
      BOOST_TEST(test::read(dir / name) == "bytes of " + std::to_string(length));
    }
  }
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path()))
    names.push_back(e.path().filename().string());
  BOOST_TEST(names.size() == 3u);
  for (const auto& n : names) BOOST_TEST(n.find("tmp") == std::string::npos, n);
}

BOOST_AUTO_TEST_CASE(read_file_names_the_missing_file) {
  auto r = read_file("/nonexistent/edocgw/file.xml");
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST(r.error().code == Errc::io);
  BOOST_TEST(r.error().message.find("/nonexistent/edocgw/file.xml") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(uuids_are_version_4_and_distinct) {
  const std::string a = random_uuid(), b = random_uuid();
  BOOST_TEST(a.size() == 36u);
  BOOST_TEST(a[14] == '4');
  BOOST_TEST(a != b);
}

BOOST_AUTO_TEST_CASE(constant_time_equal_compares_contents) {
  BOOST_TEST(constant_time_equal("token", "token"));
  BOOST_TEST(!constant_time_equal("token", "tokem"));
  BOOST_TEST(!constant_time_equal("token", "token2"));
}

BOOST_AUTO_TEST_CASE(valid_utf8_keeps_good_text_and_replaces_each_bad_sequence) {
  BOOST_TEST(valid_utf8("UBND huyện Hướng Hóa") == "UBND huyện Hướng Hóa");
  BOOST_TEST(valid_utf8(std::string("<a\xcb>", 4)) == "<a\xEF\xBF\xBD>");
  BOOST_TEST(valid_utf8("\xC0\xAF") == "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  BOOST_TEST(valid_utf8("\xED\xA0\x80") == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  BOOST_TEST(valid_utf8("\xF4\x90\x80\x80").find("\xF4") == std::string::npos);      // > U+10FFFF
  BOOST_TEST(valid_utf8("\xE1\x80") == "\xEF\xBF\xBD");  // truncated at the end
  BOOST_TEST(valid_utf8(std::string("a\0b", 3)) == std::string("a\0b", 3));
}

BOOST_AUTO_TEST_CASE(read_file_refuses_a_fifo_at_once_and_bounds_the_size) {
  test::TempDir dir;
  const auto fifo = dir / "pipe";
  BOOST_REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);
  auto r = read_file(fifo);
  BOOST_REQUIRE(!r.ok());
  BOOST_TEST((r.error().code == Errc::io));
  BOOST_TEST(r.error().message.find("not a regular file") != std::string::npos);
  BOOST_TEST(!read_file(dir.path()).ok());
  test::write(dir / "f", "0123456789");
  BOOST_TEST(*read_file(dir / "f", 10) == "0123456789");
  auto big = read_file(dir / "f", 9);
  BOOST_REQUIRE(!big.ok());
  BOOST_TEST(big.error().message.find("larger than 9 bytes") != std::string::npos);
}

namespace {

// The decoder as first written, one character at a time: the reference the
// four-at-a-time decoder must agree with on every input.
std::optional<std::string> reference_base64_decode(std::string_view text) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0;
  for (unsigned char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      ++padding;
      continue;
    }
    const auto v = alphabet.find(static_cast<char>(c));
    if (v == std::string::npos || c == 0 || padding > 0) return std::nullopt;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (padding > 2 || bits >= 6) return std::nullopt;
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(base64_decode_agrees_with_the_one_character_reference) {
  std::mt19937 rng(20261130);
  const std::string pieces[] = {"QUJD", "ZGVm", "\r\n", "\n",   " ",
                                "\t",   "=",    "==",   "*",    "A",
                                "Zm9v", "YmFy", "+/+/", "\x80", std::string(1, '\0')};
  size_t accepted = 0, refused = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string text;
    const int parts = static_cast<int>(rng() % 24);
    for (int i = 0; i < parts; ++i) text += pieces[rng() % std::size(pieces)];
    const auto got = base64_decode(text);
    const auto want = reference_base64_decode(text);
    BOOST_REQUIRE_MESSAGE(got.ok() == want.has_value(), "input: " << text);
    if (got.ok()) {
      BOOST_REQUIRE(*got == *want);
      ++accepted;
    } else {
      ++refused;
    }
  }
  BOOST_TEST(accepted > 1000u);  // both sides of the contract were exercised
  BOOST_TEST(refused > 1000u);
}
