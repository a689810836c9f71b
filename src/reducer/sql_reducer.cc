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
  // slots[i] is where the reducer's MutationScanner keeps fields[i].
  std::vector<size_t> slots;
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

// One top-level field of a mutation, as its SQL value (see docs/sql-reducer.md
// for the mapping).
struct Field {
  enum class Kind {
    kAbsent,
    kValue,
    // An unsigned integer above the 64-bit signed range.
    kOutOfRange,
    // An object or array: bound as its JSON text, which needs the DOM.
    kNested,
  };
  Kind kind = Kind::kAbsent;
  Value value;
};

// Collects the tag of a mutation and the top-level fields some mutation
// section binds from SAX events, without building a DOM: events come from
// scan_flat() when the text allows, else from nlohmann's SAX parser, which
// never throws (a syntax error arrives in parse_error()). Kept across
// mutations so its strings keep their capacity.
class MutationScanner {
 public:
  // `names`: sorted, unique field names bound by any mutation section.
  explicit MutationScanner(std::vector<std::string> names) : names_(std::move(names)), fields_(names_.size()) {}

  // Index of `name` in the names given to the constructor (which must hold it).
  size_t slot(std::string_view name) const {
    return static_cast<size_t>(std::lower_bound(names_.begin(), names_.end(), name) - names_.begin());
  }

  // Parses `text`; false if it is not valid JSON. Invalidates the results of
  // the previous scan.
  bool scan(std::string_view text) {
    reset();
    if (scan_flat(text)) return true;
    reset();
    return Json::sax_parse(text.begin(), text.end(), this);
  }

  // Results of the last successful scan; a member repeated in the object
  // counts with its last value, as in nlohmann's DOM.
  // The JSON type name of the whole mutation ("object", "array", ...).
  const char* top_type() const { return top_type_; }
  // The last "tag" member, if it is a string.
  const std::string* tag() const { return has_tag_ ? &tag_ : nullptr; }
  const Field& field(size_t slot) const { return fields_[slot]; }

  // SAX events (nlohmann's json_sax interface).
  bool null() { return scalar(std::monostate(), "null"); }
  bool boolean(bool value) { return scalar(int64_t{value ? 1 : 0}, "boolean"); }
  bool number_integer(Json::number_integer_t value) { return scalar(int64_t{value}, "number"); }
  bool number_unsigned(Json::number_unsigned_t value) {
    if (value > uint64_t{std::numeric_limits<int64_t>::max()}) return other(Field::Kind::kOutOfRange, "number");
    return scalar(static_cast<int64_t>(value), "number");
  }
  bool number_float(Json::number_float_t value, const std::string&) { return scalar(value, "number"); }
  bool string(std::string& value) { return string_value(value); }
  bool binary(Json::binary_t&) { return true; }  // JSON text has no binary values
  bool start_object(size_t) { return start("object"); }
  bool start_array(size_t) { return start("array"); }
  bool end_object() { return end(); }
  bool end_array() { return end(); }
  bool key(std::string& name) { return member(name); }
  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  bool member(std::string_view name) {
    if (depth_ != 1) return true;
    member_is_tag_ = name == "tag";
    auto found = std::lower_bound(names_.begin(), names_.end(), name);
    member_ = found != names_.end() && *found == name ? &fields_[static_cast<size_t>(found - names_.begin())] : nullptr;
    return true;
  }

  void reset() {
    for (Field& field : fields_) field.kind = Field::Kind::kAbsent;
    depth_ = 0;
    top_type_ = nullptr;
    member_ = nullptr;
    member_is_tag_ = false;
    has_tag_ = false;
  }

  static bool is_json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

