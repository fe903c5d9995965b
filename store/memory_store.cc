#include "store/memory_store.h"

#include <algorithm>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <type_traits>
#include <unordered_map>

#include "util/time.h"

namespace edocgw::store {
namespace {

// As the embedded engine: a misbehaving peer cannot make one answer unbounded.
constexpr std::size_t kMaxHistory = 1000;

// SQL's LIMIT: a negative limit is no limit.
std::size_t cap(int limit) {
  return limit < 0 ? std::numeric_limits<std::size_t>::max() : static_cast<std::size_t>(limit);
}

bool accepted_edoc(const InboxRow& r) {
  return r.kind == Kind::edoc && accepted(r.verification);
}

bool waiting(MailState s) {
  return s == MailState::fresh || s == MailState::processing;
}

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(MemoryOptions options) : options_(std::move(options)) {}

  // ------------------------------------------------------------ Outbox

  Result<Submitted> submit(const DocumentRow& d, const std::string& package,
                           const std::string& idempotency_key,
                           const LogRecord& log_record) override {
    return write(
        "submit",
        [&]() -> Result<Submitted> {
          if (!idempotency_key.empty()) {  // a repeat stores nothing
            auto first = idempotent_locked(d.client, idempotency_key);
            if (!first) return first.error();
            if (*first) return Submitted{.id = **first, .repeated = true};
          }
          if (d.kind == Kind::edoc && d.business_type == 0) {
            // One original per DocumentId; follow-ups (1, 2, 3) share it.
            if (auto it = originals_.find(d.document_id); it != originals_.end()) {
              return make_error(Errc::invalid, "document " + it->second +
                                                   " already has DocumentId " + d.document_id +
                                                   "; send a follow-up (revocation, update, "
                                                   "replacement) instead of a second original");
            }
          }
          if (auto st = id_free(d.id); !st) return st.error();
          std::set<std::string> organs;
          for (const auto& r : d.recipients) {
            if (!organs.insert(r.organ_id).second)
              return make_error(Errc::invalid, "recipient " + r.organ_id + " is named twice");
          }
          // Checked: nothing below fails, so the write is whole or absent.
          const std::int64_t t = now();
          Document& doc = documents_[d.id];
          doc.row = d;
          doc.row.recipients.clear();
          doc.row.created_at = doc.row.updated_at = t;
          for (const auto& r : d.recipients) {
            Recipient rec;
            rec.document = d.id;
            rec.row.organ_id = r.organ_id;
            rec.row.adapter = r.adapter;
            rec.row.state = r.state;
            rec.row.last_error = r.last_error;
            rec.row.next_attempt_at = t;
            rec.row.updated_at = t;
            doc.recipients.push_back(recipients_.size());
            recipients_.push_back(std::move(rec));
          }
          if (d.kind == Kind::edoc && d.business_type == 0) originals_[d.document_id] = d.id;
          if (!idempotency_key.empty()) {
            auto [name, body_sha256] = split_idempotency_key(idempotency_key);
            idempotency_[{d.client, name}] = {d.id, body_sha256};
          }
          packages_[d.id] = Package{.bytes = package, .stored_at = t};
          return Submitted{.id = d.id, .repeated = false};
        },
        &log_record, d.id);
  }

  Result<std::optional<std::string>> idempotent(const std::string& client,
                                                const std::string& key) override {
    return read("idempotent", [&] { return idempotent_locked(client, key); });
  }

  Result<std::optional<DocumentRow>> document(const std::string& id) override {
    return read("document", [&] { return Result(document_locked(id)); });
  }

  Result<std::optional<DocumentRow>> original_document(const std::string& document_id) override {
    return read("original_document", [&] {
      auto it = originals_.find(document_id);
      return Result(it == originals_.end() ? std::nullopt : document_locked(it->second));
    });
  }

