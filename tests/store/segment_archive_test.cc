// The segment archive: bodies come back as written, across reopens and
// rotations; every kind of torn tail is cut at open and appends continue
// after it, while damage to acknowledged records is refused, not cut; a ref
// to changed or missing bytes is refused; concurrent appends share
// fdatasyncs; a failed write is cut back; and every ref a process was given
// before kill -9 reads back.
#define BOOST_TEST_MODULE segment_archive
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "store/segment_archive.h"
#include "tests/test_support.h"
#include "util/bytes.h"

using namespace edocgw;
using store::PackageRef;
using store::SegmentArchive;
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kHeader = store::kRecordHeaderBytes;

// A body that names its writer and its number; its size varies with both.
std::string make_body(int writer, int n, size_t size = 0) {
  if (size == 0) size = 100 + static_cast<size_t>(writer * 7919 + n * 104729) % 20000;
  const std::string tag = "body " + std::to_string(writer) + "/" + std::to_string(n) + ";";
  std::string out;
  out.reserve(size + tag.size());
  while (out.size() < size) out += tag;
  out.resize(size);
  return out;
}

std::unique_ptr<SegmentArchive> open_archive(const fs::path& folder,
                                             SegmentArchive::Options options = {}) {
  auto a = SegmentArchive::open(folder, options);
  BOOST_REQUIRE_MESSAGE(a.ok(), (a.ok() ? std::string() : a.error().message));
  return std::move(*a);
}

PackageRef append_one(SegmentArchive& a, const std::string& body) {
  auto refs = a.append({body});
  BOOST_REQUIRE_MESSAGE(refs.ok(), (refs.ok() ? std::string() : refs.error().message));
  BOOST_REQUIRE_EQUAL(refs->size(), 1u);
  return refs->front();
}

std::string error_of(const Result<std::string>& r) {
  return r.ok() ? "(read back)" : r.error().message;
}

void check_reads(const SegmentArchive& a, const PackageRef& ref, const std::string& body) {
  auto got = a.read(ref);
  BOOST_REQUIRE_MESSAGE(got.ok(), error_of(got));
  BOOST_TEST((*got == body));
}

std::uint64_t size_of(const fs::path& p) {
  return fs::file_size(p);
}

void append_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::app);
  out << bytes;
  BOOST_REQUIRE(out.good());
}

std::string bytes_at(const fs::path& p, std::uint64_t offset, size_t n) {
  return test::read(p).substr(offset, n);
}

void flip_byte(const fs::path& p, std::uint64_t offset) {
  std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.get(c);
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x20));
  BOOST_REQUIRE(f.good());
}

fs::path seg(const fs::path& folder, std::uint64_t n) {
  return folder / store::segment_file_name(n);
}

}  // namespace

BOOST_AUTO_TEST_CASE(bodies_read_back_as_written_with_their_refs) {
  test::TempDir dir;
  auto a = open_archive(dir / "segments");
  const std::vector<std::string> bodies = {make_body(1, 1), "", std::string(1 << 20, '\xED')};
  auto refs = a->append({bodies[0], bodies[1], bodies[2]});
  BOOST_REQUIRE(refs.ok());
  BOOST_REQUIRE_EQUAL(refs->size(), 3u);
  std::uint64_t at = 0;
  for (size_t i = 0; i < 3; ++i) {
    const PackageRef& r = (*refs)[i];
    BOOST_TEST(r.segment == 1u);
    BOOST_TEST(r.offset == at);
    BOOST_TEST(r.length == bodies[i].size());
    BOOST_TEST(r.sha256_hex == sha256_hex(bodies[i]));
    check_reads(*a, r, bodies[i]);
    at += kHeader + bodies[i].size();
  }
  const PackageRef next = append_one(*a, "after");
  BOOST_TEST(next.offset == at);
  BOOST_TEST(size_of(seg(dir / "segments", 1)) == at + kHeader + 5);
  BOOST_TEST(a->stats().appends == 2u);
  BOOST_TEST(a->stats().bodies == 4u);
  BOOST_TEST(a->stats().batches == 2u);
  BOOST_TEST(a->append({}).ok());  // nothing to write, no batch
  BOOST_TEST(a->stats().batches == 2u);
}

