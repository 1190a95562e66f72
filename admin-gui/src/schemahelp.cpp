#include "schemahelp.h"

#include "config/schema.h"

namespace Berth::Console::SchemaHelp {

using namespace Qt::StringLiterals;
using Config::Schema;

QStringList sections()
{
    QStringList names;
    for (const Config::SectionSpec &s : Schema::builtin().sections())
        names.append(s.isPattern() ? s.pattern.chopped(1) : s.pattern);
    names.removeDuplicates();
    names.sort();
    return names;
}

QStringList keys(const QString &section, const QString &call)
{
    const Config::SectionSpec *spec = Schema::builtin().findSection(section);
    if (!spec)
        return {};
    QStringList names;
    for (const Config::KeySpec &k : spec->keys)
        names.append(k.name);
    if (!call.isEmpty()) {
        for (const Config::KeySpec &k : Schema::builtin().appKeys(call))
            names.append(k.name);
    }
    names.removeDuplicates();
    names.sort();
    return names;
}

QString help(const QString &section, const QString &key)
{
    const Config::SectionSpec *spec = Schema::builtin().findSection(section);
    if (!spec)
        return {};
    if (key.isEmpty())
        return spec->description;
    const Config::KeySpec *k = spec->findKey(key);
    if (!k)
        return {};
    QString text = u"%1 (%2"_s.arg(k->name, Config::valueTypeName(k->type));
    if (!k->defaultValue.isEmpty())
        text += u", default %1"_s.arg(k->defaultValue);
    return text + u"): "_s + k->description;
}

} // namespace Berth::Console::SchemaHelp