  // Delivers the events of `text` if it is in the subset of JSON most
  // mutations use, a flat object of printable ASCII strings without escapes,
  // integers of up to 18 digits, true, false and null: nlohmann's lexer, built
  // for all of JSON, is most of the cost of a mutation. Returns false, maybe
  // after some events, for anything else, valid JSON or not.
  bool scan_flat(std::string_view text) {
    size_t i = 0;
    auto next_is = [&](char c) {
      while (i < text.size() && is_json_space(text[i])) ++i;
      if (i == text.size() || text[i] != c) return false;
      ++i;
      return true;
    };
    // The contents of the string at i, or nullopt if it is not a plain one.
    auto read_string = [&]() -> std::optional<std::string_view> {
      if (!next_is('"')) return std::nullopt;
      const size_t start = i;
      while (i < text.size() && text[i] >= 0x20 && text[i] <= 0x7e && text[i] != '"' && text[i] != '\\') ++i;
      if (i == text.size() || text[i] != '"') return std::nullopt;
      return text.substr(start, i++ - start);
    };
    if (!next_is('{')) return false;
    start_object(0);
    if (!next_is('}')) {
      do {
        const std::optional<std::string_view> name = read_string();
        if (!name) return false;
        member(*name);
        if (!next_is(':')) return false;
        while (i < text.size() && is_json_space(text[i])) ++i;
        const std::string_view rest = text.substr(i);
        if (rest.substr(0, 1) == "\"") {
          const std::optional<std::string_view> value = read_string();
          if (!value) return false;
          string_value(*value);
        } else if (rest.substr(0, 4) == "true") {
          boolean(true);
          i += 4;
        } else if (rest.substr(0, 4) == "null") {
          null();
          i += 4;
        } else if (rest.substr(0, 5) == "false") {
          boolean(false);
          i += 5;
        } else {
          const bool negative = rest.substr(0, 1) == "-";
          const size_t digits = negative ? ++i : i;
          uint64_t magnitude = 0;
          while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            magnitude = magnitude * 10 + static_cast<uint64_t>(text[i++] - '0');
          }
          // Leading zeros are invalid JSON; more digits may leave int64_t.
          if (i == digits || i - digits > 18 || (text[digits] == '0' && i - digits > 1)) return false;
          const auto value = static_cast<int64_t>(magnitude);
          number_integer(negative ? -value : value);
        }
      } while (next_is(','));
      if (!next_is('}')) return false;
    }
    end_object();
    while (i < text.size() && is_json_space(text[i])) ++i;
    return i == text.size();
  }

  // A string value; assigned in place so the strings keep their capacity.
  bool string_value(std::string_view value) {
    if (depth_ == 0) top_type_ = "string";
    if (depth_ != 1) return true;
    if (member_is_tag_) {
      tag_.assign(value);
      has_tag_ = true;
    }
    if (member_ != nullptr) {
      member_->kind = Field::Kind::kValue;
      if (auto* held = std::get_if<std::string>(&member_->value)) {
        held->assign(value);
      } else {
        member_->value.emplace<std::string>(value);
      }
    }
    return true;
  }
  // Any other value bound as is; `type` is its JSON type name, kept if it is
  // the whole mutation.
  bool scalar(Value value, const char* type) {
    if (depth_ == 0) top_type_ = type;
    if (depth_ != 1) return true;
    if (member_is_tag_) has_tag_ = false;
    if (member_ != nullptr) {
      member_->kind = Field::Kind::kValue;
      member_->value = std::move(value);
    }
    return true;
  }
  // A value not bound as is: an out-of-range number or a container.
  bool other(Field::Kind kind, const char* type) {
    if (depth_ == 0) top_type_ = type;
    if (depth_ != 1) return true;
    if (member_is_tag_) has_tag_ = false;
    if (member_ != nullptr) member_->kind = kind;
    return true;
  }
  bool start(const char* type) {
    other(Field::Kind::kNested, type);
    ++depth_;
    return true;
  }
  bool end() {
    --depth_;
    return true;
  }

  std::vector<std::string> names_;
  std::vector<Field> fields_;  // fields_[i] holds member names_[i]
  size_t depth_ = 0;           // of the containers open around the next event
  const char* top_type_ = nullptr;
  Field* member_ = nullptr;  // where the value of the current member goes
  bool member_is_tag_ = false;
  std::string tag_;
  bool has_tag_ = false;
};

