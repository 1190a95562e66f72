#include "dump.h"

#include <QRegularExpression>

namespace Berth::Config {

using namespace Qt::StringLiterals;

namespace {

const QString Mask = u"********"_s;
constexpr qsizetype OriginColumn = 40;

QString withOrigin(const QString &text, const Location &location)
{
    QString line = text;
    line += QString(qMax<qsizetype>(1, OriginColumn - text.size()), u' ');
    return line + u"; "_s + location.toString();
}

bool isInclude(const QString &section, const QString &key)
{
    return key == u"additional_confs"_s && (section == u"berth"_s || section == u"brim"_s);
}

} // namespace

QString maskedValue(const Config &config, const QString &section, const QString &key,
                    const QString &value)
{
    if (value.isEmpty())
        return value;
    if (const KeySpec *spec = config.keySpec(section, key); spec && spec->secret)
        return Mask;
    // scheme://user:password@host -> scheme://user:********@host
    static const QRegularExpression userInfo(u"(\\b[A-Za-z][A-Za-z0-9+.-]*://[^:/@\\s]*:)"
                                             u"([^@/\\s]+)(@)"_s);
    QString masked = value;
    masked.replace(userInfo, u"\\1"_s + Mask + u"\\3"_s);
    return masked;
}

QString dumpConfig(const Config &config)
{
    QString out;
    out += u"# The merged configuration of %1\n"_s.arg(config.files().join(u", "_s));
    out += u"# (includes read, ${ENV} expanded, secrets masked; each line ends with its "
           u"origin)\n"_s;
    for (const QString &name : config.sectionNames()) {
        const Section *section = config.section(name);
        out += u'\n' + withOrigin(u'[' + name + u']', section->location) + u'\n';
        if (section->isRawLines()) {
            for (const RawLine &line : section->lines)
                out += withOrigin(
                           maskedValue(config, name, QString(), line.text).replace(u'$', u"$$"_s),
                           line.location) +
                       u'\n';
            continue;
        }
        for (const Entry &entry : section->entries) {
            if (section->find(entry.key) != &entry)
                continue; // overridden by a later line: only the value in force is shown
            const QString value = maskedValue(config, name, entry.key, entry.value);
            QString text = entry.key + u" = "_s + QString(value).replace(u'$', u"$$"_s);
            if (isInclude(name, entry.key))
                text = u"# "_s + text + u" (read: their sections are merged here)"_s;
            out += withOrigin(text, entry.location) + u'\n';
        }
    }
    return out;
}

} // namespace Berth::Config
