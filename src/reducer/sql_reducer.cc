#include "reducer/sql_reducer.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace sqlsync {
namespace {

using Json = nlohmann::json;

// One statement of a section, its named parameters rewritten to ?1, ?2, ...
struct Statement {
  std::string sql;
  // fields[i] is the JSON field bound to ?(i + 1).
  std::vector<std::string> fields;
  // The source line where the statement starts.
  size_t line = 0;
  // Set for the statement after `-- require <message>`: unless its first
  // column is a nonzero number, the mutation is rejected with the message.
  std::optional<std::string> requirement;
};

struct Section {
  size_t line = 0;  // of its directive
  std::vector<Statement> statements;
};

std::string at_line(size_t line) { return "line " + std::to_string(line) + ": "; }

Status parse_error(size_t line, const std::string& message) {
  return Status::invalid_argument("SQL reducer, " + at_line(line) + message);
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v'; }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_name_char(char c) { return is_letter(c) || (c >= '0' && c <= '9') || c == '_'; }
// Characters SQLite accepts inside an identifier or a number: a `$` there
// does not start a parameter.
bool is_word_char(char c) { return is_name_char(c) || c == '$' || static_cast<unsigned char>(c) >= 0x80; }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
  return a.size() == b.size() && sqlite3_strnicmp(a.data(), b.data(), static_cast<int>(a.size())) == 0;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

size_t count_lines(std::string_view text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

// Offset of the first character of `text` that is not whitespace, a comment
// or a semicolon; npos if there is none (an empty statement).
size_t first_sql(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    if (is_space(text[i]) || text[i] == ';') {
      ++i;
    } else if (text.substr(i, 2) == "--") {
      size_t end = text.find('\n', i);
      i = end == std::string_view::npos ? text.size() : end + 1;
    } else if (text.substr(i, 2) == "/*") {
      size_t end = text.find("*/", i + 2);
      i = end == std::string_view::npos ? text.size() : end + 2;
    } else {
      return i;
    }
  }
  return std::string_view::npos;
}

// The end of the quoted token that starts at text[start] (a string or quoted
// identifier closed by `close`; a doubled `close` stands for itself).
size_t skip_quoted(std::string_view text, size_t start, char close) {
  size_t i = start + 1;
  while (i < text.size()) {
    if (text[i] == close) {
      if (close != ']' && i + 1 < text.size() && text[i + 1] == close) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    ++i;
  }
  return text.size();
}

// Rewrites the `:field` parameters of one statement (`text`, starting at
// source line `line`) to ?1, ?2, ... in order of first use.
Result<Statement> compile_statement(std::string_view text, size_t line) {
  Statement statement;
  statement.line = line;
  statement.sql.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    size_t end = i + 1;
    if (c == '\'' || c == '"' || c == '`') {
      end = skip_quoted(text, i, c);
    } else if (c == '[') {
      end = skip_quoted(text, i, ']');
    } else if (text.substr(i, 2) == "--") {
      end = std::min(text.size(), text.find('\n', i));
    } else if (text.substr(i, 2) == "/*") {
      size_t close = text.find("*/", i + 2);
      end = close == std::string_view::npos ? text.size() : close + 2;
    } else if (is_word_char(c) && c != '$') {
      while (end < text.size() && is_word_char(text[end])) ++end;
    } else if (c == ':' && end < text.size() && (is_letter(text[end]) || text[end] == '_')) {
      while (end < text.size() && is_name_char(text[end])) ++end;
      std::string field(text.substr(i + 1, end - i - 1));
      auto known = std::find(statement.fields.begin(), statement.fields.end(), field);
      size_t index = static_cast<size_t>(known - statement.fields.begin());
      if (known == statement.fields.end()) statement.fields.push_back(std::move(field));
      statement.sql += "?" + std::to_string(index + 1);
      i = end;
      continue;
    } else if (c == '?' || c == '@' || c == '$' || c == ':') {
      while (end < text.size() && is_word_char(text[end])) ++end;
      return parse_error(line + count_lines(text.substr(0, i)),
                         "parameter \"" + std::string(text.substr(i, end - i)) +
                             "\" is not allowed: SQL reducers bind named parameters :field from the mutation");
    }
    statement.sql += text.substr(i, end - i);
    i = end;
  }
  return statement;
}

// The lines of a .sql reducer, parsed into sections. A directive is a line
// `-- migration N`, `-- mutation <Tag>` or `-- require <message>` (keyword in
// any case) outside a statement; statements end where sqlite3_complete() says
// they do.
class SourceParser {
 public:
  Status parse(std::string_view source);

  std::vector<Section>& migrations() { return migrations_; }
  std::map<std::string, Section, std::less<>>& mutations() { return mutations_; }

 private:
  enum class Keyword { kMigration, kMutation, kRequire };
  struct Directive {
    Keyword keyword;
    std::string_view argument;
  };

  static std::optional<Directive> directive(std::string_view line);
  Status start_section(const Directive& directive, size_t line);
  Status add_requirement(std::string_view message, size_t line);
  // Moves every complete statement out of pending_.
  Status take_statements();
  Status add_statement(std::string_view text, size_t line);
  // Checks that the current section ended cleanly.
  Status finish_section();

  std::vector<Section> migrations_;
  std::map<std::string, Section, std::less<>> mutations_;
  Section* section_ = nullptr;
  std::string section_name_;  // "migration 2", "mutation AddEntry"
  bool in_migration_ = false;
  // Source text since the last complete statement, and the line it starts on.
  std::string pending_;
  size_t pending_line_ = 1;
  // pending_ holds no complete statement ending before this offset.
  size_t scanned_ = 0;
  // A `-- require` still waiting for its statement: message and line.
  std::optional<std::pair<std::string, size_t>> requirement_;
};

std::optional<SourceParser::Directive> SourceParser::directive(std::string_view line) {
  line = trim(line);
  if (line.substr(0, 2) != "--") return std::nullopt;
  line.remove_prefix(2);
  while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
  size_t word_end = 0;
  while (word_end < line.size() && is_letter(line[word_end])) ++word_end;
  const std::string_view word = line.substr(0, word_end);
  Directive result{Keyword::kMigration, trim(line.substr(word_end))};
  if (equals_ignoring_case(word, "migration")) {
    result.keyword = Keyword::kMigration;
  } else if (equals_ignoring_case(word, "mutation")) {
    result.keyword = Keyword::kMutation;
  } else if (equals_ignoring_case(word, "require")) {
    result.keyword = Keyword::kRequire;
  } else {
    return std::nullopt;
  }
  // "-- mutations below" is a comment: the keyword must end the word.
  if (word_end < line.size() && !is_space(line[word_end])) return std::nullopt;
  return result;
}

Status SourceParser::parse(std::string_view source) {
  size_t line_number = 0;
  while (!source.empty()) {
    ++line_number;
    size_t newline = source.find('\n');
    std::string_view line = source.substr(0, newline);
    source.remove_prefix(newline == std::string_view::npos ? source.size() : newline + 1);
    if (line.find('\0') != std::string_view::npos) return parse_error(line_number, "NUL byte in the source");

    std::optional<Directive> found = directive(line);
    const size_t pending_sql = first_sql(pending_);
    if (found && pending_sql != std::string_view::npos) {
      return parse_error(line_number, "directive inside the statement that starts at line " +
                                          std::to_string(pending_line_ + count_lines(pending_.substr(0, pending_sql))) +
                                          "; is its ';' missing?");
    }
    if (found) {
      pending_.clear();
      scanned_ = 0;
      if (found->keyword == Keyword::kRequire) {
        SQLSYNC_RETURN_IF_ERROR(add_requirement(found->argument, line_number));
      } else {
        SQLSYNC_RETURN_IF_ERROR(start_section(*found, line_number));
      }
      continue;
    }
    if (pending_.empty()) pending_line_ = line_number;
    pending_ += line;
    pending_ += '\n';
    SQLSYNC_RETURN_IF_ERROR(take_statements());
  }
  SQLSYNC_RETURN_IF_ERROR(finish_section());
  if (migrations_.empty() && mutations_.empty()) {
    return Status::invalid_argument("SQL reducer: no '-- migration N' or '-- mutation <Tag>' section in the source");
  }
  return Status::ok();
}

Status SourceParser::take_statements() {
  // A prefix ending at a ';' stays incomplete whatever follows it, so each
  // ';' is tested once.
  size_t end = pending_.find(';', scanned_);
  while (end != std::string::npos) {
    std::string candidate = pending_.substr(0, end + 1);
    if (!sqlite3_complete(candidate.c_str())) {
      end = pending_.find(';', end + 1);
      continue;
    }
    const std::string_view text(candidate);
    const size_t start = first_sql(text);
    if (start != std::string_view::npos) {
      SQLSYNC_RETURN_IF_ERROR(add_statement(text.substr(start), pending_line_ + count_lines(text.substr(0, start))));
    }
    pending_line_ += count_lines(text);
    pending_.erase(0, end + 1);
    end = pending_.find(';');
  }
  scanned_ = pending_.size();
  return Status::ok();
}

Status SourceParser::add_statement(std::string_view text, size_t line) {
  if (section_ == nullptr) {
    return parse_error(line, "SQL before the first '-- migration N' or '-- mutation <Tag>' line");
  }
  SQLSYNC_ASSIGN_OR_RETURN(Statement statement, compile_statement(text, line));
  if (in_migration_ && !statement.fields.empty()) {
    return parse_error(line, section_name_ + " uses parameter :" + statement.fields.front() +
                                 ", but migrations have no mutation to bind it from");
  }
  if (requirement_) {
    size_t word_end = 0;
    while (word_end < text.size() && is_letter(text[word_end])) ++word_end;
    const std::string_view word = text.substr(0, word_end);
    if (!equals_ignoring_case(word, "select") && !equals_ignoring_case(word, "with") &&
        !equals_ignoring_case(word, "values")) {
      return parse_error(line, "the statement after '-- require' (line " + std::to_string(requirement_->second) +
                                   ") must be a query (SELECT, WITH or VALUES)");
    }
    statement.requirement = std::move(requirement_->first);
    requirement_.reset();
  }
  section_->statements.push_back(std::move(statement));
  return Status::ok();
}

Status SourceParser::add_requirement(std::string_view message, size_t line) {
  if (section_ == nullptr || in_migration_) {
    return parse_error(line, "'-- require' is only allowed inside a '-- mutation <Tag>' section");
  }
  if (requirement_) {
    return parse_error(
        line, "'-- require' at line " + std::to_string(requirement_->second) + " has no statement before this one");
  }
  if (message.empty()) return parse_error(line, "'-- require' needs a message: '-- require <message>'");
  requirement_.emplace(std::string(message), line);
  return Status::ok();
}

Status SourceParser::start_section(const Directive& directive, size_t line) {
  SQLSYNC_RETURN_IF_ERROR(finish_section());
  const std::string_view argument = directive.argument;
  if (directive.keyword == Keyword::kMigration) {
    const uint32_t expected = static_cast<uint32_t>(migrations_.size()) + 1;
    if (argument != std::to_string(expected)) {
      return parse_error(line, "expected '-- migration " + std::to_string(expected) + "', found '-- migration " +
                                   std::string(argument) + "': migrations are numbered 1, 2, ... in order");
    }
    migrations_.push_back(Section{line, {}});
    section_ = &migrations_.back();
    section_name_ = "migration " + std::to_string(expected);
    in_migration_ = true;
    return Status::ok();
  }
  const bool is_tag = !argument.empty() && (is_letter(argument.front()) || argument.front() == '_') &&
                      std::all_of(argument.begin(), argument.end(), is_name_char);
  if (!is_tag) {
    return parse_error(line, "'-- mutation " + std::string(argument) +
                                 "': a mutation tag is a letter or '_' followed by letters, digits or '_'");
  }
  auto [it, inserted] = mutations_.emplace(std::string(argument), Section{line, {}});
  if (!inserted) {
    return parse_error(
        line, "mutation " + std::string(argument) + " is already defined at line " + std::to_string(it->second.line));
  }
  section_ = &it->second;
  section_name_ = "mutation " + std::string(argument);
  in_migration_ = false;
  return Status::ok();
}

Status SourceParser::finish_section() {
  const size_t start = first_sql(pending_);
  if (start != std::string::npos) {
    return parse_error(pending_line_ + count_lines(std::string_view(pending_).substr(0, start)),
                       "statement is not terminated by ';'");
  }
  if (requirement_) {
    return parse_error(requirement_->second, "'-- require' must be followed by a query in the same section");
  }
  if (section_ != nullptr && section_->statements.empty()) {
    return parse_error(section_->line, section_name_ + " has no statements");
  }
  return Status::ok();
}

// nlohmann's dump() throws on invalid UTF-8 unless told to replace it, and the
// browser build has exceptions disabled.
std::string json_text(const Json& json) { return json.dump(-1, ' ', false, Json::error_handler_t::replace); }

class SqlReducer final : public Reducer {
 public:
  SqlReducer(std::vector<Section> migrations, std::map<std::string, Section, std::less<>> mutations)
      : migrations_(std::move(migrations)), mutations_(std::move(mutations)) {}

  Status reduce(Transaction& tx, ByteView mutation) override;
  uint32_t schema_version() const override { return static_cast<uint32_t>(migrations_.size()); }
  Status migrate(Transaction& tx, uint32_t from, uint32_t to) override;

 private:
  std::string known_tags() const;

  // migrations_[i] is migration i + 1.
  std::vector<Section> migrations_;
  std::map<std::string, Section, std::less<>> mutations_;
};

// The SQL value of a JSON field (see docs/sql-reducer.md for the mapping).
Result<Value> field_value(const Json& field, const std::string& tag, const std::string& name) {
  switch (field.type()) {
    case Json::value_t::null:
      return Value();
    case Json::value_t::boolean:
      return Value(int64_t{field.get<bool>() ? 1 : 0});
    case Json::value_t::number_integer:
      return Value(field.get<int64_t>());
    case Json::value_t::number_unsigned:
      if (field.get<uint64_t>() > uint64_t{std::numeric_limits<int64_t>::max()}) {
        return Status::rejected("mutation " + tag + ": field '" + name + "' is out of the 64-bit integer range");
      }
      return Value(static_cast<int64_t>(field.get<uint64_t>()));
    case Json::value_t::number_float:
      return Value(field.get<double>());
    case Json::value_t::string:
      return Value(field.get<std::string>());
    case Json::value_t::object:
    case Json::value_t::array:
      return Value(json_text(field));
    default:  // binary and discarded never come out of the parser
      return Status::rejected("mutation " + tag + ": field '" + name + "' has no SQL value (" + field.type_name() +
                              ")");
  }
}

// A requirement holds when the query's first column is a nonzero number.
bool requirement_holds(const QueryResult& result) {
  if (result.rows.empty() || result.rows.front().empty()) return false;
  const Value& value = result.rows.front().front();
  if (const auto* integer = std::get_if<int64_t>(&value)) return *integer != 0;
  if (const auto* real = std::get_if<double>(&value)) return *real != 0.0;
  return false;
}

Status SqlReducer::reduce(Transaction& tx, ByteView mutation) {
  const std::string_view text = as_text(mutation);
  const Json json = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Status::rejected("mutation is not valid JSON (" + std::to_string(text.size()) +
                            " bytes); expected {\"tag\": \"<Tag>\", ...fields}");
  }
  if (!json.is_object()) {
    return Status::rejected(std::string("mutation is a JSON ") + json.type_name() +
                            ", expected an object {\"tag\": \"<Tag>\", ...fields}");
  }
  auto tag_field = json.find("tag");
  if (tag_field == json.end() || !tag_field->is_string()) {
    return Status::rejected("mutation has no string field \"tag\" naming its kind; this reducer knows " + known_tags());
  }
  const std::string tag = tag_field->get<std::string>();
  auto section = mutations_.find(tag);
  if (section == mutations_.end()) {
    return Status::rejected("unknown mutation tag \"" + tag + "\"; this reducer knows " + known_tags());
  }

  std::vector<Value> params;
  for (const Statement& statement : section->second.statements) {
    params.clear();
    for (const std::string& name : statement.fields) {
      auto field = json.find(name);
      if (field == json.end()) {
        return Status::rejected("mutation " + tag + " needs field '" + name + "' (used at line " +
                                std::to_string(statement.line) + ")");
      }
      SQLSYNC_ASSIGN_OR_RETURN(Value value, field_value(*field, tag, name));
      params.push_back(std::move(value));
    }
    const std::string context = "mutation " + tag + ", statement at line " + std::to_string(statement.line);
    if (!statement.requirement) {
      Status status = tx.execute(statement.sql, params);
      if (!status.is_ok()) return status.with_context(context);
      continue;
    }
    Result<QueryResult> result = tx.query(statement.sql, params);
    if (!result.is_ok()) return result.status().with_context(context);
    if (!requirement_holds(*result)) {
      return Status::rejected("mutation " + tag + " rejected: " + *statement.requirement + " (requirement at line " +
                              std::to_string(statement.line) + ")");
    }
  }
  return Status::ok();
}

Status SqlReducer::migrate(Transaction& tx, uint32_t from, uint32_t to) {
  if (from >= to || to > migrations_.size()) {
    return Status::invalid_argument("cannot migrate from schema version " + std::to_string(from) + " to " +
                                    std::to_string(to) + ": this SQL reducer has migrations 1 to " +
                                    std::to_string(migrations_.size()));
  }
  for (uint32_t version = from + 1; version <= to; ++version) {
    for (const Statement& statement : migrations_[version - 1].statements) {
      Status status = tx.execute(statement.sql);
      if (!status.is_ok()) {
        return status.with_context("migration " + std::to_string(version) + ", statement at line " +
                                   std::to_string(statement.line));
      }
    }
  }
  return Status::ok();
}

std::string SqlReducer::known_tags() const {
  if (mutations_.empty()) return "no mutations";
  std::string tags;
  for (const auto& [tag, section] : mutations_) tags += (tags.empty() ? "" : ", ") + tag;
  return tags;
}

}  // namespace

Result<std::shared_ptr<Reducer>> load_sql_reducer(std::string_view source) {
  SourceParser parser;
  SQLSYNC_RETURN_IF_ERROR(parser.parse(source));
  return std::shared_ptr<Reducer>(
      std::make_shared<SqlReducer>(std::move(parser.migrations()), std::move(parser.mutations())));
}

}  // namespace sqlsync