BOOST_AUTO_TEST_CASE(refs_survive_a_reopen_and_appends_continue_after_them) {
  test::TempDir dir;
  std::vector<PackageRef> refs;
  {
    auto a = open_archive(dir / "segments");
    for (int i = 0; i < 20; ++i) refs.push_back(append_one(*a, make_body(0, i)));
  }
  auto a = open_archive(dir / "segments");
  BOOST_TEST(a->notices().empty());
  for (int i = 0; i < 20; ++i) check_reads(*a, refs[i], make_body(0, i));
  const PackageRef next = append_one(*a, "next");
  BOOST_TEST(next.offset == refs.back().offset + kHeader + refs.back().length);
}

BOOST_AUTO_TEST_CASE(a_folder_is_opened_by_one_archive_at_a_time) {
  test::TempDir dir;
  auto a = open_archive(dir / "segments");
  auto second = SegmentArchive::open(dir / "segments");
  BOOST_REQUIRE(!second.ok());
  BOOST_TEST(second.error().message.find("already open") != std::string::npos);
  a.reset();
  BOOST_TEST(SegmentArchive::open(dir / "segments").ok());
}

// Each case damages the end of the last segment after two records (A, B,
// each its own write) the way a crash or a stray writer could; `cut` returns
// the refs the damage took (refused after the reopen) and adds the ones that
// must survive to `kept`.
struct TornCase {
  const char* name;
  std::function<std::vector<PackageRef>(SegmentArchive&, const fs::path&, std::vector<PackageRef>&,
                                        std::vector<std::string>&)>
      damage;
};

BOOST_AUTO_TEST_CASE(every_kind_of_torn_tail_is_cut_at_open_and_appends_continue_after_it) {
  const std::vector<TornCase> cases = {
      {"an incomplete header",
       [](SegmentArchive&, const fs::path& file, auto& kept, auto&) {
         append_bytes(file, bytes_at(file, kept[1].offset, 30));
         return std::vector<PackageRef>();
       }},
      {"a body shorter than its header says",
       [](SegmentArchive& a, const fs::path& file, auto&, auto&) {
         const PackageRef c = append_one(a, make_body(2, 2));
         fs::resize_file(file, c.offset + kHeader + c.length / 2);
         return std::vector<PackageRef>{c};
       }},
      {"a body whose SHA-256 does not match",
       [](SegmentArchive& a, const fs::path& file, auto&, auto&) {
         const PackageRef c = append_one(a, make_body(2, 3));
         flip_byte(file, c.offset + kHeader + c.length - 1);
         return std::vector<PackageRef>{c};
       }},
      {"bytes that are not a header",
       [](SegmentArchive&, const fs::path& file, auto&, auto&) {
         append_bytes(file, std::string(1000, 'x'));
         return std::vector<PackageRef>();
       }},
      {"zeros a crash left in unwritten blocks",
       [](SegmentArchive&, const fs::path& file, auto&, auto&) {
         append_bytes(file, std::string(8192, '\0'));
         return std::vector<PackageRef>();
       }},
      {"a whole record copied from elsewhere in the file",
       [](SegmentArchive&, const fs::path& file, auto& kept, auto&) {
         append_bytes(file, bytes_at(file, kept[0].offset, kHeader + kept[0].length));
         return std::vector<PackageRef>();
       }},
      {"a batch torn in its middle (whole records after the torn one go too)",
       [](SegmentArchive& a, const fs::path& file, auto& kept, auto& kept_bodies) {
         const std::string c = make_body(3, 1), d = make_body(3, 2), e = make_body(3, 3);
         auto refs = a.append({c, d, e});
         BOOST_REQUIRE(refs.ok());
         flip_byte(file, (*refs)[1].offset + kHeader + 7);
         kept.push_back((*refs)[0]);
         kept_bodies.push_back(c);
         return std::vector<PackageRef>{(*refs)[1], (*refs)[2]};
       }},
      {"a batch torn at its first record",
       [](SegmentArchive& a, const fs::path& file, auto&, auto&) {
         auto refs = a.append({make_body(4, 1), make_body(4, 2), make_body(4, 3)});
         BOOST_REQUIRE(refs.ok());
         flip_byte(file, (*refs)[0].offset + kHeader);
         return *refs;
       }},
  };
  for (const TornCase& c : cases) {
    BOOST_TEST_CONTEXT(c.name) {
      test::TempDir dir;
      const fs::path folder = dir / "segments";
      const fs::path file = seg(folder, 1);
      std::vector<PackageRef> kept, cut;
      std::vector<std::string> kept_bodies = {make_body(1, 1), make_body(1, 2)};
      {
        auto a = open_archive(folder);
        kept.push_back(append_one(*a, kept_bodies[0]));
        kept.push_back(append_one(*a, kept_bodies[1]));
        cut = c.damage(*a, file, kept, kept_bodies);
      }
      const std::uint64_t good_end = kept.back().offset + kHeader + kept.back().length;
      BOOST_REQUIRE(size_of(file) > good_end);

      auto a = open_archive(folder);
      BOOST_REQUIRE_EQUAL(a->notices().size(), 1u);
      BOOST_TEST(a->notices()[0].find("torn tail") != std::string::npos, a->notices()[0]);
      BOOST_TEST(a->notices()[0].find("byte " + std::to_string(good_end)) != std::string::npos,
                 a->notices()[0]);
      BOOST_TEST(size_of(file) == good_end);
      for (size_t i = 0; i < kept.size(); ++i) check_reads(*a, kept[i], kept_bodies[i]);
      for (const PackageRef& r : cut) BOOST_TEST(!a->read(r).ok());

      const PackageRef after = append_one(*a, "after the cut");
      BOOST_TEST(after.offset == good_end);
      check_reads(*a, after, "after the cut");
      a.reset();
      a = open_archive(folder);
      BOOST_TEST(a->notices().empty());
      check_reads(*a, after, "after the cut");
      check_reads(*a, kept[0], kept_bodies[0]);
    }
  }
}

