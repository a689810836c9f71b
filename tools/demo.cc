// sqlsync-demo: a coordinator and N clients in one process, linked by the
// simulated network (src/sim/sim_network.h). Each client adds and toggles
// tasks on a shared todo list while the network connects, disconnects and
// delivers messages in a seeded random order; then everyone syncs and the
// replicas are compared. Exit status 0 if they are identical.
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include "sim/sim_network.h"

namespace sqlsync {
namespace {

constexpr const char* kUsage =
    "Usage: sqlsync-demo [--clients N] [--mutations M] [--seed S]\n"
    "\n"
    "Runs a coordinator and N clients of one todo-list document in this process,\n"
    "over a simulated network. Each client adds and toggles tasks while the\n"
    "network connects, disconnects and delivers messages in a random order fixed\n"
    "by the seed; then every client syncs and all replicas are compared.\n"
    "\n"
    "  --clients N     number of clients, 1..64 (default 3)\n"
    "  --mutations M   mutations each client makes, 0..100000 (default 4)\n"
    "  --seed S        seed of the simulated network (default 1)\n"
    "  --help          print this help\n"
    "\n"
    "Exit status: 0 if all replicas are identical, 1 if they differ, 2 on a\n"
    "usage error or a failure.\n";

constexpr const char* kTaskNames[] = {
    "water the plants",   "buy oat milk",       "call the plumber",      "write the talk",
    "fix the flaky test", "book train tickets", "read the design brief", "take out the recycling",
};

struct Flags {
  size_t clients = 3;
  uint64_t mutations = 4;
  uint64_t seed = 1;
};

bool parse_number(std::string_view text, uint64_t min, uint64_t max, uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  if (value < min || value > max) return false;
  out = value;
  return true;
}

// Parses argv into `flags`. Returns an exit status to stop with, or -1 to run.
int parse_flags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    struct Spec {
      const char* name;
      uint64_t min;
      uint64_t max;
    };
    const Spec specs[] = {{"--clients", 1, 64}, {"--mutations", 0, 100'000}, {"--seed", 0, UINT64_MAX}};
    const Spec* spec = nullptr;
    for (const Spec& candidate : specs) {
      if (flag == candidate.name) spec = &candidate;
    }
    if (spec == nullptr) {
      std::fprintf(stderr, "sqlsync-demo: unknown argument '%s'\n\n%s", argv[i], kUsage);
      return 2;
    }
    uint64_t value = 0;
    if (i + 1 >= argc || !parse_number(argv[i + 1], spec->min, spec->max, value)) {
      std::fprintf(stderr, "sqlsync-demo: %s needs a number from %llu to %llu\n", spec->name,
                   static_cast<unsigned long long>(spec->min), static_cast<unsigned long long>(spec->max));
      return 2;
    }
    ++i;
    if (flag == "--clients") flags.clients = static_cast<size_t>(value);
    if (flag == "--mutations") flags.mutations = value;
    if (flag == "--seed") flags.seed = value;
  }
  return -1;
}

// The progress worth reading; deliveries, polls and clock ticks are left out.
void print_event(const SimEvent& event) {
  const std::string who =
      event.client == SimEvent::kCoordinator ? "coordinator" : "client " + std::to_string(event.client);
  switch (event.kind) {
    case SimEvent::Kind::kConnect: std::printf("  %s goes online\n", who.c_str()); break;
    case SimEvent::Kind::kDisconnect: std::printf("  %s goes offline\n", who.c_str()); break;
    case SimEvent::Kind::kStep: std::printf("  coordinator step: %s\n", event.detail.c_str()); break;
    case SimEvent::Kind::kRejectionReported:
      std::printf("  %s learns a mutation was rejected: %s\n", who.c_str(), event.detail.c_str());
      break;
    case SimEvent::Kind::kLinkClosed: std::printf("  %s link closed: %s\n", who.c_str(), event.detail.c_str()); break;
    default: break;
  }
}

// Client `index` adds its task number `next_task`, or toggles a task it sees
// (any client's).
Status make_mutation(SimNetwork& sim, size_t index, uint64_t& next_task) {
  SimRng& rng = sim.rng();
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<TodoTask> tasks, todo_tasks(todo_query(sim.client(index))));
  SimMutation mutation;
  std::string what;
  if (!tasks.empty() && sim_uniform(rng, 5) < 2) {
    const TodoTask& task = tasks[sim_uniform(rng, tasks.size())];
    mutation.json = todo::toggle_task(task.id);
    what = std::string(task.completed ? "reopens" : "completes") + " task " + task.id + " \"" + task.description + "\"";
  } else {
    std::string id = sim.author(index) + "-" + std::to_string(++next_task);
    std::string name = kTaskNames[sim_uniform(rng, std::size(kTaskNames))];
    mutation.json = todo::create_task(id, name);
    what = "adds task " + id + " \"" + name + "\"";
  }
  SQLSYNC_ASSIGN_OR_RETURN(bool accepted, sim.mutate(index, std::move(mutation)));
  std::printf("  client %zu %s%s (%llu pending)\n", index, what.c_str(), accepted ? "" : ", refused locally",
              static_cast<unsigned long long>(sim.client(index).pending_mutations()));
  return Status::ok();
}

Status run_workload(SimNetwork& sim, const Flags& flags) {
  // One event in kMutateOneIn is a mutation by a client with budget left; the
  // network's own random events fill the rest.
  constexpr uint64_t kMutateOneIn = 10;
  std::vector<uint64_t> tasks_created(sim.client_count(), 0);
  for (;;) {
    std::vector<size_t> busy;
    for (size_t i = 0; i < sim.client_count(); ++i) {
      if (sim.sent(i).size() < flags.mutations) busy.push_back(i);
    }
    if (busy.empty()) return Status::ok();
    if (sim_uniform(sim.rng(), kMutateOneIn) == 0) {
      size_t client = busy[sim_uniform(sim.rng(), busy.size())];
      SQLSYNC_RETURN_IF_ERROR(make_mutation(sim, client, tasks_created[client]));
    } else {
      SQLSYNC_RETURN_IF_ERROR(sim.random_step());
    }
  }
}

void print_tasks(const std::vector<TodoTask>& tasks) {
  constexpr size_t kMaxShown = 20;
  if (tasks.empty()) std::printf("    (no tasks)\n");
  for (size_t i = 0; i < tasks.size() && i < kMaxShown; ++i) {
    const TodoTask& task = tasks[i];
    std::printf("    [%c] %-6s %s\n", task.completed ? 'x' : ' ', task.id.c_str(), task.description.c_str());
  }
  if (tasks.size() > kMaxShown) std::printf("    ... and %zu more\n", tasks.size() - kMaxShown);
}

// Prints the outcome; true if every replica equals the coordinator.
Result<bool> report(SimNetwork& sim) {
  SQLSYNC_ASSIGN_OR_RETURN(std::string expected, todo_dump(todo_query(sim.coordinator())));
  bool identical = true;
  for (size_t i = 0; i < sim.client_count(); ++i) {
    LocalDocument& client = sim.client(i);
    const SimClientStats& stats = sim.stats(i);
    std::printf(
        "client %zu (timeline %s): %llu mutations made, %zu rejected by the coordinator, "
        "%llu messages received (%llu frames), %llu connections, storage log %s, %llu pending\n",
        i, client.timeline_id().to_hex().c_str(), static_cast<unsigned long long>(stats.mutations),
        sim.rejections(i).size(), static_cast<unsigned long long>(stats.messages_received),
        static_cast<unsigned long long>(stats.frames_received), static_cast<unsigned long long>(stats.connects),
        client.storage_range().to_string().c_str(), static_cast<unsigned long long>(client.pending_mutations()));
    SQLSYNC_ASSIGN_OR_RETURN(std::vector<TodoTask> tasks, todo_tasks(todo_query(client)));
    print_tasks(tasks);
    SQLSYNC_ASSIGN_OR_RETURN(std::string actual, todo_dump(todo_query(client)));
    if (actual != expected || client.pending_mutations() != 0) {
      identical = false;
      std::printf("  differs from the coordinator:\n--- coordinator\n%s--- client %zu\n%s", expected.c_str(), i,
                  actual.c_str());
    }
  }
  const SimCoordinatorStats& stats = sim.coordinator_stats();
  std::printf("coordinator: storage log %s, %llu mutations applied, %llu rejected, %llu steps, %llu frames committed\n",
              sim.coordinator().storage_range().to_string().c_str(), static_cast<unsigned long long>(stats.applied),
              static_cast<unsigned long long>(stats.rejected), static_cast<unsigned long long>(stats.steps),
              static_cast<unsigned long long>(stats.frames_committed));
  SQLSYNC_ASSIGN_OR_RETURN(std::vector<TodoTask> tasks, todo_tasks(todo_query(sim.coordinator())));
  print_tasks(tasks);
  if (!sim.link_errors().empty()) {
    identical = false;
    for (const std::string& error : sim.link_errors()) std::printf("protocol error: %s\n", error.c_str());
  }
  std::printf("all replicas identical: %s\n", identical ? "yes" : "no");
  return identical;
}

int run(const Flags& flags) {
  SimNetwork::Options options;
  options.seed = flags.seed;
  options.clients = flags.clients;
  options.on_event = print_event;
  Result<std::unique_ptr<SimNetwork>> created = SimNetwork::create(std::move(options));
  if (!created.is_ok()) {
    std::fprintf(stderr, "sqlsync-demo: %s\n", created.status().to_string().c_str());
    return 2;
  }
  SimNetwork& sim = **created;
  std::printf("sqlsync demo: 1 coordinator and %zu clients sharing document %s; %llu mutations each; seed %llu\n\n",
              flags.clients, sim.coordinator().document_id().to_hex().c_str(),
              static_cast<unsigned long long>(flags.mutations), static_cast<unsigned long long>(flags.seed));

  Status status = run_workload(sim, flags);
  if (status.is_ok()) {
    std::printf("\nEvery client reconnects and syncs until the network is quiet...\n");
    status = sim.run_until_quiet();
  }
  if (!status.is_ok()) {
    std::fprintf(stderr, "sqlsync-demo: %s\n", status.to_string().c_str());
    return 2;
  }
  std::printf("\n");
  Result<bool> identical = report(sim);
  if (!identical.is_ok()) {
    std::fprintf(stderr, "sqlsync-demo: %s\n", identical.status().to_string().c_str());
    return 2;
  }
  return *identical ? 0 : 1;
}

}  // namespace
}  // namespace sqlsync

int main(int argc, char** argv) {
  // Progress lines appear as they happen, also through a pipe.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  sqlsync::Flags flags;
  int exit_status = sqlsync::parse_flags(argc, argv, flags);
  if (exit_status >= 0) return exit_status;
  return sqlsync::run(flags);
}