  Result<std::vector<DueDelivery>> lease_due_deliveries(std::int64_t at, int limit,
                                                        std::int64_t lease_seconds) override {
    return write("lease_due_deliveries", [&]() -> Result<std::vector<DueDelivery>> {
      std::vector<std::size_t> due;
      for (std::size_t i = 0; i < recipients_.size(); ++i) {
        const Recipient& r = recipients_[i];
        if (r.row.state == RecipientState::pending && r.row.next_attempt_at <= at &&
            r.leased_until <= at)
          due.push_back(i);
      }
      // Oldest first; the same time in the order they were stored.
      std::stable_sort(due.begin(), due.end(), [&](std::size_t a, std::size_t b) {
        return recipients_[a].row.next_attempt_at < recipients_[b].row.next_attempt_at;
      });
      if (due.size() > cap(limit)) due.resize(cap(limit));
      std::vector<DueDelivery> out;
      for (std::size_t i : due) {
        Recipient& r = recipients_[i];
        r.leased_until = at + lease_seconds;
        const DocumentRow& d = documents_.at(r.document).row;
        DueDelivery dd;
        dd.document = r.document;
        dd.kind = d.kind;
        dd.organ_id = r.row.organ_id;
        dd.adapter = r.row.adapter;
        dd.sender = d.sender;
        dd.document_id = d.document_id;
        dd.attempts = r.row.attempts;
        out.push_back(std::move(dd));
      }
      return out;
    });
  }

  Status record_delivery(const std::string& document, const std::string& organ_id, bool ok,
                         bool give_up, const std::string& detail, const std::string& remote_id,
                         std::int64_t next_attempt_at) override {
    return write("record_delivery", [&]() -> Status {
      // Like an UPDATE that matches no row: an unknown recipient is no error.
      auto it = documents_.find(document);
      if (it == documents_.end()) return {};
      Recipient* r = recipient_locked(it->second, organ_id);
      if (r == nullptr) return {};
      const std::int64_t t = now();
      r->row.state =
          ok ? RecipientState::sent : (give_up ? RecipientState::failed : RecipientState::pending);
      ++r->row.attempts;
      r->row.next_attempt_at = next_attempt_at;
      r->row.last_error = ok ? std::string() : detail;
      r->row.remote_id = remote_id;
      r->row.updated_at = t;
      r->leased_until = 0;  // the lease ends with the attempt
      refresh_state_locked(it->second, t);
      return {};
    });
  }

  Result<StatusOutcome> record_status(const std::string& document_id, StatusEntry entry) override {
    return write("record_status", [&]() -> Result<StatusOutcome> {
      // Only the original the recipient was sent gets statuses.
      auto it = originals_.find(document_id);
      if (it == originals_.end()) return StatusOutcome::no_document;
      Document& doc = documents_.at(it->second);
      Recipient* r = recipient_locked(doc, entry.organ_id);
      if (r == nullptr) return StatusOutcome::no_document;
      const std::string& current = r->row.status_code;
      const std::int64_t current_at = r->row.status_at;
      entry.applied =
          current.empty() || entry.timestamp > current_at ||
          (entry.timestamp == current_at && status_rank(entry.code) > status_rank(current));
      entry.direction = Direction::in;
      statuses_[doc.row.id].push_back(entry);
      if (!entry.applied) return StatusOutcome::kept_older;
      const std::int64_t t = now();
      r->row.status_code = entry.code;
      r->row.status_description = entry.description;
      r->row.status_at = entry.timestamp;
      r->row.updated_at = t;
      refresh_state_locked(doc, t);
      return StatusOutcome::applied;
    });
  }

  // ------------------------------------------------------------ Inbox

  Result<bool> add_inbox(InboxRow& row, const std::string& package,
                         const LogRecord& log_record) override {
    return write(
        "add_inbox",
        [&]() -> Result<bool> {
          row.conflict_of.clear();
          if (row.business_type == 0 && accepted_edoc(row)) {
            // Another accepted original with this sender and DocumentId but
            // other bytes: kept as a conflicting copy.
            for (const auto& r : inbox_) {
              if (r.sender == row.sender && r.document_id == row.document_id &&
                  r.business_type == 0 && accepted_edoc(r) &&
                  r.package_sha256 != row.package_sha256) {
                row.conflict_of = r.id;
                break;
              }
            }
          }
          // The same row or the same accepted package again: nothing stored.
          if (inbox_index_.count(row.id) != 0) return false;
          if (accepted_edoc(row) && accepted_copy_locked(row)) return false;
          if (auto st = id_free(row.id); !st) return st.error();
          InboxRow stored = row;
          stored.handled = false;
          stored.concerns.clear();
          stored.revoked_by.clear();
          stored.superseded_by.clear();
          stored.history.clear();
          inbox_index_[row.id] = inbox_.size();
          inbox_.push_back(std::move(stored));
          packages_[row.id] = Package{.bytes = package, .stored_at = now()};
          return true;
        },
        &log_record, row.id);
  }

