// The directory adapter's folders as a hostile office (or a hostile local
// user) can shape them: links in the pickup folder and in refused/, names
// near NAME_MAX, files that cannot be moved, and a disk that fills up (a
// file size limit, set with setrlimit in a child process) while a package
// and its report are written.
#define BOOST_TEST_MODULE directory_adapter
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>

#include "adapters/directory/directory_adapter.h"
#include "tests/test_support.h"

using namespace edocgw;
using adapters::directory::DirectoryAdapter;
using adapters::directory::PickupSettings;
namespace fs = std::filesystem;

namespace {

const std::string kPackage = "<edXMLEnvelope>an unsigned package</edXMLEnvelope>";

struct Folders {
  test::TempDir tmp;
  fs::path inbox = tmp / "inbox", pickup = tmp / "pickup", outside = tmp / "outside";
  Folders() {
    fs::create_directories(inbox);
    fs::create_directories(pickup);
    fs::create_directories(outside);
  }
  DirectoryAdapter adapter() const {
    PickupSettings p;
    p.folder = pickup;
    return DirectoryAdapter("office", inbox, p);
  }
};

std::set<std::string> names_in(const fs::path& folder) {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    out.insert(it->path().filename().string());
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_link_to_the_gateways_key_is_refused_unread_and_moved_as_a_link) {
  Folders f;
  const std::string secret = "-----BEGIN PRIVATE KEY-----\nnot for the office\n";
  test::write(f.outside / "gateway.key", secret);
  fs::create_symlink(f.outside / "gateway.key", f.pickup / "key.xml");
  auto a = f.adapter();

  auto dropped = a.pick_up();
  BOOST_REQUIRE(dropped.ok());
  BOOST_REQUIRE_EQUAL(dropped->size(), 1u);
  const auto& d = (*dropped)[0];
  BOOST_TEST(!d.readable);
  BOOST_TEST(d.bytes.find("symbolic link") != std::string::npos, d.bytes);
  BOOST_TEST(d.bytes.find("PRIVATE KEY") == std::string::npos);

  BOOST_REQUIRE(a.finish_pick_up(d, false, R"({"error":"not_taken"})").ok());
  BOOST_TEST(!fs::exists(fs::symlink_status(f.pickup / "key.xml")));
  BOOST_TEST(fs::is_symlink(f.pickup / "refused" / "key.xml"));  // the link, not a copy
  BOOST_TEST(test::read(f.outside / "gateway.key") == secret);   // the target untouched
}

BOOST_AUTO_TEST_CASE(a_link_to_an_outside_package_is_not_taken_for_signing) {
  Folders f;
  test::write(f.outside / "theirs.xml", kPackage);
  fs::create_symlink(f.outside / "theirs.xml", f.pickup / "theirs.xml");
  test::write(f.pickup / "ours.xml", kPackage);
  auto a = f.adapter();

  auto dropped = a.pick_up();
  BOOST_REQUIRE(dropped.ok());
  BOOST_REQUIRE_EQUAL(dropped->size(), 2u);
  BOOST_TEST((*dropped)[0].handle == "ours.xml");
  BOOST_TEST((*dropped)[0].readable);  // a regular file is still taken
  BOOST_TEST((*dropped)[0].bytes == kPackage);
  BOOST_TEST((*dropped)[1].handle == "theirs.xml");
  BOOST_TEST(!(*dropped)[1].readable);
  BOOST_TEST((*dropped)[1].bytes.find("symbolic link") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_hard_link_and_a_fifo_are_refused_without_reading_or_waiting) {
  Folders f;
  test::write(f.outside / "gateway.key", "secret");
  std::error_code ec;
  fs::create_hard_link(f.outside / "gateway.key", f.pickup / "hard.xml", ec);
  BOOST_REQUIRE_MESSAGE(!ec, ec.message());
  BOOST_REQUIRE_EQUAL(::mkfifo((f.pickup / "fifo.xml").c_str(), 0600), 0);
  auto a = f.adapter();
  auto dropped = a.pick_up();  // returns: a FIFO is never opened for reading
  BOOST_REQUIRE(dropped.ok());
  BOOST_REQUIRE_EQUAL(dropped->size(), 2u);
  for (const auto& d : *dropped) {
    BOOST_TEST(!d.readable, d.handle);
    BOOST_TEST(d.bytes.find("secret") == std::string::npos);
  }
  BOOST_TEST((*dropped)[0].bytes.find("not a regular file") != std::string::npos);
  BOOST_TEST((*dropped)[1].bytes.find("hard links") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_refused_folder_that_is_a_link_is_never_written_through) {
  Folders f;
  fs::create_symlink(f.outside, f.pickup / "refused");
  test::write(f.pickup / "bad.xml", "not a package");
  auto a = f.adapter();
  auto dropped = a.pick_up();
  BOOST_REQUIRE(dropped.ok());
  BOOST_REQUIRE_EQUAL(dropped->size(), 1u);

  auto st = a.finish_pick_up((*dropped)[0], false, R"({"error":"malformed"})");
  BOOST_TEST(!st.ok());
  if (!st.ok()) BOOST_TEST(st.error().message.find("link") != std::string::npos);
  BOOST_TEST(names_in(f.outside).empty());  // nothing written outside the gateway's folders
  BOOST_TEST(fs::exists(f.pickup / "bad.xml"));

  // The same for an answer name that is a link inside a real refused/.
  fs::remove(f.pickup / "refused");
  fs::create_directories(f.pickup / "refused");
  fs::create_symlink(f.outside / "planted", f.pickup / "refused" / "bad.answer.json");
  BOOST_REQUIRE(a.finish_pick_up((*dropped)[0], false, R"({"error":"malformed"})").ok());
  BOOST_TEST(names_in(f.outside).empty());
  BOOST_TEST(!fs::is_symlink(f.pickup / "refused" / "bad.answer.json"));
  BOOST_TEST(test::read(f.pickup / "refused" / "bad.answer.json") == R"({"error":"malformed"})");
}

BOOST_AUTO_TEST_CASE(a_name_near_name_max_is_refused_and_moved_under_a_name_that_fits) {
  Folders f;
  const std::string long_name = std::string(240, 'a') + ".xml";  // 244 characters
  test::write(f.pickup / long_name, kPackage);
  auto a = f.adapter();
  auto dropped = a.pick_up();
  BOOST_REQUIRE(dropped.ok());
  BOOST_REQUIRE_EQUAL(dropped->size(), 1u);
  const auto& d = (*dropped)[0];
  BOOST_TEST(!d.readable);
  BOOST_TEST(d.bytes.find("file name has 244 bytes") != std::string::npos, d.bytes);

  auto st = a.finish_pick_up(d, false, R"({"error":"not_taken"})");
  BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? std::string() : st.error().message));
  BOOST_TEST(!fs::exists(f.pickup / long_name));  // moved: not offered again
  const auto refused = names_in(f.pickup / "refused");
  BOOST_REQUIRE_EQUAL(refused.size(), 2u);
  for (const auto& name : refused) BOOST_TEST(name.size() <= 255u, name);
  BOOST_TEST(a.pick_up()->empty());
}

BOOST_AUTO_TEST_CASE(a_file_that_cannot_be_moved_is_not_offered_forever) {
  Folders f;
  test::write(f.pickup / "refused", "a file where the folder should be");
  test::write(f.pickup / "bad.xml", "not a package");
  auto a = f.adapter();
  int offers = 0;
  for (int round = 0; round < 10; ++round) {
    auto dropped = a.pick_up();
    BOOST_REQUIRE(dropped.ok());
    for (const auto& d : *dropped) {
      ++offers;
      BOOST_TEST(!a.finish_pick_up(d, false, R"({"error":"malformed"})").ok());
    }
  }
  BOOST_TEST(offers == DirectoryAdapter::kMaxMoveTries);
}

BOOST_AUTO_TEST_CASE(a_full_disk_never_leaves_a_report_without_its_package) {
  Folders f;
  const std::string report = R"({"valid":true})";
  const std::string big(64 * 1024, 'x');  // beyond the child's file size limit
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);  // a write beyond the limit fails with EFBIG instead
    const rlimit limit{16 * 1024, 16 * 1024};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    DirectoryAdapter a("office", f.inbox);
    auto r = a.deliver({"doc-1", "", "", {}, "edoc", big, report});
    ::_exit(r.ok() ? 0 : 1);
  }
  int status = 0;
  BOOST_REQUIRE_EQUAL(::waitpid(pid, &status, 0), pid);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 1);   // the delivery failed, to be retried
  BOOST_TEST(names_in(f.inbox).empty());  // no report alone, no temporary file left

  // With room, both land.
  DirectoryAdapter a("office", f.inbox);
  BOOST_REQUIRE(a.deliver({"doc-1", "", "", {}, "edoc", big, report}).ok());
  BOOST_TEST(names_in(f.inbox) == (std::set<std::string>{"doc-1.report.json", "doc-1.xml"}));
  BOOST_TEST(test::read(f.inbox / "doc-1.report.json") == report);
}