BOOST_AUTO_TEST_CASE(damage_before_a_later_write_is_refused_at_open_not_cut) {
  // A changed byte in record A, with record B written after A was
  // acknowledged: cutting at A would drop B, which an append had returned.
  test::TempDir dir;
  const fs::path folder = dir / "segments";
  PackageRef a_ref, b_ref;
  {
    auto a = open_archive(folder);
    a_ref = append_one(*a, make_body(1, 1));
    b_ref = append_one(*a, make_body(1, 2));
  }
  flip_byte(seg(folder, 1), a_ref.offset + kHeader + 3);
  const auto size = size_of(seg(folder, 1));
  auto reopened = SegmentArchive::open(folder);
  BOOST_REQUIRE(!reopened.ok());
  BOOST_TEST(reopened.error().code == Errc::invalid);
  BOOST_TEST(reopened.error().message.find("damage, not a torn tail") != std::string::npos,
             reopened.error().message);
  BOOST_TEST(size_of(seg(folder, 1)) == size);
}

BOOST_AUTO_TEST_CASE(earlier_segments_are_checked_for_kind_not_rescanned) {
  test::TempDir dir;
  const fs::path folder = dir / "segments";
  SegmentArchive::Options small;
  small.max_segment_bytes = 1000;
  PackageRef first;
  {
    auto a = open_archive(folder, small);
    first = append_one(*a, make_body(1, 1, 600));
    append_one(*a, make_body(1, 2, 600));  // segment 2
    BOOST_REQUIRE_EQUAL(a->current_segment(), 2u);
  }
  append_bytes(seg(folder, 1), "garbage after the last record of a closed segment");
  const auto size = size_of(seg(folder, 1));
  {
    auto a = open_archive(folder, small);
    BOOST_TEST(a->notices().empty());
    BOOST_TEST(size_of(seg(folder, 1)) == size);
    check_reads(*a, first, make_body(1, 1, 600));
  }
  fs::rename(seg(folder, 1), dir / "elsewhere.seg");
  fs::create_symlink(dir / "elsewhere.seg", seg(folder, 1));
  auto refused = SegmentArchive::open(folder, small);
  BOOST_REQUIRE(!refused.ok());
  BOOST_TEST(refused.error().message.find("not a regular file") != std::string::npos,
             refused.error().message);
}

BOOST_AUTO_TEST_CASE(a_ref_to_changed_bytes_is_refused_naming_segment_and_offset) {
  test::TempDir dir;
  const fs::path folder = dir / "segments";
  auto a = open_archive(folder);
  const PackageRef first = append_one(*a, make_body(1, 1));
  const PackageRef second = append_one(*a, make_body(1, 2));

  flip_byte(seg(folder, 1), second.offset + kHeader + 10);
  auto body = a->read(second);
  BOOST_REQUIRE(!body.ok());
  BOOST_TEST(body.error().code == Errc::invalid);
  const std::string& m = body.error().message;
  BOOST_TEST(m.find("segment 000000000001.seg at byte " + std::to_string(second.offset)) !=
                 std::string::npos,
             m);
  BOOST_TEST(m.find("do not match its SHA-256") != std::string::npos, m);
  check_reads(*a, first, make_body(1, 1));

  flip_byte(seg(folder, 1), first.offset + 9);  // the header's length field
  BOOST_TEST(!a->read(first).ok());
  flip_byte(seg(folder, 1), first.offset + 9);
  check_reads(*a, first, make_body(1, 1));

  PackageRef other_body = first;
  other_body.sha256_hex = sha256_hex("another body");
  body = a->read(other_body);
  BOOST_REQUIRE(!body.ok());
  BOOST_TEST(body.error().message.find("another body") != std::string::npos, body.error().message);
}

