#pragma once

#include "config.h"

#include <QSet>

namespace Berth::Config {

// Reads configuration files into a Config: the INI dialect (sections, `key = value`, comments,
// raw-line sections, ${ENV} expansion) and the additional_confs includes. Every problem becomes
// a diagnostic on the Config; parsing always goes on so one run reports everything.
class ConfigParser
{
public:
    explicit ConfigParser(Config &config, Config::Includes includes = Config::Includes::Follow);

    // Reads one top-level file (and, depth first, whatever it includes).
    void loadFile(const QString &fileName);
    // Parses text as the contents of fileName, then follows its includes.
    void loadText(const QString &text, const QString &fileName);

    // Files whose text is given rather than read (Config::load with texts).
    void setTexts(const QHash<QString, QString> &texts);

    // Files larger than this are refused rather than read (protects against `-c /dev/zero`).
    static constexpr qint64 MaxFileBytes = 16 * 1024 * 1024;

private:
    struct Frame
    {
        QString displayName;
        QString canonicalPath;
    };

    void readFile(const QString &fileName, const Location &includedFrom);
    // Parses one file's text into the config and returns the additional_confs entries it set
    // (the effective one per section, in file order).
    QList<Entry> parse(const QString &text, const QString &fileName);
    void followIncludes(const QList<Entry> &includes, const QString &fileName,
                        const QString &canonicalPath);

    QString stripInlineComment(const QString &text) const;
    QString expandEnvironment(const QString &text, const Location &location);
    void error(const Location &location, const QString &message);

    Config &m_config;
    Config::Includes m_includes;
    QList<Frame> m_stack; // the chain of files being read, for cycle detection
    QSet<QString> m_readPaths;
    QHash<QString, QString> m_texts; // by path as given and by canonical path // canonical paths
                                     // already read; a second include is skipped
};

} // namespace Berth::Config
