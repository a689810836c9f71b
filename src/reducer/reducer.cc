#include "sqlsync/reducer.h"

namespace sqlsync {

Status Reducer::reduce_batch(Transaction& tx, MutationScope& scope, std::span<const ByteView> mutations,
                             std::span<Status> verdicts) {
  if (verdicts.size() != mutations.size()) {
    return Status::invalid_argument("reduce_batch: " + std::to_string(mutations.size()) + " mutations but " +
                                    std::to_string(verdicts.size()) + " verdict slots");
  }
  for (size_t i = 0; i < mutations.size(); ++i) {
    SQLSYNC_RETURN_IF_ERROR(scope.begin_mutation());
    verdicts[i] = reduce(tx, mutations[i]);
    SQLSYNC_RETURN_IF_ERROR(scope.end_mutation(verdicts[i].is_ok()));
  }
  return Status::ok();
}

Status Reducer::migrate(Transaction&, uint32_t from, uint32_t to) {
  return Status::unsupported("this reducer has no migration from schema version " + std::to_string(from) + " to " +
                             std::to_string(to));
}

}  // namespace sqlsync