  Result<std::optional<InboxRow>> accepted_copy(const InboxRow& row) override {
    return read("accepted_copy", [&] { return Result(accepted_copy_locked(row)); });
  }

  Result<std::optional<InboxRow>> original_inbox_item(const std::string& sender,
                                                      const std::string& document_id) override {
    return read("original_inbox_item", [&] {
      return Result(first_inbox_locked([&](const InboxRow& r) {
        return r.sender == sender && r.document_id == document_id && r.business_type == 0 &&
               accepted_edoc(r);
      }));
    });
  }

  Status link_followup(const std::string& followup_id, const std::string& original_id,
                       bool revokes) override {
    return write("link_followup", [&]() -> Status {
      if (InboxRow* f = inbox_row_locked(followup_id)) f->concerns = original_id;
      if (InboxRow* o = inbox_row_locked(original_id))
        (revokes ? o->revoked_by : o->superseded_by) = followup_id;
      return {};
    });
  }

  Result<std::optional<InboxRow>> earlier_followup(const std::string& sender,
                                                   const std::string& document_id) override {
    // A revocation or replacement whose original had not arrived (concerns "").
    return read("earlier_followup", [&] {
      return Result(first_inbox_locked([&](const InboxRow& r) {
        return r.sender == sender && r.document_id == document_id &&
               (r.business_type == 1 || r.business_type == 3) && r.concerns.empty() &&
               accepted_edoc(r);
      }));
    });
  }

  Status mark_handled(const std::string& id) override {
    return write("mark_handled", [&]() -> Status {
      if (InboxRow* r = inbox_row_locked(id)) r->handled = true;
      return {};
    });
  }

  Result<std::vector<InboxRow>> inbox(const std::string& since, int limit) override {
    return read("inbox", [&] {
      // Rows after `since` in the order received (all of them when unknown).
      std::size_t first = 0;
      if (auto it = inbox_index_.find(since); it != inbox_index_.end()) first = it->second + 1;
      std::vector<InboxRow> out;
      for (std::size_t i = inbox_.size(); i > first && out.size() < cap(limit); --i) {
        const InboxRow& r = inbox_[i - 1];
        if (r.kind != Kind::edoc) continue;
        out.push_back(r);
        out.back().history = history_locked(r.id, "");
      }
      return Result(std::move(out));
    });
  }

  Result<std::optional<InboxRow>> inbox_item(const std::string& id) override {
    return read("inbox_item", [&] {
      auto it = inbox_index_.find(id);
      if (it == inbox_index_.end()) return Result(std::optional<InboxRow>());
      InboxRow r = inbox_[it->second];
      r.history = history_locked(id, "");
      return Result(std::optional<InboxRow>(std::move(r)));
    });
  }

  // ------------------------------------------------------------ HubMailbox

  Status add_mail(const std::vector<MailboxRow>& rows, const std::string& package,
                  const LogRecord& log_record) override {
    if (rows.empty()) return {};
    const std::string& package_id = rows[0].package_id;
    return write(
        "add_mail",
        [&]() -> Status {
          std::set<std::string> ids;
          for (const auto& m : rows) {
            if (mail_index_.count(m.id) != 0 || !ids.insert(m.id).second)
              return make_error(Errc::invalid, "mail " + m.id + " is already stored");
          }
          if (auto st = id_free(package_id); !st) return st;
          for (const auto& m : rows) {
            mail_index_[m.id] = mailbox_.size();
            mailbox_.push_back(m);
            mailbox_.back().updated_at = m.created_at;
          }
          packages_[package_id] = Package{.bytes = package, .stored_at = now()};
          return {};
        },
        &log_record, package_id);
  }

