#pragma once

// A unary callback reactor completed from another thread (an executor or an issuance
// notification), exactly once, whichever comes first: the result or the client's
// cancellation. Completion goes through a shared CallState, so late completions after the
// reactor is gone are harmless no-ops.

#include <functional>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/server_callback.h"
#include "server/api/status_mapping.h"
#include "server/issuance/executor.h"

namespace certfleet::api {

class AsyncUnaryReactor;

// Shared between the reactor and every closure that may complete the call.
class CallState {
 public:
  explicit CallState(AsyncUnaryReactor* reactor) : reactor_(reactor) {}

  // Finishes the RPC with `status` when it is not finished yet, running `fill` (which
  // writes the response) under the lock just before. Returns false when already finished.
  bool Complete(const grpc::Status& status, const std::function<void()>& fill = {});
  // Registers what to do when the client cancels (e.g. drop a waiter); runs at once when
  // the call was already cancelled.
  void SetOnCancel(std::function<void()> on_cancel);
  // True once finished.
  bool finished() const;

 private:
  friend class AsyncUnaryReactor;
  void Cancelled();

  mutable absl::Mutex mu_;
  AsyncUnaryReactor* reactor_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> on_cancel_ ABSL_GUARDED_BY(mu_);
};

// Deletes itself in OnDone.
class AsyncUnaryReactor : public grpc::ServerUnaryReactor {
 public:
  AsyncUnaryReactor() : state_(std::make_shared<CallState>(this)) {}
  // The shared completion state.
  std::shared_ptr<CallState> state() const { return state_; }

  void OnCancel() override { state_->Cancelled(); }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<CallState> state_;
};

inline bool CallState::Complete(const grpc::Status& status, const std::function<void()>& fill) {
  absl::MutexLock lock(&mu_);
  if (finished_) return false;
  finished_ = true;
  if (fill) fill();
  reactor_->Finish(status);
  reactor_ = nullptr;
  return true;
}

inline void CallState::SetOnCancel(std::function<void()> on_cancel) {
  bool run_now;
  {
    absl::MutexLock lock(&mu_);
    run_now = cancelled_;
    if (!run_now) on_cancel_ = std::move(on_cancel);
  }
  if (run_now && on_cancel) on_cancel();
}

inline bool CallState::finished() const {
  absl::MutexLock lock(&mu_);
  return finished_;
}

inline void CallState::Cancelled() {
  std::function<void()> on_cancel;
  {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    on_cancel = std::move(on_cancel_);
  }
  if (on_cancel) on_cancel();
  Complete(grpc::Status(grpc::StatusCode::CANCELLED, "the call was cancelled"));
}

// Runs `work` on the executor and completes the call with its status; `work` fills a
// response of its own, swapped into the gRPC-owned one only if the call is still open.
template <typename Response>
grpc::ServerUnaryReactor* RunOnExecutor(issuance::Executor* executor, Response* response,
                                        std::function<absl::Status(Response*)> work) {
  auto* reactor = new AsyncUnaryReactor();
  std::shared_ptr<CallState> state = reactor->state();
  executor->Post([state, response, work = std::move(work)] {
    if (state->finished()) return;
    Response result;
    absl::Status status = work(&result);
    state->Complete(ToGrpcStatus(status), [&] {
      if (status.ok()) response->Swap(&result);
    });
  });
  return reactor;
}

}  // namespace certfleet::api
