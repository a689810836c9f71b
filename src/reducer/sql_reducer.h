// SQL reducers: a reducer written as a .sql file of numbered migrations and
// named mutations whose statements bind the mutation's JSON fields by name.
// The format is specified in docs/sql-reducer.md.
#pragma once

#include <memory>
#include <string_view>

#include "sqlsync/reducer.h"
#include "sqlsync/status.h"

namespace sqlsync {

// Parses `source` (the text of a .sql reducer; not retained) into a reducer.
// Statements are checked for structure only (termination, parameters,
// sections), not prepared: the schema they need exists only once migrations
// ran. InvalidArgument with the line number if the source is malformed.
//
// The reducer it returns accepts mutations that are JSON objects
// {"tag": "<Tag>", ...fields}; it runs the statements of section
// `-- mutation <Tag>` in order with `:field` bound from the fields. It
// rejects (Rejected) malformed JSON, a non-object, an unknown tag, a missing
// or unbindable field and a failed `-- require`; a failing statement returns
// that statement's error with the mutation and line as context.
// schema_version() is the highest migration number; migrate(from, to) runs
// migrations from+1 .. to in order. The reducer holds no reference to the
// database between calls.
Result<std::shared_ptr<Reducer>> load_sql_reducer(std::string_view source);

}  // namespace sqlsync
