#include "validator.h"

#include <QHash>
#include <QSet>

#include <algorithm>
#include <vector>

namespace Berth::Config {

using namespace Qt::StringLiterals;

namespace {

const QString AppPattern = u"app:*"_s;
const QString PluginPrefix = u"plugin:"_s;

// The words the getters use, so `berthd check` and a failing getter say the same thing.
std::optional<QString> typeProblem(ValueType type, const QString &value)
{
    switch (type) {
    case ValueType::Int:
        return Values::parseInt(value) ? std::nullopt : std::optional(u"an integer"_s);
    case ValueType::Float:
        return Values::parseFloat(value) ? std::nullopt : std::optional(u"a number"_s);
    case ValueType::Bool:
        return Values::parseBool(value) ? std::nullopt : std::optional(u"a boolean"_s);
    case ValueType::Size:
        return Values::parseSize(value) ? std::nullopt : std::optional(u"a size"_s);
    case ValueType::Duration:
        return Values::parseDuration(value) ? std::nullopt : std::optional(u"a duration"_s);
    case ValueType::Mode:
        return Values::parseMode(value) ? std::nullopt : std::optional(u"an octal mode"_s);
    case ValueType::String:
    case ValueType::List:
    case ValueType::Path:
        break;
    }
    return std::nullopt;
}

class Validator
{
public:
    Validator(const Config &config, const Schema &schema)
        : m_config(config)
        , m_schema(schema)
    {}

    Diagnostics run();

private:
    void checkSection(const Section &section);
    void checkApp(const Section &section);
    void checkCalledSection(const Section &section, const SectionSpec &spec);
    void checkKeys(const Section &section, const QList<KeySpec> &keys, bool acceptUnknown);
    void checkValue(const Section &section, const Entry &entry, const KeySpec &spec);
    QString suggestSection(const QString &name) const;

    void warning(const Location &location, const QString &message)
    {
        m_found.append(Diagnostic{Diagnostic::Severity::Warning, location, message});
    }
    void error(const Location &location, const QString &message)
    {
        m_found.append(Diagnostic{Diagnostic::Severity::Error, location, message});
    }

