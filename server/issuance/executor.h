#pragma once

// A fixed pool of threads running posted closures in FIFO order: where the gRPC services
// send SQLite and network work so that no callback reaction ever blocks.

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace certfleet::issuance {

class Executor {
 public:
  // Starts `threads` (at least 1) threads.
  explicit Executor(int threads);
  // Runs what was already posted, then joins the threads.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Queues `task`; after Shutdown() it runs inline on the caller's thread.
  void Post(std::function<void()> task);
  // Drains the queue and joins the threads. Idempotent.
  void Shutdown();

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace certfleet::issuance