  Result<std::vector<MailboxRow>> mail_for(const std::string& to_system, Kind kind,
                                           int limit) override {
    return read("mail_for", [&] {
      std::vector<MailboxRow> out;
      for (const auto& m : mailbox_) {
        if (m.to_system == to_system && m.kind == kind && waiting(m.state)) out.push_back(m);
      }
      std::stable_sort(out.begin(), out.end(), [](const MailboxRow& a, const MailboxRow& b) {
        return a.created_at < b.created_at;
      });
      if (out.size() > cap(limit)) out.resize(cap(limit));
      return Result(std::move(out));
    });
  }

  Result<std::int64_t> count_mail_for(const std::string& to_system, Kind kind) override {
    return read("count_mail_for", [&] {
      return Result(static_cast<std::int64_t>(
          std::count_if(mailbox_.begin(), mailbox_.end(), [&](const MailboxRow& m) {
            return m.to_system == to_system && m.kind == kind && waiting(m.state);
          })));
    });
  }

  Result<std::vector<MailboxRow>> sent_mail(const std::string& from_system,
                                            std::optional<Kind> kind, const std::string& package_id,
                                            int limit) override {
    return read("sent_mail", [&] {
      // Newest first; the same time, the last stored first.
      std::vector<MailboxRow> out;
      for (auto it = mailbox_.rbegin(); it != mailbox_.rend(); ++it) {
        if (it->from_system == from_system && (!kind || it->kind == *kind) &&
            (package_id.empty() || it->package_id == package_id))
          out.push_back(*it);
      }
      std::stable_sort(out.begin(), out.end(), [](const MailboxRow& a, const MailboxRow& b) {
        return a.created_at > b.created_at;
      });
      if (out.size() > cap(limit)) out.resize(cap(limit));
      return Result(std::move(out));
    });
  }

  Result<std::optional<MailboxRow>> mail(const std::string& id) override {
    return read("mail", [&] {
      auto it = mail_index_.find(id);
      return Result(it == mail_index_.end() ? std::optional<MailboxRow>()
                                            : std::optional<MailboxRow>(mailbox_[it->second]));
    });
  }

  Status set_mail_state(const std::string& id, MailState state) override {
    return write("set_mail_state", [&]() -> Status {
      if (auto it = mail_index_.find(id); it != mail_index_.end()) {
        mailbox_[it->second].state = state;
        mailbox_[it->second].updated_at = now();
      }
      return {};
    });
  }

  Result<std::vector<AgencyRow>> agencies() override {
    return read("agencies", [&] {
      std::vector<AgencyRow> out;
      for (const auto& [code, a] : agencies_) out.push_back(a);
      return Result(std::move(out));
    });
  }

  Status add_agency(const AgencyRow& agency) override {
    return write("add_agency", [&]() -> Status {
      agencies_[agency.code] = agency;
      return {};
    });
  }

  Result<bool> delete_agency(const std::string& code) override {
    return write("delete_agency", [&]() -> Result<bool> { return agencies_.erase(code) > 0; });
  }

  // ------------------------------------------------------------ PackageStore

  Result<std::optional<std::string>> read_package(const std::string& id) override {
    return read("read_package", [&]() -> Result<std::optional<std::string>> {
      auto it = packages_.find(id);
      if (it == packages_.end()) return make_error(Errc::invalid, "no package is stored as " + id);
      return it->second.bytes;
    });
  }

  Result<PurgeReport> purge(std::int64_t before) override {
    return write("purge", [&]() -> Result<PurgeReport> {
      // What work still needs: a recipient not yet reached, an incoming
      // package not handed inward, mail not fetched.
      std::set<std::string> needed;
      for (const auto& r : recipients_) {
        if (r.row.state == RecipientState::pending) needed.insert(r.document);
      }
      for (const auto& r : inbox_) {
        if (!r.handled) needed.insert(r.id);
      }
      for (const auto& m : mailbox_) {
        if (waiting(m.state)) needed.insert(m.package_id);
      }
      PurgeReport report;
      for (auto& [id, p] : packages_) {
        if (!p.bytes || p.stored_at >= before || needed.count(id) != 0) continue;
        p.bytes.reset();
        ++report.packages;
      }
      return report;
    });
  }

