// Two gateways of one organisation sharing one PostgreSQL (issue 10): a
// real server, real `edocgw serve` processes, the hub and Đakrông on
// loopback. One node is killed with -9 in the middle of its deliveries; the
// other takes its leased work over once the leases run out, and every
// document reaches the office exactly once.
#define BOOST_TEST_MODULE shared_store
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "tests/gateway/province.h"
#include "tests/support/postgres_server.h"

using namespace edocgw;
using namespace edocgw::test;

namespace {

std::string with_store(std::string xml, const std::string& dsn) {
  return replace_once(xml, "</gateway>",
                      R"(  <store type="postgresql" dsn=")" + dsn +
                          R"(" delivery-lease="5s"/>
</gateway>)");
}

// A TCP port that takes connections and never answers: an exchange that
// hangs, so that a node's deliveries stay in flight (leased) until killed.
struct BlackHole {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int port = 0;
  BlackHole() {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    BOOST_REQUIRE(::listen(fd, 512) == 0);
    socklen_t n = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
    port = ntohs(a.sin_port);
  }
  ~BlackHole() { ::close(fd); }
};

json document_at(GatewayProcess& node, const std::string& id) {
  auto r =
      http("GET", node.api_url() + "/v1/documents/" + id, {"Authorization: Bearer " + kTokenA});
  return r.status == 200 ? json::parse(r.body) : json();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_node_killed_mid_delivery_leaves_its_work_to_the_other_exactly_once) {
  PostgresServer pg;
  TempDir dir;
  const int hub_port = free_port();
  GatewayProcess hub(dir / "hub", hub_config(hub_port));
  hub.start();
  const std::string a_xml = with_store(
      district_config("000.00.12.H50", "UBND huyện Hướng Hóa", "huong-hoa", hub_port, kTokenA),
      pg.dsn());
  // Node 1 reaches the exchange through a black hole: every delivery it
  // leases hangs there until it is killed. Node 2 reaches the hub.
  BlackHole hole;
  GatewayProcess a1(dir / "a1", replace_once(a_xml, "127.0.0.1:" + std::to_string(hub_port),
                                             "127.0.0.1:" + std::to_string(hole.port)));
  GatewayProcess a2(dir / "a2", a_xml);
  a1.start();
  a2.start();
  GatewayProcess b(dir / "b", district_config("000.00.13.H50", "UBND huyện Đakrông", "dakrong",
                                              hub_port, kTokenB));
  b.start();

  // 40 documents submitted to node 1; both nodes lease shares of them.
  // Node 1 is killed while its share hangs in delivery.
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    const auto r = http("POST", a1.api_url() + "/v1/documents",
                        {"Authorization: Bearer " + kTokenA, "Content-Type: application/xml"},
                        package(std::to_string(900 + i)));
    ids.push_back(id_of(r));
  }
  eventually([] { return false; }, 2);
  a1.kill9();

  // Node 2 sees every document (one database) and gets each one delivered.
  auto inbox_b = [&] {
    auto r = http("GET", b.api_url() + "/v1/inbox", {"Authorization: Bearer " + kTokenB});
    return r.status == 200 ? json::parse(r.body) : json::array();
  };
  BOOST_REQUIRE(eventually([&] { return inbox_b().size() >= ids.size(); }, 90));
  for (const auto& id : ids) {
    BOOST_REQUIRE_MESSAGE(eventually([&] {
                            const json d = document_at(a2, id);
                            return d.is_object() && d["status"] != "queued";
                          }),
                          id << " was not delivered");
  }
  eventually([] { return false; }, 2);  // room for a duplicate to show
  const json inbox = inbox_b();
  BOOST_TEST(inbox.size() == ids.size());
  std::set<std::string> document_ids;
  for (const auto& item : inbox) document_ids.insert(item["document_id"].get<std::string>());
  BOOST_TEST(document_ids.size() == ids.size());
  size_t office = 0;
  for (const auto& e : std::filesystem::directory_iterator(b.dir() / "var/office-inbox"))
    office += e.path().extension() == ".xml";
  BOOST_TEST(office == ids.size());

  // Each node keeps its own signature log; node 2's verifies with its
  // bodies read back from the database (names postgresql/ID).
  BOOST_REQUIRE_EQUAL(a2.stop(), 0);
  const auto audit =
      run(edocgw_cmd() + " audit verify --config " + quote(dir / "a2/gateway.xml") + " --json");
  BOOST_TEST(audit.exit_code == 0, audit.out << audit.err);
  // A second gateway on node 2's data-dir is refused (one log, one writer),
  // whatever the store.
  a2.start();
  const auto again =
      run("timeout 20 " + edocgw_cmd() + " serve --config " + quote(dir / "a2/gateway.xml"));
  BOOST_TEST(again.exit_code != 0);
  BOOST_TEST(again.err.find("another edocgw is running on") != std::string::npos, again.err);
}
