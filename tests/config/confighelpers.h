#pragma once

// Helpers shared by the tests/config tests (header-only: each test is one executable).

#include "config/config.h"
#include "config/schema.h"

#include <QByteArray>
#include <QDir>
#include <QFile>
#include <QFileInfo>

namespace ConfigTest {

inline QStringList messages(const Berth::Config::Diagnostics &diagnostics)
{
    QStringList lines;
    for (const Berth::Config::Diagnostic &d : diagnostics)
        lines.append(d.toString());
    return lines;
}

inline Berth::Config::KeySpec keySpec(const QString &name, Berth::Config::ValueType type,
                                      const QString &defaultValue)
{
    Berth::Config::KeySpec k;
    k.name = name;
    k.type = type;
    k.defaultValue = defaultValue;
    return k;
}

// A schema whose section [s] has these keys (the getter tests read [s]).
inline Berth::Config::Schema testSchema(const QList<Berth::Config::KeySpec> &keys)
{
    Berth::Config::SectionSpec section;
    section.pattern = QStringLiteral("s");
    section.keys = keys;
    Berth::Config::Schema schema;
    schema.addSection(section);
    return schema;
}

inline QString writeFile(const QString &path, const QString &text)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Truncate))
        qFatal("cannot write %s", qPrintable(path));
    file.write(text.toUtf8());
    return path;
}

// Sets an environment variable for the lifetime of the object and restores it afterwards.
class EnvironmentOverride
{
public:
    EnvironmentOverride(const char *name, const QByteArray &value)
        : m_name(name)
        , m_wasSet(qEnvironmentVariableIsSet(name))
        , m_old(qgetenv(name))
    {
        qputenv(name, value);
    }
    Q_DISABLE_COPY_MOVE(EnvironmentOverride)
    ~EnvironmentOverride()
    {
        if (m_wasSet)
            qputenv(m_name, m_old);
        else
            qunsetenv(m_name);
    }

private:
    const char *m_name;
    bool m_wasSet;
    QByteArray m_old;
};

} // namespace ConfigTest