    const Config &m_config;
    const Schema &m_schema;
    Diagnostics m_found;
};

Diagnostics Validator::run()
{
    m_found = m_config.diagnostics();
    for (const QString &name : m_config.sectionNames()) {
        if (const Section *section = m_config.section(name))
            checkSection(*section);
    }

    // A getter that already reported a bad value says exactly what the schema check says.
    Diagnostics unique;
    QSet<QString> seen;
    for (const Diagnostic &d : std::as_const(m_found)) {
        const QString identity = d.toString();
        if (!seen.contains(identity)) {
            seen.insert(identity);
            unique.append(d);
        }
    }

    // File order is read order; problems with files never read (a missing -c file) come first.
    QHash<QString, qsizetype> fileRank;
    const QStringList files = m_config.files();
    for (qsizetype i = 0; i < files.size(); ++i)
        fileRank.insert(files.at(i), i);
    unique = sortedByRank(unique,
                          [&](const Diagnostic &d) { return fileRank.value(d.location.file, -1); });
    return unique;
}

void Validator::checkSection(const Section &section)
{
    const SectionSpec *spec = m_schema.findSection(section.name);
    if (!spec) {
        QString message = u"unknown section [%1]"_s.arg(section.name);
        const QString suggestion = suggestSection(section.name);
        if (!suggestion.isEmpty())
            message += u" (did you mean [%1]?)"_s.arg(suggestion);
        warning(section.location, message);
        return;
    }
    if (spec->rawLines)
        return; // route syntax is checked where routes are built
    if (spec->pattern == AppPattern) {
        checkApp(section);
        return;
    }
    if (!spec->apps.isEmpty()) {
        checkCalledSection(section, *spec);
        return;
    }
    checkKeys(section, spec->keys, false);
}

void Validator::checkCalledSection(const Section &section, const SectionSpec &spec)
{
    const Entry *call = section.find(u"call"_s);
    if (!call || call->value.isEmpty()) {
        checkKeys(section, spec.keys, true); // reports "call: missing"
        return;
    }
    const QString &name = call->value;
    if (name.startsWith(PluginPrefix)) {
        if (name.size() == PluginPrefix.size())
            error(call->location, u"[%1] call: 'plugin:' names no plugin"_s.arg(section.name));
        checkKeys(section, spec.keys, true);
        return;
    }
    QStringList calls;
    for (const AppSpec &app : spec.apps) {
        if (app.call == name) {
            checkKeys(section, spec.keys + app.keys, false);
            return;
        }
        calls.append(app.call);
    }
    QString message = u"[%1] call: unknown app '%2'"_s.arg(section.name, name);
    const QString suggestion = didYouMean(name, calls);
    message += suggestion.isEmpty() ? u" (apps for this section: %1)"_s.arg(calls.join(u", "_s))
                                    : u" (did you mean '%1'?)"_s.arg(suggestion);
    error(call->location, message);
    checkKeys(section, spec.keys, true);
}

void Validator::checkApp(const Section &section)
{
    const SectionSpec *common = m_schema.findSection(section.name);
    const Entry *call = section.find(u"call"_s);
    if (!call || call->value.isEmpty()) {
        checkKeys(section, common->keys, true); // reports "call: missing"
        return;
    }
    const QString &name = call->value;
    if (name.startsWith(PluginPrefix)) {
        // A plugin's keys are the plugin's business; only the common ones are checked.
        if (name.size() == PluginPrefix.size())
            error(call->location, u"[%1] call: 'plugin:' names no plugin"_s.arg(section.name));
        checkKeys(section, common->keys, true);
        return;
    }
    if (m_schema.isKnownApp(name)) {
        checkKeys(section, m_schema.appKeys(name), false);
        return;
    }
    QString message = u"[%1] call: unknown app '%2'"_s.arg(section.name, name);
    QString suggestion = didYouMean(name, m_schema.builtinApps());
    if (suggestion.isEmpty() && m_schema.isKnownApp(u"berth."_s + name))
        suggestion = u"berth."_s + name; // `call = echo`
    if (!suggestion.isEmpty())
        message += u" (did you mean '%1'?)"_s.arg(suggestion);
    else if (name.startsWith(u"berth."_s))
        message += u" (built-in apps: %1)"_s.arg(m_schema.builtinApps().join(u", "_s));
    error(call->location, message);
    checkKeys(section, common->keys, true);
}

void Validator::checkKeys(const Section &section, const QList<KeySpec> &keys, bool acceptUnknown)
{
    QStringList known;
    for (const KeySpec &k : keys)
        known.append(k.name);

    QSet<QString> seen;
    for (const Entry &first : section.entries) {
        if (seen.contains(first.key))
            continue;
        seen.insert(first.key);
        const Entry &entry = *section.find(first.key); // the effective value
        const auto spec = std::find_if(keys.cbegin(), keys.cend(),
                                       [&](const KeySpec &k) { return k.matches(entry.key); });
        if (spec != keys.cend()) {
            checkValue(section, entry, *spec);
            continue;
        }
        if (acceptUnknown)
            continue;
        QString message = u"[%1] unknown key '%2'"_s.arg(section.name, entry.key);
        const QString suggestion = didYouMean(entry.key, known);
        if (!suggestion.isEmpty())
            message += u" (did you mean '%1'?)"_s.arg(suggestion);
        warning(entry.location, message);
    }

    for (const KeySpec &k : keys) {
        const Entry *entry = section.find(k.name);
        if (k.required && (!entry || entry->value.isEmpty()))
            error(section.location, u"[%1] %2: missing"_s.arg(section.name, k.name));
    }
}

void Validator::checkValue(const Section &section, const Entry &entry, const KeySpec &spec)
{
    if (entry.value.isEmpty())
        return; // "key =" means unset, the getters return the default
    if (const std::optional<QString> expected = typeProblem(spec.type, entry.value)) {
        error(entry.location,
              u"[%1] %2: '%3' is not %4"_s.arg(section.name, entry.key, entry.value, *expected));
        return;
    }
    if (spec.type != ValueType::Int || (!spec.minimum && !spec.maximum))
        return;
    const qint64 value = *Values::parseInt(entry.value);
    if (spec.minimum && spec.maximum && (value < *spec.minimum || value > *spec.maximum)) {
        error(entry.location, u"[%1] %2: '%3' is out of range (%4 to %5)"_s
                                  .arg(section.name, entry.key, entry.value)
                                  .arg(*spec.minimum)
                                  .arg(*spec.maximum));
    } else if (spec.minimum && !spec.maximum && value < *spec.minimum) {
        error(entry.location, u"[%1] %2: '%3' is out of range (at least %4)"_s
                                  .arg(section.name, entry.key, entry.value)
                                  .arg(*spec.minimum));
    } else if (spec.maximum && !spec.minimum && value > *spec.maximum) {
        error(entry.location, u"[%1] %2: '%3' is out of range (at most %4)"_s
                                  .arg(section.name, entry.key, entry.value)
                                  .arg(*spec.maximum));
    }
}

QString Validator::suggestSection(const QString &name) const
{
    QStringList candidates;
    const qsizetype colon = name.indexOf(u':');
    for (const SectionSpec &s : m_schema.sections()) {
        if (!s.isPattern()) {
            candidates.append(s.pattern);
            // [routes] for [routes:line], [app] for [app:NAME]
            if (s.rawLines && s.pattern == name + u":line"_s)
                return s.pattern;
            continue;
        }
        const QString prefix = s.pattern.chopped(1);
        if (prefix == name + u':')
            return prefix + u"NAME"_s;
        // [ap:echo] -> [app:echo]: compare with the pattern's prefix and the user's own suffix.
        if (colon >= 0 && prefix.endsWith(u':'))
            candidates.append(prefix + name.mid(colon + 1));
    }
    return didYouMean(name, candidates);
}

} // namespace

Diagnostics validate(const Config &config, const Schema &schema)
{
    return Validator(config, schema).run();
}

int editDistance(const QString &a, const QString &b)
{
    const size_t n = size_t(a.size());
    const size_t m = size_t(b.size());
    std::vector<int> previous(m + 1);
    std::vector<int> current(m + 1);
    for (size_t j = 0; j <= m; ++j)
        previous[j] = int(j);
    for (size_t i = 1; i <= n; ++i) {
        current[0] = int(i);
        for (size_t j = 1; j <= m; ++j) {
            const int substitution =
                previous[j - 1] + (a.at(qsizetype(i - 1)) == b.at(qsizetype(j - 1)) ? 0 : 1);
            current[j] = std::min({previous[j] + 1, current[j - 1] + 1, substitution});
        }
        std::swap(previous, current);
    }
    return previous[m];
}

QString didYouMean(const QString &word, const QStringList &candidates)
{
    constexpr int MaxDistance = 2;
    QString best;
    int bestDistance = MaxDistance + 1;
    for (const QString &candidate : candidates) {
        // Cheap rejection first: the fuzzer feeds keys thousands of characters long.
        if (std::abs(candidate.size() - word.size()) > MaxDistance || candidate == word)
            continue;
        const int distance = editDistance(word, candidate);
        // "id" is 1 away from "ip", but a one-letter key is 1 away from everything short.
        if (distance < bestDistance && distance < word.size()) {
            best = candidate;
            bestDistance = distance;
        }
    }
    return best;
}

} // namespace Berth::Config
