#include "bench_util.h"

#include <cstdlib>

namespace sqlsync::bench {

Status InsertReducer::reduce(Transaction& tx, ByteView mutation) {
  if (mutation.empty()) return tx.execute(kCreateItems);
  if (mutation.size() < 8) return Status::rejected("insert mutation shorter than 8 bytes");
  int64_t id = 0;
  for (int i = 0; i < 8; ++i) id |= static_cast<int64_t>(mutation[i]) << (8 * i);
  Value params[] = {id, std::string(as_text(mutation.subspan(8)))};
  return tx.execute(kInsertItem, params);
}

Bytes insert_mutation(int64_t id, std::string_view body) {
  Bytes out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(static_cast<uint64_t>(id) >> (8 * i));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

}  // namespace sqlsync::bench