  // ------------------------------------------------------------ Store

  Status add_status_history(const std::string& ref, const StatusEntry& entry) override {
    return write("add_status_history", [&]() -> Status {
      statuses_[ref].push_back(entry);
      return {};
    });
  }

  Result<Counts> counts() override {
    return read("counts", [&] {
      Counts c;
      for (const auto& [id, doc] : documents_) ++c.documents[doc.row.state];
      for (const auto& r : recipients_) {
        if (r.row.state == RecipientState::pending) ++c.queue_depth;
      }
      for (const auto& r : inbox_) ++c.inbox[r.verification];
      for (const auto& m : mailbox_) ++c.mailbox[m.state];
      return Result(std::move(c));
    });
  }

  Status ping() override {
    return read("ping", []() -> Status { return {}; });
  }

  std::vector<std::string> notices() const override { return {}; }

 private:
  struct Recipient {
    std::string document;
    RecipientRow row;  // history: in statuses_
    std::int64_t leased_until = 0;
  };
  struct Document {
    DocumentRow row;                      // recipients: in recipients_
    std::vector<std::size_t> recipients;  // indices into recipients_
  };
  struct Package {
    std::optional<std::string> bytes;  // nullopt: purged
    std::int64_t stored_at = 0;
  };
  struct IdempotencyEntry {
    std::string document, body_sha256;  // body_sha256 "": matches any body
  };

  std::int64_t now() const {
    return options_.clock ? options_.clock() : now_seconds().time_since_epoch().count();
  }

  static Error injected(std::string_view method, std::string_view what) {
    return make_error(Errc::io, "the memory store was told to fail " + std::string(what) + " (" +
                                    std::string(method) + ")");
  }

  // One write, as the durable engines do it: the fault asked first; then
  // the LogRecord naming the package's bytes and the log sync, outside the
  // lock (they may call the store); then `rows` under the lock, which check
  // everything before changing anything, so a write is whole or absent.
  template <class Rows>
  std::invoke_result_t<Rows&> write(std::string_view method, Rows&& rows,
                                    const LogRecord* log = nullptr,
                                    const std::string& package_id = {}) {
    const WriteFault fault = options_.fail_writes ? options_.fail_writes(method) : WriteFault::none;
    if (fault == WriteFault::before) return injected(method, "a write");
    if (log != nullptr && *log) {
      if (auto st = (*log)("memory/" + package_id); !st) return st.error();
      if (options_.log_sync) {
        if (auto st = options_.log_sync(); !st) return st.error();
      }
    }
    auto out = [&] {
      std::lock_guard lock(mutex_);
      return rows();
    }();
    if (fault == WriteFault::after && out.ok())
      return injected(method, "a write after it happened");
    return out;
  }

  template <class Rows>
  std::invoke_result_t<Rows&> read(std::string_view method, Rows&& rows) {
    if (options_.fail_reads && options_.fail_reads(method)) return injected(method, "a read");
    std::lock_guard lock(mutex_);
    return rows();
  }

  // An id names one body: documents, inbox rows and hub packages share them.
  Status id_free(const std::string& id) const {
    if (packages_.count(id) != 0)
      return make_error(Errc::invalid, "a package is already stored as " + id);
    return {};
  }

  Result<std::optional<std::string>> idempotent_locked(const std::string& client,
                                                       const std::string& key) const {
    const auto [name, body_sha256] = split_idempotency_key(key);
    auto it = idempotency_.find({client, name});
    if (it == idempotency_.end()) return std::optional<std::string>();
    const IdempotencyEntry& first = it->second;
    if (!body_sha256.empty() && !first.body_sha256.empty() && body_sha256 != first.body_sha256) {
      return make_error(Errc::invalid, "the Idempotency-Key \"" + name +
                                           "\" was used for document " + first.document +
                                           " with another body; use a new key for a new body");
    }
    return std::optional<std::string>(first.document);
  }

  Recipient* recipient_locked(const Document& doc, const std::string& organ_id) {
    for (std::size_t i : doc.recipients) {
      if (recipients_[i].row.organ_id == organ_id) return &recipients_[i];
    }
    return nullptr;
  }