BOOST_AUTO_TEST_CASE(a_ref_beyond_the_segment_or_to_no_record_is_refused) {
  test::TempDir dir;
  SegmentArchive::Options options;
  options.max_record_bytes = 1 << 20;
  auto a = open_archive(dir / "segments", options);
  const PackageRef good = append_one(*a, make_body(1, 1));
  const std::uint64_t size = size_of(seg(dir / "segments", 1));

  auto refused = [&](PackageRef r, const std::string& why) {
    BOOST_TEST_CONTEXT(why) {
      auto got = a->read(r);
      BOOST_REQUIRE(!got.ok());
      BOOST_TEST(got.error().message.find(why) != std::string::npos, got.error().message);
    }
  };
  PackageRef r = good;
  r.offset = size;
  refused(r, "past the end of the segment");
  r = good;
  r.length = good.length + 1;
  refused(r, "past the end of the segment");
  r = good;
  r.offset = ~std::uint64_t(0) - 10;
  refused(r, "past the end of the segment");
  r = good;
  r.length = (1 << 20) + 1;
  refused(r, "max record size");
  r = good;
  r.segment = 99;
  refused(r, "does not exist");
  r = good;
  r.offset = 1;
  r.length = 10;
  refused(r, "no record starts there");
}

BOOST_AUTO_TEST_CASE(a_body_above_the_max_record_size_is_refused_and_nothing_written) {
  test::TempDir dir;
  SegmentArchive::Options options;
  options.max_record_bytes = 1000;
  auto a = open_archive(dir / "segments", options);
  auto refs = a->append({std::string_view("small"), std::string(1001, 'x')});
  BOOST_REQUIRE(!refs.ok());
  BOOST_TEST(refs.error().code == Errc::usage);
  BOOST_TEST(refs.error().message.find("body 2 of 2 is 1001 bytes, above the archive's max "
                                       "record size of 1000 bytes") != std::string::npos,
             refs.error().message);
  BOOST_TEST(size_of(seg(dir / "segments", 1)) == 0u);
  BOOST_TEST(a->stats().batches == 0u);
  BOOST_TEST(append_one(*a, std::string(1000, 'x')).length == 1000u);
}