// The sorted, unique names of the fields `mutations` bind.
std::vector<std::string> bound_names(const std::map<std::string, Section, std::less<>>& mutations) {
  std::vector<std::string> names;
  for (const auto& [tag, section] : mutations) {
    for (const Statement& statement : section.statements) {
      names.insert(names.end(), statement.fields.begin(), statement.fields.end());
    }
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  return names;
}

std::string statement_context(const std::string& tag, const Statement& statement) {
  return "mutation " + tag + ", statement at line " + std::to_string(statement.line);
}

class SqlReducer final : public Reducer {
 public:
  SqlReducer(std::vector<Section> migrations, std::map<std::string, Section, std::less<>> mutations)
      : migrations_(std::move(migrations)), mutations_(std::move(mutations)), scanner_(bound_names(mutations_)) {
    for (auto& [tag, section] : mutations_) {
      for (Statement& statement : section.statements) {
        for (const std::string& name : statement.fields) statement.slots.push_back(scanner_.slot(name));
      }
    }
  }

  Status reduce(Transaction& tx, ByteView mutation) override;
  uint32_t schema_version() const override { return static_cast<uint32_t>(migrations_.size()); }
  Status migrate(Transaction& tx, uint32_t from, uint32_t to) override;

 private:
  std::string known_tags() const;

  // migrations_[i] is migration i + 1.
  std::vector<Section> migrations_;
  std::map<std::string, Section, std::less<>> mutations_;
  // Per-mutation scratch, kept so its allocations are reused.
  MutationScanner scanner_;
  std::vector<Value> params_;
};

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
  if (!scanner_.scan(text)) {
    return Status::rejected("mutation is not valid JSON (" + std::to_string(text.size()) +
                            " bytes); expected {\"tag\": \"<Tag>\", ...fields}");
  }
  if (std::string_view(scanner_.top_type()) != "object") {
    return Status::rejected(std::string("mutation is a JSON ") + scanner_.top_type() +
                            ", expected an object {\"tag\": \"<Tag>\", ...fields}");
  }
  const std::string* tag = scanner_.tag();
  if (tag == nullptr) {
    return Status::rejected("mutation has no string field \"tag\" naming its kind; this reducer knows " + known_tags());
  }
  auto section = mutations_.find(*tag);
  if (section == mutations_.end()) {
    return Status::rejected("unknown mutation tag \"" + *tag + "\"; this reducer knows " + known_tags());
  }

  // Only objects and arrays, bound as their JSON text, need the DOM.
  std::optional<Json> dom;
  for (const Statement& statement : section->second.statements) {
    params_.resize(statement.fields.size());
    for (size_t i = 0; i < statement.fields.size(); ++i) {
      const std::string& name = statement.fields[i];
      const Field& field = scanner_.field(statement.slots[i]);
      switch (field.kind) {
        case Field::Kind::kAbsent:
          return Status::rejected("mutation " + *tag + " needs field '" + name + "' (used at line " +
                                  std::to_string(statement.line) + ")");
        case Field::Kind::kOutOfRange:
          return Status::rejected("mutation " + *tag + ": field '" + name + "' is out of the 64-bit integer range");
        case Field::Kind::kNested:
          if (!dom) dom = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
          params_[i] = json_text(*dom->find(name));
          break;
        case Field::Kind::kValue:
          params_[i] = field.value;
          break;
      }
    }
    if (!statement.requirement) {
      Status status = tx.execute(statement.sql, params_);
      if (!status.is_ok()) return status.with_context(statement_context(*tag, statement));
      continue;
    }
    Result<QueryResult> result = tx.query(statement.sql, params_);
    if (!result.is_ok()) return result.status().with_context(statement_context(*tag, statement));
    if (!requirement_holds(*result)) {
      return Status::rejected("mutation " + *tag + " rejected: " + *statement.requirement + " (requirement at line " +
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
