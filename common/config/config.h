#pragma once

#include "diagnostic.h"
#include "schema.h"

#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

#include <chrono>
#include <optional>

namespace Berth::Config {

// One `key = value` line, after `${ENV}` expansion and inline-comment stripping.
struct Entry
{
    QString key;   // lower-cased, trimmed
    QString value; // trimmed, environment expanded
    Location location;
};

// One line of a raw-line section such as [routes:line] or [crontab:line]
// (comments and blank lines dropped, the rest kept verbatim but trimmed).
struct RawLine
{
    QString text;
    Location location;
};

struct Section
{
    QString name;         // as written, lower-cased: "server", "app:echo", "routes:line", "@users"
    Location location;    // the first header line seen for it
    QList<Entry> entries; // in file order; a later entry for the same key overrides an earlier one
    QList<RawLine> lines; // only for raw-line sections (name ends in ":line")

    bool isRawLines() const { return name.endsWith(QLatin1String(":line")); }
    // The effective (last) entry for a key, or nullptr.
    const Entry *find(const QString &key) const;
};

// The parsed configuration: every file given with -c, merged in order, plus the files they
// include through `[berth] additional_confs` (or brim's `[brim] additional_confs`).
//
// Typed getters take their defaults from the schema, the one place defaults live (the generated
// reference, docs/configuration.md, shows the same ones): a missing key yields the key's
// KeySpec::defaultValue converted like a written value, or the type's empty value (0, false, "")
// when the schema names no default. They never throw: a value that does not convert records an
// error diagnostic naming file:line, section, key and value (brim's Conf.error hook, collected
// instead of exiting) and the default is returned, so one run reports every bad value at once.
class Config
{
public:
    Config() = default;

    // Reads and merges the files. Problems reading or parsing them (missing file, unreadable
    // include, include cycle, syntax error, undefined ${VAR}) are recorded in diagnostics().
    static Config load(const QStringList &files);
    // The same, but a file named in texts (by the path it is read under, or its canonical path)
    // is parsed from that text instead of read: what a proposed edit would give (admin API).
    static Config load(const QStringList &files, const QHash<QString, QString> &texts);
    // Parses text as if it were a file with the given name (tests, the admin console editor).
    static Config fromText(const QString &text, const QString &fileName = QStringLiteral("<text>"));
    // Whether fromText reads the files named by additional_confs (relative to fileName's
    // directory). The fuzzer and editors of unsaved text turn it off.
    enum class Includes { Follow, Ignore };
    static Config fromText(const QString &text, const QString &fileName, Includes includes);

    QStringList files() const;        // every file read, includes too, in read order
    QStringList sectionNames() const; // in first-seen order
    bool hasSection(const QString &section) const;
    const Section *section(const QString &section) const;
    // Sections whose name starts with prefix ("app:" -> app:echo, app:stats ...), in order.
    QList<const Section *> sectionsWithPrefix(const QString &prefix) const;

    bool has(const QString &section, const QString &key) const;
    Location location(const QString &section, const QString &key) const;

    // The schema the getters take defaults from: Schema::builtin() unless set (tests). The
    // schema must outlive the Config and its copies.
    void setSchema(const Schema *schema) { m_schema = schema; }
    const Schema &schema() const;
    // The schema's description of a key: for [app:NAME] the keys of its `call` (and those every
    // app has). nullptr for a key the schema does not know.
    const KeySpec *keySpec(const QString &section, const QString &key) const;
    // Present with a non-empty value. For every type but string, list and path an empty value
    // ("port =") means "not set", so has() alone does not say whether the default applies.
    bool isSet(const QString &section, const QString &key) const;

    QString getString(const QString &section, const QString &key) const;
    qint64 getInt(const QString &section, const QString &key) const;
    double getFloat(const QString &section, const QString &key) const;
    bool getBool(const QString &section, const QString &key) const;
    // "64K", "10M", "1G", "512" (bytes; K/M/G/T are powers of 1024; optional trailing B).
    qint64 getSize(const QString &section, const QString &key) const;
    // "30s", "5m", "250ms", "1h", "2d", "1h30m"; a bare number is seconds.
    std::chrono::milliseconds getDuration(const QString &section, const QString &key) const;
    // Comma and/or whitespace separated; double quotes keep spaces ("b c.conf").
    QStringList getList(const QString &section, const QString &key) const;
    // ~ and ~user expanded; a relative path is resolved against the directory of the file the
    // key was read from (a relative default against the first file's directory).
    QString getPath(const QString &section, const QString &key) const;

    // A secret (session secret, TLS passphrase, SMTP password): the value of `key`, or what the
    // file named by `key_file` holds (one trailing line break dropped), so the secret can stay
    // out of the configuration. A relative `key_file` is looked up in $CREDENTIALS_DIRECTORY
    // when that is set (systemd LoadCredential=), else resolved as getPath does. Both keys set,
    // or a file that can't be read, record an error at the `key_file` line and return "".
    QString getSecret(const QString &section, const QString &key) const;
    // "secret" -> "secret_file": the key getSecret reads a secret's file name from.
    static QString secretFileKey(const QString &key);

    // A default written at the call site would drift from the schema and from the reference
    // users read (it did: `workers` was 0 in code and 1 in the docs). Those forms are deleted,
    // so such a read does not compile; tst_config checks they stay deleted.
    template <typename Default>
    QString getString(const QString &, const QString &, const Default &) const = delete;
    template <typename Default>
    qint64 getInt(const QString &, const QString &, const Default &) const = delete;
    template <typename Default>
    double getFloat(const QString &, const QString &, const Default &) const = delete;
    template <typename Default>
    bool getBool(const QString &, const QString &, const Default &) const = delete;
    template <typename Default>
    qint64 getSize(const QString &, const QString &, const Default &) const = delete;
    template <typename Default>
    std::chrono::milliseconds getDuration(const QString &, const QString &,
                                          const Default &) const = delete;
    template <typename Default>
    QStringList getList(const QString &, const QString &, const Default &) const = delete;
    template <typename Default>
    QString getPath(const QString &, const QString &, const Default &) const = delete;

    // Everything found so far: load problems plus conversion errors from getters.
    const Diagnostics &diagnostics() const { return m_diagnostics; }
    // Lets later stages (schema validation, route building) report against this config.
    void addDiagnostic(const Diagnostic &diagnostic) const { m_diagnostics.append(diagnostic); }

    // brim's value lists for booleans (compared case-insensitively).
    static const QStringList &trueValues();  // true, 1, yes, on, t, y
    static const QStringList &falseValues(); // false, 0, no, off, f, n

private:
    friend class ConfigParser;
    friend class Snapshot; // snapshot.h: rebuilds a Config from its serialized form
    QStringList m_files;
    QStringList m_order;
    QHash<QString, Section> m_sections;
    mutable Diagnostics m_diagnostics;
    const Schema *m_schema = nullptr; // nullptr: Schema::builtin()
};

// Stand-alone value parsers, shared by the getters, the schema validator and the admin console.
namespace Values {
std::optional<qint64> parseInt(const QString &text);
std::optional<double> parseFloat(const QString &text);
std::optional<bool> parseBool(const QString &text);
std::optional<qint64> parseSize(const QString &text);
std::optional<std::chrono::milliseconds> parseDuration(const QString &text);
// "022", "0027", "7": an octal file mode of at most 0777.
std::optional<int> parseMode(const QString &text);
QStringList parseList(const QString &text);
QString expandUser(const QString &path);
} // namespace Values

} // namespace Berth::Config
