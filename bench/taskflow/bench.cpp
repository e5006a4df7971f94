// C++ Taskflow's "construction + names + run" of DESIGN.md's W1 and W3 (issue 23), the peer of
// legato-bench's W1-define / W3-define rows.
//
//   taskflow-bench <w1|w3> <runs>
//   taskflow-bench <w1|w3> serve
//
// Timed, per run: a fresh tf::Taskflow; every task emplaced as a no-op lambda and named
// ("t" + i; W1's last task "sink"); every dependency j of task i as tasks[j].precede(tasks[i]);
// executor.run(taskflow).wait(). The executor (2 workers, as legato-bench's tokio runtime) is
// made once, before; destroying the taskflow is not timed (legato's flow and report are not
// dropped inside the clock either). One untimed warm-up run (which checks that every body ran),
// then `runs` timed runs of no-op bodies; prints
// `tasks=N runs=R ms=M per_task_us=U construct_ms=C` with the medians (C: construction + names
// alone, before the run). With `serve`, after the warm-up it prints `ready tasks=N checksum=H` (H: the graph's
// fingerprint, see checksum()), then does
// one timed run for each line read on standard input and prints its times as
// `ms=M construct_ms=C`, until the end of the input: so legato-bench can take turns with it, run by
// run.
#include <taskflow/taskflow.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace {

// DESIGN.md's generator: state 42; s = s * 6364136223846793005 + 1442695040888963407 mod 2^64;
// each draw is s >> 33.
struct Lcg {
  std::uint64_t s = 42;
  std::uint64_t next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return s >> 33;
  }
};

struct Dag {
  std::vector<std::string> names;
  std::vector<std::vector<std::uint32_t>> deps;
};

// W1: n independent tasks t0..t{n-1} and a sink after all of them.
Dag wide(std::uint32_t n) {
  Dag d;
  for (std::uint32_t i = 0; i < n; ++i) {
    d.names.push_back("t" + std::to_string(i));
    d.deps.emplace_back();
  }
  d.names.push_back("sink");
  std::vector<std::uint32_t> all(n);
  for (std::uint32_t i = 0; i < n; ++i) all[i] = i;
  d.deps.push_back(std::move(all));
  return d;
}

// W3: for i > 0, k = 1 + next() % 3, then k times j = next() % i, depend on tj unless already
// chosen.
Dag random_dag(std::uint32_t n) {
  Dag d;
  Lcg lcg;
  for (std::uint32_t i = 0; i < n; ++i) {
    d.names.push_back("t" + std::to_string(i));
    std::vector<std::uint32_t> chosen;
    if (i > 0) {
      std::uint64_t k = 1 + lcg.next() % 3;
      for (std::uint64_t c = 0; c < k; ++c) {
        auto j = static_cast<std::uint32_t>(lcg.next() % i);
        if (std::find(chosen.begin(), chosen.end(), j) == chosen.end()) chosen.push_back(j);
      }
    }
    d.deps.push_back(std::move(chosen));
  }
  return d;
}

// Seconds: the whole run, and the construction + names alone (the start of it).
struct Took {
  double total;
  double construct;
};

// A fingerprint of the graph, the same as legato-bench's `Dag::checksum`: FNV-1a over
// (i << 32) | j for every dependency j of every task i, in order, one 64-bit word each.
std::uint64_t checksum(const Dag& d) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::size_t i = 0; i < d.deps.size(); ++i)
    for (auto j : d.deps[i]) h = (h ^ (static_cast<std::uint64_t>(i) << 32 | j)) * 0x100000001b3ULL;
  return h;
}

// One timed construction + names + run, every task's body a copy of `body`.
template <typename Body>
Took once(const Dag& dag, tf::Executor& executor, const Body& body) {
  const auto n = dag.names.size();
  auto start = std::chrono::steady_clock::now();
  auto flow = std::make_unique<tf::Taskflow>();
  std::vector<tf::Task> tasks;
  tasks.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto task = flow->emplace(Body(body));
    task.name(i + 1 == n && dag.names[i] == "sink" ? std::string("sink")
                                                    : "t" + std::to_string(i));
    for (auto j : dag.deps[i]) tasks[j].precede(task);
    tasks.push_back(task);
  }
  auto built = std::chrono::steady_clock::now();
  executor.run(*flow).wait();
  auto end = std::chrono::steady_clock::now();
  flow.reset();
  return Took{std::chrono::duration<double>(end - start).count(),
              std::chrono::duration<double>(built - start).count()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: taskflow-bench <w1|w3> <runs|serve>\n");
    return 2;
  }
  std::string which = argv[1];
  bool serve = std::string(argv[2]) == "serve";
  int runs = serve ? 1 : std::atoi(argv[2]);
  if ((which != "w1" && which != "w3") || runs < 1) {
    std::fprintf(stderr, "usage: taskflow-bench <w1|w3> <runs|serve>\n");
    return 2;
  }
  Dag dag = which == "w1" ? wide(10000) : random_dag(10000);
  tf::Executor executor(2);
  // The warm-up counts the bodies that ran (every task, once); the timed runs' bodies do
  // nothing, as legato's.
  std::atomic<std::size_t> ran{0};
  once(dag, executor, [&ran] { ran.fetch_add(1, std::memory_order_relaxed); });
  if (ran.load() != dag.names.size()) {
    std::fprintf(stderr, "taskflow-bench: %zu bodies ran, not %zu\n", ran.load(),
                 dag.names.size());
    return 1;
  }
  if (serve) {
    std::printf("ready tasks=%zu checksum=%llu\n", dag.names.size(),
                static_cast<unsigned long long>(checksum(dag)));
    std::fflush(stdout);
    std::string line;
    while (std::getline(std::cin, line)) {
      // An untimed run first, as legato-bench does before each of legato's timed runs.
      once(dag, executor, [] {});
      Took t = once(dag, executor, [] {});
      std::printf("ms=%.4f construct_ms=%.4f\n", t.total * 1e3, t.construct * 1e3);
      std::fflush(stdout);
    }
    return 0;
  }
  std::vector<double> times, constructs;
  for (int r = 0; r < runs; ++r) {
    Took t = once(dag, executor, [] {});
    times.push_back(t.total);
    constructs.push_back(t.construct);
  }
  std::sort(times.begin(), times.end());
  std::sort(constructs.begin(), constructs.end());
  double ms = times[times.size() / 2] * 1e3;
  std::printf("tasks=%zu runs=%d ms=%.4f per_task_us=%.4f construct_ms=%.4f\n", dag.names.size(),
              runs, ms, ms * 1e3 / static_cast<double>(dag.names.size()),
              constructs[constructs.size() / 2] * 1e3);
  return 0;
}
