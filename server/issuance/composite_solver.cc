#include "server/issuance/composite_solver.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace certfleet::issuance {

CompositeSolver::CompositeSolver(std::vector<acme::ChallengeSolver*> solvers) {
  for (acme::ChallengeSolver* s : solvers) {
    if (s != nullptr) solvers_.push_back(s);
  }
}

absl::StatusOr<acme::ChallengeSolver*> CompositeSolver::Pick(const identifiers::Identifier& id,
                                                             const std::string& type) {
  absl::Status first;
  for (acme::ChallengeSolver* s : solvers_) {
    absl::Status st = s->CanSolve(id, type);
    if (st.ok()) return s;
    if (first.ok()) first = st;
  }
  if (!first.ok()) return first;
  return absl::FailedPreconditionError(
      absl::StrCat("no challenge solver is configured to answer ", type, " for ", id.value));
}

absl::Status CompositeSolver::CanSolve(const identifiers::Identifier& id,
                                       const std::string& type) {
  return Pick(id, type).status();
}

absl::Status CompositeSolver::Present(const acme::ChallengeTask& task, absl::Time deadline) {
  ASSIGN_OR_RETURN(acme::ChallengeSolver * solver, Pick(task.identifier, task.type));
  {
    absl::MutexLock lock(&mu_);
    presented_[task.challenge_url] = solver;
  }
  return solver->Present(task, deadline);
}

void CompositeSolver::CleanUp(const acme::ChallengeTask& task) {
  acme::ChallengeSolver* solver = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = presented_.find(task.challenge_url);
    if (it != presented_.end()) {
      solver = it->second;
      presented_.erase(it);
    }
  }
  if (solver != nullptr) {
    solver->CleanUp(task);
    return;
  }
  for (acme::ChallengeSolver* s : solvers_) s->CleanUp(task);
}

}  // namespace certfleet::issuance
