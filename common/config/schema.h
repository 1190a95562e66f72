#pragma once

#include <QList>
#include <QString>
#include <QStringList>

#include <optional>

namespace Berth::Config {

enum class ValueType { String, Int, Float, Bool, Size, Duration, List, Path, Mode };

// "string", "integer", "number", "boolean", "size", "duration", "list", "path", "octal mode".
QString valueTypeName(ValueType type);

// One key a section accepts. The description is user documentation: the configuration reference
// (docs/configuration.md) is generated from it.
struct KeySpec
{
    QString name;
    ValueType type = ValueType::String;
    QString defaultValue; // as the user would write it; empty = no default (unset)
    QString description;  // one sentence, user-facing
    bool required = false;
    bool secret = false; // masked wherever the configuration is shown (check -T, berth.debug)
    std::optional<qint64> minimum; // Int only
    std::optional<qint64> maximum; // Int only

    // A name ending in '*' ("call_*") is a family of keys: every key with that prefix and
    // something after it, each of this type (berth.compose's `call_users`, `call_orders`).
    bool isPattern() const { return name.endsWith(u'*'); }
    bool matches(const QString &key) const
    {
        if (!isPattern())
            return key == name;
        return key.size() >= name.size() && key.startsWith(QStringView(name).chopped(1));
    }
};

// A built-in app, selected in an [app:NAME] section with `call = berth.echo`.
struct AppSpec
{
    QString call;
    QString description;
    QList<KeySpec> keys; // in addition to the keys every app section accepts
};

// A section: an exact name ("server") or a prefix pattern ending in '*' ("app:*", "@*").
struct SectionSpec
{
    QString pattern;
    QString description;
    QList<KeySpec> keys;
    bool rawLines = false; // [name:line] sections hold lines, not keys
    // Sections that select an app with `call` besides [app:*] ([tcp:*], [udp:*]): the apps it
    // may call, whose keys it accepts in addition to `keys` (`plugin:NAME` accepts any key).
    QList<AppSpec> apps;

    bool isPattern() const { return pattern.endsWith(u'*'); }
    bool matches(const QString &sectionName) const;
    const KeySpec *findKey(const QString &key) const;
};

// Every section, key and built-in app berthd knows, with defaults and descriptions.
class Schema
{
public:
    Schema() = default;
    // The schema of this version of berthd.
    static const Schema &builtin();

    // A secret String key (`secret`, `password`, `passphrase`) gets a Path key `KEY_file` beside
    // it, unless the section declares one: Config::getSecret reads either.
    void addSection(const SectionSpec &section);
    void addApp(const AppSpec &app) { m_apps.append(app); }

    // An exact match wins over a pattern; nullptr for an unknown section.
    const SectionSpec *findSection(const QString &name) const;
    const QList<SectionSpec> &sections() const { return m_sections; }

    // The keys an [app:*] section with this call accepts: the common keys plus the app's own.
    // Only the common keys for plugin:...; empty for an unknown call.
    QList<KeySpec> appKeys(const QString &call) const;
    // An app's own key (not one every app has); nullptr for an unknown call or key.
    const KeySpec *findAppKey(const QString &call, const QString &key) const;
    QStringList builtinApps() const;
    bool isKnownApp(const QString &call) const;        // a built-in (not plugin:...)
    const AppSpec *findApp(const QString &call) const; // nullptr for an unknown call
    const QList<AppSpec> &apps() const { return m_apps; }

    // The configuration reference in Markdown, generated from the descriptions.
    QString toMarkdown() const;

private:
    QList<SectionSpec> m_sections;
    QList<AppSpec> m_apps;
};

} // namespace Berth::Config