  // The statuses about `ref` (from `organ_id`, or all when ""), by their
  // Timestamp, then arrival, then the order stored.
  std::vector<StatusEntry> history_locked(const std::string& ref,
                                          const std::string& organ_id) const {
    std::vector<StatusEntry> out;
    auto it = statuses_.find(ref);
    if (it == statuses_.end()) return out;
    for (const auto& e : it->second) {
      if (organ_id.empty() || e.organ_id == organ_id) out.push_back(e);
    }
    std::stable_sort(out.begin(), out.end(), [](const StatusEntry& a, const StatusEntry& b) {
      return std::pair(a.timestamp, a.received_at) < std::pair(b.timestamp, b.received_at);
    });
    if (out.size() > kMaxHistory) out.resize(kMaxHistory);
    return out;
  }

  std::optional<DocumentRow> document_locked(const std::string& id) const {
    auto it = documents_.find(id);
    if (it == documents_.end()) return std::nullopt;
    DocumentRow d = it->second.row;
    for (std::size_t i : it->second.recipients) {
      d.recipients.push_back(recipients_[i].row);
      d.recipients.back().history = history_locked(id, recipients_[i].row.organ_id);
    }
    return d;
  }

  // The document's state from its recipients (store.h, DocumentState);
  // rejected stays.
  void refresh_state_locked(Document& doc, std::int64_t t) {
    if (doc.row.state == DocumentState::rejected) return;
    std::size_t pending = 0, failed = 0, reported = 0;
    std::string reason;
    for (std::size_t i : doc.recipients) {
      const RecipientRow& r = recipients_[i].row;
      if (r.state == RecipientState::pending) ++pending;
      if (r.state == RecipientState::failed) {
        ++failed;
        reason = std::max(reason, r.last_error);  // as the SQL's MAX(): one of them, stably
      }
      if (!r.status_code.empty()) ++reported;
    }
    DocumentState state = DocumentState::sent;
    if (failed > 0) {
      state = DocumentState::failed;
    } else if (pending > 0) {
      state = DocumentState::queued;
    } else if (reported == doc.recipients.size()) {
      state = DocumentState::delivered;
    }
    doc.row.state = state;
    doc.row.reason = reason;  // "" unless failed
    doc.row.updated_at = t;
  }

  InboxRow* inbox_row_locked(const std::string& id) {
    auto it = inbox_index_.find(id);
    return it == inbox_index_.end() ? nullptr : &inbox_[it->second];
  }

  // The first row received that matches, without its history.
  template <class Match>
  std::optional<InboxRow> first_inbox_locked(Match match) const {
    for (const auto& r : inbox_) {
      if (match(r)) return r;
    }
    return std::nullopt;
  }

  std::optional<InboxRow> accepted_copy_locked(const InboxRow& row) const {
    return first_inbox_locked([&](const InboxRow& r) {
      return r.sender == row.sender && r.document_id == row.document_id &&
             r.business_type == row.business_type && r.package_sha256 == row.package_sha256 &&
             accepted_edoc(r);
    });
  }

  const MemoryOptions options_;
  std::mutex mutex_;
  // Everything below is guarded by mutex_. Vectors keep the order rows were
  // stored in (SQL's rowid), maps find them by id.
  std::map<std::string, Document> documents_;
  std::vector<Recipient> recipients_;
  std::map<std::string, std::string> originals_;  // DocumentId -> our original's id
  std::map<std::pair<std::string, std::string>, IdempotencyEntry> idempotency_;  // (client, key)
  std::unordered_map<std::string, std::vector<StatusEntry>> statuses_;           // by ref
  std::vector<InboxRow> inbox_;
  std::unordered_map<std::string, std::size_t> inbox_index_;
  std::vector<MailboxRow> mailbox_;
  std::unordered_map<std::string, std::size_t> mail_index_;
  std::map<std::string, AgencyRow> agencies_;
  std::map<std::string, Package> packages_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_memory_store(MemoryOptions options) {
  return std::unique_ptr<Store>(std::make_unique<MemoryStore>(std::move(options)));
}

}  // namespace edocgw::store