BOOST_AUTO_TEST_CASE(segments_rotate_at_the_max_size_and_a_larger_record_gets_its_own) {
  test::TempDir dir;
  const fs::path folder = dir / "segments";
  SegmentArchive::Options options;
  options.max_segment_bytes = 1000;
  auto a = open_archive(folder, options);
  // Records of 80 + 300 bytes: two fit in 1000, a third would pass it.
  std::vector<PackageRef> refs;
  for (int i = 0; i < 5; ++i) refs.push_back(append_one(*a, make_body(1, i, 300)));
  const std::vector<std::uint64_t> expected = {1, 1, 2, 2, 3};
  for (int i = 0; i < 5; ++i) BOOST_TEST(refs[i].segment == expected[i]);
  BOOST_TEST(refs[2].offset == 0u);

  const PackageRef big = append_one(*a, make_body(2, 0, 2000));
  BOOST_TEST(big.segment == 4u);
  BOOST_TEST(big.offset == 0u);
  const PackageRef after_big = append_one(*a, make_body(2, 1, 300));
  BOOST_TEST(after_big.segment == 5u);

  // One call whose bodies span segments: each segment written and flushed
  // in turn, the refs in order.
  std::vector<std::string> many;
  for (int i = 0; i < 7; ++i) many.push_back(make_body(3, i, 300));
  auto spread = a->append({many.begin(), many.end()});
  BOOST_REQUIRE(spread.ok());
  BOOST_TEST((*spread)[0].segment == 5u);  // beside after_big
  BOOST_TEST((*spread)[6].segment == 8u);
  for (int i = 0; i < 7; ++i) check_reads(*a, (*spread)[i], many[i]);

  auto listed = a->segments();
  BOOST_REQUIRE(listed.ok());
  BOOST_TEST((*listed == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  for (std::uint64_t s : *listed)
    if (s != 4) BOOST_TEST(size_of(seg(folder, s)) <= 1000u);
  a.reset();
  a = open_archive(folder, options);
  BOOST_TEST(a->current_segment() == 8u);
  for (int i = 0; i < 5; ++i) check_reads(*a, refs[i], make_body(1, i, 300));
  check_reads(*a, big, make_body(2, 0, 2000));
}

BOOST_AUTO_TEST_CASE(drop_segments_before_removes_closed_segments_and_keeps_the_current_one) {
  test::TempDir dir;
  const fs::path folder = dir / "segments";
  SegmentArchive::Options options;
  options.max_segment_bytes = 1000;
  auto a = open_archive(folder, options);
  std::vector<PackageRef> refs;
  for (int i = 0; i < 7; ++i) refs.push_back(append_one(*a, make_body(1, i, 300)));
  BOOST_REQUIRE_EQUAL(a->current_segment(), 4u);

  BOOST_REQUIRE(a->drop_segments_before(3).ok());
  BOOST_TEST((*a->segments() == std::vector<std::uint64_t>{3, 4}));
  auto gone = a->read(refs[0]);
  BOOST_REQUIRE(!gone.ok());
  BOOST_TEST(gone.error().message.find("does not exist") != std::string::npos);
  check_reads(*a, refs[4], make_body(1, 4, 300));

  BOOST_REQUIRE(a->drop_segments_before(100).ok());
  BOOST_TEST((*a->segments() == std::vector<std::uint64_t>{4}));
  check_reads(*a, refs[6], make_body(1, 6, 300));
  const PackageRef next = append_one(*a, make_body(1, 7, 300));
  check_reads(*a, next, make_body(1, 7, 300));
  a.reset();
  a = open_archive(folder, options);
  check_reads(*a, refs[6], make_body(1, 6, 300));
}

BOOST_AUTO_TEST_CASE(concurrent_appends_are_all_readable_distinct_and_share_fdatasyncs) {
  test::TempDir dir;
  SegmentArchive::Options options;
  options.max_segment_bytes = 4 << 20;  // a few rotations under load
  auto a = open_archive(dir / "segments", options);
  constexpr int kThreads = 16, kAppends = 200;
  std::vector<std::vector<PackageRef>> refs(kThreads);
  std::vector<std::string> errors(kThreads);
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kAppends; ++i) {
          const std::string body = make_body(t, i);
          auto r = a->append({body});
          if (!r.ok()) {
            errors[t] = r.error().message;
            return;
          }
          refs[t].push_back(r->front());
        }
      });
    }
    for (auto& th : threads) th.join();
  }
  std::set<std::pair<std::uint64_t, std::uint64_t>> places;
  for (int t = 0; t < kThreads; ++t) {
    BOOST_REQUIRE_MESSAGE(errors[t].empty(), errors[t]);
    BOOST_REQUIRE_EQUAL(refs[t].size(), size_t{kAppends});
    for (int i = 0; i < kAppends; ++i) {
      places.insert({refs[t][i].segment, refs[t][i].offset});
      auto got = a->read(refs[t][i]);
      BOOST_REQUIRE_MESSAGE(got.ok(), error_of(got));
      BOOST_REQUIRE(*got == make_body(t, i));
    }
  }
  BOOST_TEST(places.size() == size_t{kThreads * kAppends});
  const auto s = a->stats();
  BOOST_TEST(s.appends == std::uint64_t{kThreads * kAppends});
  BOOST_TEST(s.bodies == std::uint64_t{kThreads * kAppends});
  BOOST_TEST(s.batches < s.appends);
  BOOST_TEST(a->current_segment() > 1u);
  BOOST_TEST_MESSAGE(s.appends << " appends in " << s.batches << " batches, " << s.syncs
                               << " syncs, " << a->current_segment() << " segments");
}

BOOST_AUTO_TEST_CASE(a_failed_write_is_cut_back_and_its_error_reaches_every_caller) {
  // RLIMIT_FSIZE makes the kernel refuse writes past a size (EFBIG), after
  // a partial write: a real short-then-failed write.
  test::TempDir dir;
  const fs::path folder = dir / "segments";
  auto a = open_archive(folder);
  const PackageRef first = append_one(*a, make_body(1, 1));
  const std::uint64_t good_end = size_of(seg(folder, 1));

  struct rlimit saved {};
  BOOST_REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
  const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit tight = saved;
  tight.rlim_cur = good_end + 100;
  BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &tight) == 0);
  auto failed = a->append({make_body(1, 2, 1000)});
  std::vector<std::string> errors(8);
  {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&, t] {
        auto r = a->append({make_body(2, t, 500)});
        errors[t] = r.ok() ? "" : r.error().message;
      });
    for (auto& th : threads) th.join();
  }
  const std::uint64_t size_while_limited = size_of(seg(folder, 1));
  BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &saved) == 0);
  ::signal(SIGXFSZ, old_handler);

  BOOST_REQUIRE(!failed.ok());
  BOOST_TEST(failed.error().code == Errc::io);
  BOOST_TEST(failed.error().message.find("cannot append to") != std::string::npos,
             failed.error().message);
  for (const std::string& e : errors)
    BOOST_TEST(e.find("cannot append to") != std::string::npos, e);
  BOOST_TEST(size_while_limited == good_end);

  const PackageRef next = append_one(*a, "after the failure");
  BOOST_TEST(next.offset == good_end);
  a.reset();
  a = open_archive(folder);
  BOOST_TEST(a->notices().empty());
  check_reads(*a, first, make_body(1, 1));
  check_reads(*a, next, "after the failure");
}

BOOST_AUTO_TEST_CASE(every_ref_returned_before_kill_9_reads_back) {
  test::TempDir dir;
  const fs::path folder = dir / "segments";
  SegmentArchive::Options options;
  options.max_segment_bytes = 2 << 20;
  int fds[2];
  BOOST_REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child: four threads append until killed, printing each ref once
    // append has returned it (lines below PIPE_BUF are written whole).
    ::close(fds[0]);
    auto a = SegmentArchive::open(folder, options);
    if (!a.ok()) ::_exit(3);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          const std::string body = make_body(t, i);
          auto r = (*a)->append({body});
          if (!r.ok()) ::_exit(4);
          const PackageRef& ref = r->front();
          char line[256];
          const int n =
              std::snprintf(line, sizeof line, "%d %d %llu %llu %llu %s\n", t, i,
                            static_cast<unsigned long long>(ref.segment),
                            static_cast<unsigned long long>(ref.offset),
                            static_cast<unsigned long long>(ref.length), ref.sha256_hex.c_str());
          if (::write(fds[1], line, static_cast<size_t>(n)) != n) ::_exit(5);
        }
      });
    for (auto& th : threads) th.join();
    ::_exit(0);
  }
  ::close(fds[1]);
  // Kills and reaps the child if the test stops early.
  struct Reaper {
    pid_t pid = -1;
    bool reaped = false;
    ~Reaper() {
      if (reaped || pid <= 0) return;
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  };
  std::string text;
  {
    Reaper reaper;
    reaper.pid = pid;
    // Kill it once it has returned 1,500 refs (a few rotations in), while
    // its threads are still appending.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    char buffer[4096];
    size_t lines = 0;
    while (lines < 1500 && std::chrono::steady_clock::now() < deadline) {
      const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
      if (n <= 0) break;
      text.append(buffer, static_cast<size_t>(n));
      lines += static_cast<size_t>(std::count(buffer, buffer + n, '\n'));
    }
    BOOST_REQUIRE_EQUAL(::kill(pid, SIGKILL), 0);
    int status = 0;
    BOOST_REQUIRE_EQUAL(::waitpid(pid, &status, 0), pid);
    BOOST_TEST((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    reaper.reaped = true;
  }
  for (;;) {  // what the child printed before it died
    char buffer[4096];
    const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);

  auto a = open_archive(folder, options);
  for (const auto& n : a->notices()) BOOST_TEST_MESSAGE(n);
  std::istringstream in(text);
  size_t checked = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    int t = 0, i = 0;
    PackageRef ref;
    fields >> t >> i >> ref.segment >> ref.offset >> ref.length >> ref.sha256_hex;
    BOOST_REQUIRE_MESSAGE(!fields.fail(), "a line the child printed: " + line);
    auto got = a->read(ref);
    BOOST_REQUIRE_MESSAGE(got.ok(), error_of(got));
    BOOST_REQUIRE(*got == make_body(t, i));
    ++checked;
  }
  BOOST_TEST(checked >= 1500u);
  BOOST_TEST(a->current_segment() > 1u);
  const PackageRef after = append_one(*a, "after kill -9");
  check_reads(*a, after, "after kill -9");
  BOOST_TEST_MESSAGE(checked << " refs read back after kill -9");
}
